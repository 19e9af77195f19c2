"""The prefect-server chart's values: names the chart fixes, coherence rules, the values document.

`PrefectServer` (prefect_server.py) installs the chart with `server_values(args)`; the stack
config (`infra/config.py`) refuses incoherent server settings with `incoherence` before anything
is declared, so both apply the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from infra.components.versions import PREFECT_IMAGE, PREFECT_SERVER_CHART_VERSION
from infra.merging import deep_merge

RELEASE_NAME = "prefect-server"
"""Helm release name (also the chart's fullname: Services are `prefect-server`, `-postgresql`)."""

AUTH_SECRET_NAME = "prefect-server-auth"
"""Kubernetes Secret holding `auth-string` (`admin:<generated password>`)."""

DATABASE_SECRET_NAME = "prefect-server-database"
"""Kubernetes Secret holding `connection-string` (and `password` for the bundled PostgreSQL)."""

REDIS_SECRET_NAME = f"{RELEASE_NAME}-redis"
"""Kubernetes Secret holding `redis-password` (and the Docket URL `docket-url`) when Redis is on.

The name is not ours to choose: with the Redis subchart enabled, prefect-server's
`backgroundServices.envVars` helper (templates/_helpers.tpl) reads
`PREFECT_REDIS_MESSAGING_PASSWORD` from the Secret named `common.names.fullname` of the subchart,
`<release>-redis`, key `redis-password`, ignoring
`backgroundServices.messaging.redis.existingSecret`. The subchart renders no Secret of its own
because `redis.auth.existingSecret` names this one.
"""

REDIS_HOST_SUFFIX = "-redis-master"
"""The Redis subchart's master Service is `<release>-redis-master` (standalone architecture)."""

DOCKET_URL_KEY = "docket-url"
"""Key of the Docket URL (`redis://:<password>@<host>:6379/0`) in the Redis Secret."""


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
    """Deploy the chart's Redis for messaging and Docket (with separate background services)."""
    node_port: int | None = None
    """Expose the service as this NodePort instead of ClusterIP."""
    ingress_host: str | None = None
    """Create an Ingress for this host."""
    ingress_class_name: str = ""
    """IngressClass of that Ingress."""
    ingress_tls_secret: str | None = None
    """Existing TLS Secret the Ingress serves (in `namespace`)."""
    ingress_cluster_issuer: str | None = None
    """cert-manager ClusterIssuer that issues the Ingress certificate into `<host>-tls`."""
    auth_rotation: str = "1"
    """Changing it generates a new admin password and restarts the server pods."""
    chart_version: str = PREFECT_SERVER_CHART_VERSION
    """Pinned prefect-server chart version."""


def incoherence(
    *,
    replicas: int,
    separate_background_services: bool,
    redis: bool,
    ingress_host: str | None,
    ingress_tls_secret: str | None,
    ingress_cluster_issuer: str | None,
    public_url: str,
) -> tuple[str, str] | None:
    """The first incoherent server setting, as (config key under `server.`, why), or None."""
    # The chart connects Redis (messaging, Docket) only with a separate background-services
    # deployment (templates/deployment.yaml, `runAsSeparateDeployment`); without it every API
    # replica runs its own services in memory and a Redis serves nobody.
    separate, tls = separate_background_services, ingress_tls_secret or ingress_cluster_issuer
    checks = [
        (
            "replicas",
            replicas > 1 and not separate,
            f"{replicas} replicas need server.separateBackgroundServices: true and "
            "server.redis: true",
        ),
        (
            "separateBackgroundServices",
            separate and not redis,
            "needs server.redis: true (messaging and Docket between the deployments)",
        ),
        (
            "redis",
            redis and not separate,
            "nothing would use Redis: the chart connects it only with "
            "server.separateBackgroundServices: true",
        ),
        (
            "ingressTlsSecret",
            bool(ingress_tls_secret and ingress_cluster_issuer),
            "set server.ingressTlsSecret or server.ingressClusterIssuer, not both",
        ),
        ("ingressHost", bool(tls) and not ingress_host, "a TLS certificate source needs it"),
        (
            "publicUrl",
            public_url.startswith("https://") and not tls,
            f"{public_url!r} is https, but nothing serves a certificate: set "
            "server.ingressTlsSecret (an existing TLS Secret) or server.ingressClusterIssuer "
            "(cert-manager), with server.ingressHost",
        ),
    ]
    return next(((key, why) for key, wrong, why in checks if wrong), None)


def redis_host(namespace: str) -> str:
    """In-cluster DNS name of the chart's Redis master."""
    return f"{RELEASE_NAME}{REDIS_HOST_SUFFIX}.{namespace}.svc.cluster.local"


REDIS_PORT, REDIS_DB = 6379, 0
"""Port and database of the chart's Redis that messaging and Docket use."""

_REDIS_MODULES = {"broker": "prefect_redis.messaging", "cache": "prefect_redis.messaging"}


def redis_messaging_values(host: str, port: int = REDIS_PORT, db: int = REDIS_DB) -> dict[str, Any]:
    """`backgroundServices.messaging` for Redis: the one source of the server's Redis settings.

    `redis_messaging_env` derives from it the environment the chart renders into the API and
    background-services pods; the HA test harness (tests/harness/ha.py) runs on that.
    """
    return {
        **_REDIS_MODULES,
        "redis": {
            "host": host,
            "port": port,
            "db": db,
            "existingSecret": REDIS_SECRET_NAME,
            "existingSecretPasswordKey": "redis-password",
        },
        # Without it Docket is `memory://`, which coordinates one server only
        # (templates/_helpers.tpl, "Docket URL for background service coordination").
        "docket": {"existingSecret": REDIS_SECRET_NAME, "existingSecretKey": DOCKET_URL_KEY},
    }


def redis_messaging_env(
    host: str, password: str, port: int = REDIS_PORT, db: int = REDIS_DB
) -> dict[str, str]:
    """The server settings the chart renders from `redis_messaging_values` (secrets resolved).

    As the chart's `backgroundServices.envVars` (templates/_helpers.tpl) does: the broker and
    cache modules, Redis causal ordering and lease storage when the broker is prefect-redis,
    the connection, and the Docket URL that `PrefectServer` stores under `DOCKET_URL_KEY`.
    """
    values = redis_messaging_values(host, port, db)
    redis = values["redis"]
    env = {
        "PREFECT_MESSAGING_BROKER": values["broker"],
        "PREFECT_MESSAGING_CACHE": values["cache"],
    }
    if values["broker"] == "prefect_redis.messaging":
        env["PREFECT_SERVER_EVENTS_CAUSAL_ORDERING"] = "prefect_redis.ordering"
        env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] = "prefect_redis.lease_storage"
    return {
        **env,
        "PREFECT_REDIS_MESSAGING_HOST": redis["host"],
        "PREFECT_REDIS_MESSAGING_PORT": str(redis["port"]),
        "PREFECT_REDIS_MESSAGING_DB": str(redis["db"]),
        "PREFECT_REDIS_MESSAGING_PASSWORD": password,
        "PREFECT_SERVER_DOCKET_URL": f"redis://:{password}@{host}:{port}/{db}",
    }


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
            # The server never calls the Kubernetes API: no token in its pods.
            "automountServiceAccountToken": False,
        },
        "serviceAccount": {"automountServiceAccountToken": False},
        "backgroundServices": {
            "runAsSeparateDeployment": args.separate_background_services,
            "podAnnotations": rotation,
            "automountServiceAccountToken": False,
            "serviceAccount": {"automountServiceAccountToken": False},
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
            # Its own policy admits any client (allowExternal): infra/components/network_policies.py
            # admits the server chart's pods only.
            "networkPolicy": {"enabled": False},
            "auth": {
                "enabled": True,
                "existingSecret": REDIS_SECRET_NAME,
                "existingSecretPasswordKey": "redis-password",
            },
        }
        owned["backgroundServices"]["messaging"] = redis_messaging_values(
            redis_host(args.namespace)
        )
    if args.ingress_host:
        owned["ingress"] = {
            "enabled": True,
            "className": args.ingress_class_name,
            "host": {"hostname": args.ingress_host, "path": "/", "pathType": "Prefix"},
            "tls": False,
        }
        # templates/ingress.yaml renders `tls:` only from `extraTls`, or from `tls: true` with a
        # cert-manager annotation (secret `<host>-tls`) or `selfSigned`; `tls: true` alone
        # renders nothing.
        if args.ingress_tls_secret:
            owned["ingress"]["extraTls"] = [
                {"hosts": [args.ingress_host], "secretName": args.ingress_tls_secret}
            ]
        elif args.ingress_cluster_issuer:
            owned["ingress"]["tls"] = True
            owned["ingress"]["annotations"] = {
                "cert-manager.io/cluster-issuer": args.ingress_cluster_issuer
            }
    merged: dict[str, Any] = deep_merge(args.values, owned)
    return merged
