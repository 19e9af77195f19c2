"""The `external` target: a Prefect server (and object store) that already exist; no resources."""

from __future__ import annotations

import pulumi

from infra.config import NAMESPACE, PlatformConfig
from infra.platform_types import Platform, S3Access


def build(config: PlatformConfig) -> Platform:
    """Describe the existing server from `apiUrl`, `authString` and `externalObjectStore`."""
    settings = pulumi.Config(NAMESPACE)
    api_url = (config.api_url or "").rstrip("/")
    ui_url = api_url.removesuffix("/api")
    s3 = None
    if config.external_object_store is not None:
        s3 = S3Access(
            endpoint_url=pulumi.Output.from_input(config.external_object_store.endpoint_url),
            access_key=settings.require_secret("s3AccessKey"),
            secret_key=settings.require_secret("s3SecretKey"),
            buckets=list(config.external_object_store.buckets),
        )
    return Platform(
        api_url=pulumi.Output.from_input(api_url),
        ui_url=pulumi.Output.from_input(ui_url),
        auth_string=settings.get_secret("authString"),
        s3=s3,
        worker_pools=[],
        open_ui_command=f"python3 -m webbrowser {ui_url}",
    )
