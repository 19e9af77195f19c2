"""Typed stack configuration for the `prefect-platform` Pulumi program.

Every key of a `Pulumi.<stack>.yaml` in the `prefect-platform:` namespace is validated here,
before the program declares a resource: an unknown key or target, a pool type with no worker
on the target, a malformed image tag or a missing secret raises `ConfigError` naming the key
(`prefect-platform:workers[1].type`). Secrets (`databaseUrl`, `authString`, `s3AccessKey`,
`s3SecretKey`) are not in the model, only whether they are set (`pulumi.Config.require_secret`).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.backup.settings import BackupConfig
from infra.components.dask_cluster import DaskConfig
from infra.components.server_values import incoherence
from infra.components.task_worker import TaskWorkerConfig
from infra.components.versions import FLOWS_IMAGE

NAMESPACE = "prefect-platform"
"""The Pulumi config namespace (the project name in `Pulumi.yaml`)."""

SECRET_KEYS = ("databaseUrl", "authString", "s3AccessKey", "s3SecretKey")
"""Config keys that must be set with `pulumi config set --secret`."""

OTHER_STEP_KEYS = frozenset({"overrides", "githubToken"})
"""Keys read by other steps of the program, not validated here: the declarations' `overrides`,
the secret `githubToken` (the `github-token` Secret block; set by .github/workflows/preview.yml)."""

WORKER_TYPES: dict[str, tuple[str, ...]] = {
    "kubernetes": ("kubernetes",),
    "docker": ("process", "docker"),
    "external": (),
}
"""Work pool types this kit runs a worker for, per target."""

_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_FLOATING_TAGS = {"latest", "3-latest", "main", "nightly"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
_POOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# An image reference with its registry and path, a tag and/or a sha256 digest.
_IMAGE_REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


class ConfigError(ValueError):
    """A stack configuration value is wrong; the message names the `prefect-platform:` key."""


def _pinned_tag(value: str) -> str:
    if not _IMAGE_TAG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
        )
    if value in _FLOATING_TAGS:
        raise ValueError(f"{value!r} is a floating tag; pin an exact version")
    return value


def _pinned_image(value: str) -> str:
    match = _IMAGE_REFERENCE.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an image reference (registry/path:tag[@sha256:...])")
    if match["digest"] is None:
        if match["tag"] is None:
            raise ValueError(f"{value!r} has neither a tag nor a digest; pin one")
        _pinned_tag(match["tag"])
    return value


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class ServerConfig(_Model):
    """The Prefect server (Kubernetes target): replicas, database, exposure."""

    database: Literal["bundled", "external"] = Field(
        default="bundled",
        description="`bundled`: the chart's PostgreSQL (throwaway stacks); `external`: a database "
        "whose URL is the secret `prefect-platform:databaseUrl`.",
    )
    replicas: int = Field(default=1, ge=1, le=20, description="API server replicas.")
    separate_background_services: bool = Field(
        default=False, description="Run background services as their own deployment."
    )
    redis: bool = Field(
        default=False,
        description="Deploy Redis for messaging and Docket (needs separateBackgroundServices).",
    )
    node_port: int | None = Field(
        default=None,
        ge=30000,
        le=32767,
        description="Expose the API as this NodePort (kind maps it to 127.0.0.1 only).",
    )
    ingress_host: str | None = Field(
        default=None, description="Host name of an Ingress for the UI/API (none by default)."
    )
    ingress_class_name: str = Field(default="", description="IngressClass of that Ingress.")
    ingress_tls_secret: str | None = Field(
        default=None, pattern=_DNS_NAME, description="Existing TLS Secret the Ingress serves."
    )
    ingress_cluster_issuer: str | None = Field(
        default=None, pattern=_DNS_NAME, description="cert-manager ClusterIssuer of its cert."
    )
    public_url: str = Field(
        default="http://127.0.0.1:4200",
        description="URL users open in a browser (the UI calls `<publicUrl>/api`).",
    )

    @model_validator(mode="after")
    def _coherent(self) -> ServerConfig:
        problem = incoherence(
            **self.model_dump(
                include={"replicas", "separate_background_services", "redis", "public_url"}
                | {"ingress_host", "ingress_tls_secret", "ingress_cluster_issuer"}
            )
        )
        if problem is not None:
            raise KeyedError(f"server.{problem[0]}", problem[1])
        return self


class WorkerConfig(_Model):
    """A worker for one work pool declared in `pools/`."""

    pool: str = Field(description="Work pool name (as declared in `pools/*.yaml`).")
    type: str = Field(description="Work pool type: `kubernetes`, `process` or `docker`.")
    replicas: int = Field(default=1, ge=1, le=10, description="Worker replicas.")

    @field_validator("pool")
    @classmethod
    def _pool_name(cls, value: str) -> str:
        if not _POOL_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid work pool name")
        return value


class ObjectStoreConfig(_Model):
    """The S3-compatible object store the stack runs."""

    kind: Literal["minio", "seaweedfs"] = Field(default="minio", description="Server software.")
    image_tag: str | None = Field(default=None, description="Override the pinned image tag.")
    buckets: list[str] = Field(
        default_factory=lambda: ["prefect-results"],
        description="Buckets the stack creates; the first is the results bucket.",
    )
    storage_size: str = Field(default="5Gi", description="Volume size (Kubernetes target).")
    node_port: int | None = Field(default=None, ge=30000, le=32767, description="S3 NodePort.")

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        return None if value is None else _pinned_tag(value)

    @field_validator("buckets")
    @classmethod
    def _bucket_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one bucket (the results bucket) is required")
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
                raise ValueError(f"{name!r} is not a valid S3 bucket name")
        if len(set(value)) != len(value):
            raise ValueError("bucket names must be unique")
        return value


class DockerConfig(_Model):
    """Docker host target: where published ports listen."""

    bind_address: str = Field(
        default="127.0.0.1", description="Host address published ports bind to (loopback)."
    )
    server_port: int = Field(default=4200, ge=1, le=65535, description="Host port of the API/UI.")
    s3_port: int = Field(default=9000, ge=1, le=65535, description="Host port of the S3 API.")
    gateway_port: int = Field(default=8480, ge=1, le=65535, description="Host port of the gateway.")


class ExternalObjectStoreConfig(_Model):
    """An existing S3 endpoint used with the `external` target."""

    endpoint_url: str = Field(description="S3 endpoint URL as seen from flow runs.")
    buckets: list[str] = Field(description="Existing buckets; the first is the results bucket.")


class PlatformConfig(_Model):
    """The whole `prefect-platform:` configuration of one stack."""

    target: Literal["kubernetes", "docker", "external"] = Field(
        description="Where the platform runs; `external` reuses an existing server."
    )
    namespace: str = Field(default="prefect", description="Kubernetes namespace.")
    prefect_image_tag: str = Field(
        default="3.9.1-python3.11",
        description="Tag of `prefecthq/prefect` for the server and Kubernetes workers.",
    )
    flows_image: str = Field(
        default=FLOWS_IMAGE,
        description="Where this stack's nodes pull the flows image from (e.g. the GHCR reference "
        "`deploy.yml` pushes); replaces `FLOWS_IMAGE` wherever pools and deployments name it.",
    )
    helm_values_overlay: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Overlay in `helm-values/<chart>/` (default: the stack name); a file name "
        "without `.yaml`, never a path.",
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="Prefect server.")
    workers: list[WorkerConfig] = Field(default_factory=list, description="One per pool.")
    object_store: ObjectStoreConfig = Field(
        default_factory=ObjectStoreConfig, description="Object store."
    )
    auth_rotation: str = Field(
        default="1",
        max_length=63,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Change it to generate a new admin password (and restart server and workers).",
    )
    protect_data: bool = Field(
        default=False, description="`protect` stateful resources (prod): destroy refuses."
    )
    docker: DockerConfig = Field(default_factory=DockerConfig, description="Docker target.")
    backup: BackupConfig = Field(default_factory=BackupConfig, description="Database backups.")
    dask: DaskConfig = Field(default_factory=DaskConfig, description="Dask cluster (Kubernetes).")
    task_workers: list[TaskWorkerConfig] = Field(default_factory=list, description="Task workers.")
    api_url: str | None = Field(default=None, description="Server API URL (`external` only).")
    external_object_store: ExternalObjectStoreConfig | None = Field(
        default=None, description="Existing S3 endpoint (`external` only)."
    )
    secrets_set: frozenset[str] = Field(
        default_factory=frozenset, description="Which secret keys are set (filled by the loader)."
    )

    @field_validator("prefect_image_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return _pinned_tag(value)

    @field_validator("flows_image")
    @classmethod
    def _image(cls, value: str) -> str:
        return _pinned_image(value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS_LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid Kubernetes namespace (RFC 1123 label)")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> PlatformConfig:
        supported = WORKER_TYPES[self.target]
        seen: set[str] = set()
        for index, worker in enumerate(self.workers):
            if worker.type not in supported:
                raise KeyedError(
                    f"workers[{index}].type",
                    f"work pool {worker.pool!r} has type {worker.type!r}, which has no worker on "
                    f"target {self.target!r} (supported: {', '.join(supported) or 'none'})",
                )
            if worker.pool in seen:
                raise KeyedError(f"workers[{index}].pool", f"duplicate pool {worker.pool!r}")
            seen.add(worker.pool)
        if self.target == "external":
            if not self.api_url:
                raise KeyedError("apiUrl", "required when target is 'external'")
        elif self.api_url is not None:
            raise KeyedError("apiUrl", "only used with target 'external'")
        if self.server.database == "external" and "databaseUrl" not in self.secrets_set:
            raise KeyedError(
                "databaseUrl",
                "server.database is 'external': set it with `pulumi config set --secret "
                "prefect-platform:databaseUrl postgresql+asyncpg://...`",
            )
        if self.external_object_store is not None:
            missing = {"s3AccessKey", "s3SecretKey"} - self.secrets_set
            if missing:
                raise KeyedError(sorted(missing)[0], "required with externalObjectStore (secret)")
        return self


class KeyedError(ValueError):
    """A cross-field error that knows which config key it is about."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
