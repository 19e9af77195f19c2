"""PrefectServer: the prefect-server Helm chart with basic auth and a database secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.versions import (
    HELM_REPOSITORY,
    PREFECT_IMAGE,
    PREFECT_SERVER_CHART_VERSION,
)
from infra.merging import deep_merge

RELEASE_NAME = "prefect-server"
"""Helm release name (also the chart's fullname: Services are `prefect-server`, `-postgresql`)."""

AUTH_SECRET_NAME = "prefect-server-auth"
"""Kubernetes Secret holding `auth-string` (`admin:<generated password>`)."""

DATABASE_SECRET_NAME = "prefect-server-database"
"""Kubernetes Secret holding `connection-string` (and `password` for the bundled PostgreSQL)."""

REDIS_SECRET_NAME = "prefect-server-redis"
"""Kubernetes Secret holding `redis-password` when Redis is on."""


@dataclass(frozen=True)
class PrefectServerArgs:
    """Inputs of `PrefectServer`; defaults are the secure, single-replica choice."""

    namespace: str
    """Namespace to install into (must exist)."""
    image_tag: str
    """Tag of `prefecthq/prefect`, e.g. `3.9.1-python3.11`."""
    public_url: str
    """URL a browser (and the Pulumi process) reaches the server on, without `/api`."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Base values merged with the stack overlay (no secrets)."""
    database: Literal["bundled", "external"] = "bundled"
    """`bundled`: the chart's PostgreSQL; `external`: `database_url`."""
    database_url: pulumi.Input[str] | None = None
    """Secret SQLAlchemy URL of the external database (`postgresql+asyncpg://...`)."""
    replicas: int = 1
    """API server replicas."""
    separate_background_services: bool = False
    """Run background services as their own deployment."""
    redis: bool = False
    """Deploy the chart's Redis for messaging (required for several replicas)."""
    node_port: int | None = None
    """Expose the service as this NodePort instead of ClusterIP."""
    ingress_host: str | None = None
    """Create an Ingress for this host."""
    ingress_class_name: str = ""
    """IngressClass of that Ingress."""
    auth_rotation: str = "1"
    """Changing it generates a new admin password and restarts the server pods."""
    chart_version: str = PREFECT_SERVER_CHART_VERSION
    """Pinned prefect-server chart version."""


class PrefectServer(pulumi.ComponentResource):
    """A Prefect server on Kubernetes, basic auth on, its password generated and kept secret."""

    api_url: pulumi.Output[str]
    internal_api_url: pulumi.Output[str]
    ui_url: pulumi.Output[str]
    auth_string: pulumi.Output[str]
    auth_secret_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: PrefectServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if args.database == "external" and args.database_url is None:
            raise ValueError(f"{name}: database 'external' needs database_url")
        if args.replicas > 1 and not args.redis:
            raise ValueError(f"{name}: several replicas need redis for messaging")
        super().__init__("prefect-platform:kubernetes:PrefectServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        password = random.RandomPassword(
            f"{name}-admin-password",
            length=32,
            special=False,
            keepers={"rotation": args.auth_rotation},
            opts=child,
        )
        self.auth_string = pulumi.Output.secret(pulumi.Output.concat("admin:", password.result))
        secrets = [
            self._secret(name, "auth", AUTH_SECRET_NAME, args, {"auth-string": self.auth_string}),
            self._database_secret(name, args),
        ]
        if args.redis:
            redis_password = random.RandomPassword(
                f"{name}-redis-password", length=32, special=False, opts=child
            )
            secrets.append(
                self._secret(
                    name,
                    "redis",
                    REDIS_SECRET_NAME,
                    args,
                    {"redis-password": redis_password.result},
                )
            )
        release = k8s.helm.v3.Release(
            f"{name}-release",
            k8s.helm.v3.ReleaseArgs(
                name=RELEASE_NAME,
                chart="prefect-server",
                version=args.chart_version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=HELM_REPOSITORY),
                namespace=args.namespace,
                values=server_values(args),
                timeout=900,
                max_history=5,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=secrets),
        )
        public = args.public_url.rstrip("/")
        self.api_url = release.status.apply(lambda _: f"{public}/api")
        self.ui_url = release.status.apply(lambda _: public)
        self.internal_api_url = release.status.apply(
            lambda _: f"http://{RELEASE_NAME}.{args.namespace}.svc.cluster.local:4200/api"
        )
        self.auth_secret_name = secrets[0].metadata.apply(lambda m: m.name or AUTH_SECRET_NAME)
        self.register_outputs(
            {
                "api_url": self.api_url,
                "internal_api_url": self.internal_api_url,
                "ui_url": self.ui_url,
                "auth_string": self.auth_string,
                "auth_secret_name": self.auth_secret_name,
            }
        )

    def _secret(
        self,
        name: str,
        role: str,
        secret_name: str,
        args: PrefectServerArgs,
        data: Mapping[str, pulumi.Input[str]],
    ) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{name}-{role}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=secret_name, namespace=args.namespace),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _database_secret(self, name: str, args: PrefectServerArgs) -> k8s.core.v1.Secret:
        if args.database == "external":
            assert args.database_url is not None
            return self._secret(
                name,
                "database",
                DATABASE_SECRET_NAME,
                args,
                {"connection-string": args.database_url},
            )
        password = random.RandomPassword(
            f"{name}-db-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        host = f"{RELEASE_NAME}-postgresql.{args.namespace}.svc.cluster.local"
        url = pulumi.Output.concat(
            "postgresql+asyncpg://prefect:", password.result, f"@{host}:5432/server"
        )
        return self._secret(
            name,
            "database",
            DATABASE_SECRET_NAME,
            args,
            {"password": password.result, "connection-string": url},
        )


ROTATION_ANNOTATION = "prefect-platform/auth-rotation"
"""Pod annotation carrying `authRotation`: a new value rolls the pods onto the new password."""


def server_values(args: PrefectServerArgs) -> dict[str, Any]:
    """The chart values: the given base/overlay plus what the program owns (no secret values)."""
    rotation = {ROTATION_ANNOTATION: args.auth_rotation}
    owned: dict[str, Any] = {
        "fullnameOverride": RELEASE_NAME,
        "global": {
            "prefect": {"image": {"repository": PREFECT_IMAGE, "prefectTag": args.image_tag}}
        },
        "server": {
            "replicaCount": args.replicas,
            "basicAuth": {"enabled": True, "authString": "", "existingSecret": AUTH_SECRET_NAME},
            "uiConfig": {"prefectUiApiUrl": f"{args.public_url.rstrip('/')}/api"},
            "podAnnotations": rotation,
        },
        "backgroundServices": {
            "runAsSeparateDeployment": args.separate_background_services,
            "podAnnotations": rotation,
        },
        "secret": {"create": False, "name": DATABASE_SECRET_NAME},
        "service": {"type": "NodePort" if args.node_port else "ClusterIP"},
        "postgresql": {"enabled": args.database == "bundled"},
        "redis": {"enabled": args.redis},
    }
    if args.node_port:
        owned["service"]["nodePort"] = str(args.node_port)
    if args.database == "bundled":
        owned["postgresql"] = {
            "enabled": True,
            "auth": {
                "enablePostgresUser": False,
                "database": "server",
                "username": "prefect",
                "password": "",
                "existingSecret": DATABASE_SECRET_NAME,
                "secretKeys": {"userPasswordKey": "password"},
            },
            "primary": {"persistence": {"enabled": True}},
        }
    if args.redis:
        owned["redis"] = {
            "enabled": True,
            "auth": {
                "enabled": True,
                "existingSecret": REDIS_SECRET_NAME,
                "existingSecretPasswordKey": "redis-password",
            },
        }
        owned["backgroundServices"]["messaging"] = {
            "broker": "prefect_redis.messaging",
            "cache": "prefect_redis.messaging",
            "redis": {
                "host": f"{RELEASE_NAME}-redis-master.{args.namespace}.svc.cluster.local",
                "port": 6379,
                "existingSecret": REDIS_SECRET_NAME,
                "existingSecretPasswordKey": "redis-password",
            },
        }
    if args.ingress_host:
        owned["ingress"] = {
            "enabled": True,
            "className": args.ingress_class_name,
            "host": {"hostname": args.ingress_host, "path": "/", "pathType": "Prefix"},
            "tls": True,
        }
    merged: dict[str, Any] = deep_merge(args.values, owned)
    return merged
