"""Reading a stack's `prefect-platform:` config from the Pulumi runtime into a `PlatformConfig`.

`load_config()` is what the program calls; `parse_config()` validates plain values (tests and
`prefect-platform validate --stack-config` use it). Errors name the key (`ConfigError`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from infra.config import (
    NAMESPACE,
    OTHER_STEP_KEYS,
    SECRET_KEYS,
    ConfigError,
    KeyedError,
    PlatformConfig,
)


def parse_config(values: Mapping[str, Any], secrets_set: set[str] | None = None) -> PlatformConfig:
    """Validate a stack's config (keys without the namespace) into a `PlatformConfig`.

    Args:
        values: Non-secret config keys, e.g. `{"target": "kubernetes", "workers": [...]}`.
        secrets_set: Names of the secret keys that are set (their values are never read here).

    Returns:
        The validated configuration.

    Raises:
        ConfigError: naming the first wrong key, e.g. `prefect-platform:workers[0].type: ...`.
    """
    secrets = set(secrets_set or ())
    values = {key: value for key, value in values.items() if key not in OTHER_STEP_KEYS}
    misplaced = [key for key in values if key in SECRET_KEYS]
    if misplaced:
        raise ConfigError(
            f"{NAMESPACE}:{misplaced[0]}: must be a secret (`pulumi config set --secret`), "
            "not a plain value"
        )
    try:
        return PlatformConfig.model_validate({**values, "secrets_set": frozenset(secrets)})
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, KeyedError):
            lines.append(f"{NAMESPACE}:{cause.key}: {cause.message}")
            continue
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling against docs/operations.md)"
        lines.append(f"{NAMESPACE}:{path or '<root>'}: {message}")
    return "; ".join(lines)


def load_config(declared_secrets: Iterable[str] = ()) -> PlatformConfig:
    """Read and validate the current stack's `prefect-platform:` config from the Pulumi runtime.

    Keys other steps read (`OTHER_STEP_KEYS`) are skipped, and so are `declared_secrets`, the
    keys declarations take secrets from (`blocks/`), which must be secrets; every other
    unknown key is an error.
    """
    from pulumi.runtime import config as runtime_config

    prefix = f"{NAMESPACE}:"
    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_env = set(runtime_config.get_config_secret_keys_env())
    skipped = OTHER_STEP_KEYS
    declared = set(declared_secrets)
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full_key in sorted(raw):
        if not full_key.startswith(prefix):
            continue
        key = full_key.removeprefix(prefix)
        if key in skipped:
            continue
        if key in SECRET_KEYS or key in declared:
            if full_key not in secret_env and not runtime_config.is_config_secret(full_key):
                raise ConfigError(
                    f"{full_key}: must be a secret (`pulumi config set --secret {full_key} ...`), "
                    "not a plain value"
                )
            if key in SECRET_KEYS:
                secrets.add(key)
            continue
        values[key] = _decode(runtime_config.get_config(full_key))
    return parse_config(values, secrets)


def _decode(value: Any) -> Any:
    """Pulumi passes structured values as JSON strings; scalars as strings."""
    if not isinstance(value, str) or not (value[:1] in "{[" or value in ("true", "false")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
