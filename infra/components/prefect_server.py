"""PrefectServer: the prefect-server Helm chart with basic auth and a database secret."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra.components.server_values import (
    AUTH_SECRET_NAME,
    DATABASE_SECRET_NAME,
    DOCKET_URL_KEY,
    REDIS_SECRET_NAME,
    RELEASE_NAME,
    PrefectServerArgs,
    incoherence,
    redis_host,
    server_values,
)
from infra.components.versions import HELM_REPOSITORY

__all__ = ["PrefectServer", "PrefectServerArgs"]


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
        problem = incoherence(
            replicas=args.replicas,
            separate_background_services=args.separate_background_services,
            redis=args.redis,
            ingress_host=args.ingress_host,
            ingress_tls_secret=args.ingress_tls_secret,
            ingress_cluster_issuer=args.ingress_cluster_issuer,
            public_url=args.public_url,
        )
        if problem is not None:
            raise ValueError(f"{name}: server.{problem[0]}: {problem[1]}")
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
            docket_url = pulumi.Output.concat(
                "redis://:", redis_password.result, f"@{redis_host(args.namespace)}:6379/0"
            )
            secrets.append(
                self._secret(
                    name,
                    "redis",
                    REDIS_SECRET_NAME,
                    args,
                    {"redis-password": redis_password.result, DOCKET_URL_KEY: docket_url},
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
