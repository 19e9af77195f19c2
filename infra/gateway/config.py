"""The gateway's settings, from its environment: endpoints, their secrets, the Prefect API.

`ENDPOINTS_ENV` holds a JSON list of `Endpoint` dumps (no secrets); each endpoint's secret
(HMAC key or bearer token) is in `secret_env_name(slug)`; the Prefect server is reached at
`PREFECT_API_URL` with `PREFECT_API_AUTH_STRING` (`user:password`, basic auth), as every
Prefect client of the platform is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr, TypeAdapter, ValidationError

from infra.gateway.endpoints import Endpoint

ENDPOINTS_ENV = "PLATFORM_WEBHOOKS"
"""A JSON list of `Endpoint` dumps (`Endpoint.model_dump(mode="json")`)."""
API_URL_ENV = "PREFECT_API_URL"
AUTH_STRING_ENV = "PREFECT_API_AUTH_STRING"
PORT = 8080
"""The port the image listens on."""
HEALTH_PATH = "/health"
"""GET: 200 while the gateway serves (liveness and readiness probes)."""
HOOKS_PREFIX = "/hooks/"
"""Callers POST to `/hooks/<slug>`."""


class ConfigError(ValueError):
    """The gateway's environment is incomplete or wrong; the message names the variable."""


def secret_env_name(slug: str) -> str:
    """The variable holding an endpoint's secret: `PLATFORM_WEBHOOK_SECRET_GITHUB_PUSH`."""
    return "PLATFORM_WEBHOOK_SECRET_" + slug.upper().replace("-", "_")


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway needs, validated."""

    api_url: str
    endpoints: dict[str, Endpoint]
    secrets: dict[str, SecretStr] = field(repr=False)
    auth_string: SecretStr | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        """Read the settings from the environment (default: this process's).

        Raises:
            ConfigError: a variable is missing or malformed (named; no value is shown).
        """
        env = os.environ if environ is None else environ
        api_url = env.get(API_URL_ENV, "").rstrip("/")
        if not api_url:
            raise ConfigError(f"{API_URL_ENV} is not set (the Prefect server's API URL)")
        try:
            endpoints = TypeAdapter(list[Endpoint]).validate_python(
                json.loads(env.get(ENDPOINTS_ENV, "[]"))
            )
        except (ValueError, ValidationError) as error:
            raise ConfigError(f"{ENDPOINTS_ENV}: not a JSON list of endpoints: {error}") from None
        slugs = [endpoint.slug for endpoint in endpoints]
        duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if duplicates:
            raise ConfigError(f"{ENDPOINTS_ENV}: slug declared twice: {', '.join(duplicates)}")
        secrets: dict[str, SecretStr] = {}
        for slug in slugs:
            value = env.get(secret_env_name(slug), "")
            if not value:
                raise ConfigError(
                    f"{secret_env_name(slug)} is not set (the secret of /hooks/{slug})"
                )
            secrets[slug] = SecretStr(value)
        auth = env.get(AUTH_STRING_ENV)
        return cls(
            api_url=api_url,
            endpoints={endpoint.slug: endpoint for endpoint in endpoints},
            secrets=secrets,
            auth_string=SecretStr(auth) if auth else None,
        )


def endpoints_env(endpoints: list[Endpoint]) -> str:
    """The value of `ENDPOINTS_ENV` for these endpoints."""
    return json.dumps([endpoint.model_dump(mode="json") for endpoint in endpoints])
