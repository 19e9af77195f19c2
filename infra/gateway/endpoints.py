"""The runtime model of one webhook endpoint, as the gateway receives it (no secret values).

`webhooks/<slug>.yaml` declares one endpoint (`infra/declarations/webhooks.py` adds the
name of the Pulumi config key that holds its secret); the Pulumi program hands the gateway
the endpoints as JSON (`config.ENDPOINTS_ENV`) and each secret in its own variable.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""Lower-case letters, digits and inner dashes; the URL is `/hooks/<slug>`."""

AuthKind = Literal["hmac-sha256", "bearer"]

DEFAULT_HEADERS: dict[str, str] = {"hmac-sha256": "X-Hub-Signature-256", "bearer": "Authorization"}
DEFAULT_PREFIXES: dict[str, str] = {"hmac-sha256": "sha256=", "bearer": "Bearer "}


class GatewayModel(BaseModel):
    """Base of the gateway's models: unknown fields are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(GatewayModel):
    """How a caller proves it holds the endpoint's secret."""

    kind: AuthKind = Field(
        description=(
            "hmac-sha256: the header holds an HMAC-SHA256 of the raw request body keyed with "
            "the secret (GitHub's X-Hub-Signature-256); bearer: the header holds the secret "
            "itself as a token."
        )
    )
    header: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^[A-Za-z0-9-]+$",
        description=(
            "The request header to read (case-insensitive). Default: X-Hub-Signature-256 for "
            "hmac-sha256, Authorization for bearer."
        ),
    )
    prefix: str | None = Field(
        default=None,
        description=(
            "Text before the signature or token in the header. Default: 'sha256=' for "
            "hmac-sha256 (GitHub's format), 'Bearer ' for bearer. '' for none."
        ),
    )
    encoding: Literal["hex", "base64"] = Field(
        default="hex", description="hmac-sha256 only: how the signature is written."
    )

    @property
    def header_name(self) -> str:
        """The header to read, with the kind's default filled in."""
        return self.header or DEFAULT_HEADERS[self.kind]

    @property
    def value_prefix(self) -> str:
        """The prefix, with the kind's default filled in."""
        return DEFAULT_PREFIXES[self.kind] if self.prefix is None else self.prefix


class Limits(GatewayModel):
    """What one endpoint accepts: body size, request rate, template time."""

    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        le=26_214_400,
        description=(
            "Largest request body accepted (bytes); larger is 413. GitHub sends at most 25 MB."
        ),
    )
    requests_per_minute: int = Field(
        default=600, ge=1, description="Sustained requests per minute; more is 429."
    )
    burst: int = Field(
        default=60, ge=1, description="Requests accepted at once above the sustained rate."
    )
    template_seconds: float = Field(
        default=1.0, gt=0, le=30, description="Most time the template may take to render; then 400."
    )


class Endpoint(GatewayModel):
    """One webhook endpoint: its URL slug, how callers authenticate, how requests become events."""

    slug: str = Field(
        pattern=SLUG_PATTERN,
        description="The endpoint's URL is /hooks/<slug>: lower-case letters, digits, dashes.",
    )
    description: str | None = Field(default=None, description="Free text for people.")
    auth: Auth = Field(description="How callers authenticate.")
    template: str = Field(
        min_length=1,
        description=(
            "Jinja template (sandboxed) rendering one event or a JSON list of them: "
            "{event, resource, related, payload[, id, occurred]}. Variables: body (parsed JSON "
            "or form, else text), raw_body, headers (lower-case names), query, method, slug."
        ),
    )
    limits: Limits = Field(default_factory=Limits, description="Body size, rate, template time.")
