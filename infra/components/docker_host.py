"""DockerHost: the whole platform on one Docker engine, for users without Kubernetes.

A private network; PostgreSQL (official image) and the object store on retained volumes; the
Prefect server with basic auth; one process worker and one Docker worker (prefect-docker); the
scheduled database backup (docker_backup.py). Every container has a health check; published
ports bind to loopback only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from infra.backup.settings import BackupConfig
from infra.components.docker_backup import BackupSchedule, dump_spec, scheduled_backup
from infra.components.docker_container import Placement, container
from infra.components.docker_object_store import OBJECT_STORE_HOST, StoreKeys, object_store
from infra.components.task_worker import (
    DOCKER_HEALTH,
    TaskSource,
    TaskWorkerConfig,
    docker_envs,
    serve_script,
)
from infra.components.versions import (
    FLOWS_IMAGE,
    POSTGRES_IMAGE,
    PREFECT_IMAGE,
)
from infra.components.webhook_gateway import endpoint_urls, gateway_container
from infra.components.worker import NO_CREATE_POOL
from infra.platform_types import GatewaySpec

Output = pulumi.Output[str]

SERVER_HOST = "prefect-server"
"""Host name of the server on the private network."""


_PY_HEALTH = (
    "import sys,urllib.request;"
    "sys.exit(urllib.request.urlopen('http://127.0.0.1:{port}{path}',timeout=4).status!=200)"
)


@dataclass(frozen=True)
class DockerWorkerPool:
    """A work pool that gets a worker container."""

    name: str
    """Work pool name."""
    type: Literal["process", "docker"]
    """`process` runs flows inside the worker container; `docker` starts sibling containers."""


@dataclass(frozen=True)
class DockerHostArgs:
    """Inputs of `DockerHost`."""

    image_tag: str
    """Tag of `prefecthq/prefect` (the server)."""
    flows_image: str = FLOWS_IMAGE
    """The image the workers run (images/flows/Dockerfile; `scripts/up.sh` builds it)."""
    pools: Sequence[DockerWorkerPool] = ()
    """Pools that get a worker (process and/or docker)."""
    buckets: tuple[str, ...] = ("prefect-results",)
    """Buckets the stack creates; the first is the results bucket."""
    object_store: Literal["minio", "seaweedfs"] = "minio"
    """S3 server software."""
    object_store_tag: str | None = None
    """Override the pinned object store image tag."""
    bind_address: str = "127.0.0.1"
    """Host address the published ports bind to."""
    server_port: int = 4200
    """Host port of the API/UI."""
    s3_port: int = 9000
    """Host port of S3."""
    gateway: GatewaySpec | None = None
    """The webhook gateway's endpoints; None: no gateway container."""
    gateway_port: int = 8480
    """Host port of the webhook gateway."""
    task_workers: Sequence[TaskWorkerConfig] = ()
    """`prefect task serve` containers (stack setting `taskWorkers`)."""
    task_source: TaskSource | None = None
    """Where they clone their code (required with `task_workers`)."""
    protect: bool = False
    """`protect` the data volumes too (they are always retained on delete)."""
    auth_rotation: str = "1"
    """Changing it generates a new admin password (containers are replaced)."""
    backup: BackupConfig | None = None
    """The scheduled database backup (stack setting `backup`); None or disabled: none."""


class DockerHost(pulumi.ComponentResource):
    """Prefect server, PostgreSQL, object store and workers as containers on one network."""

    api_url: pulumi.Output[str]
    ui_url: pulumi.Output[str]
    auth_string: pulumi.Output[str]
    s3_endpoint_url: pulumi.Output[str]
    s3_host_endpoint_url: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    flows_access_key: pulumi.Output[str]
    flows_secret_key: pulumi.Output[str]
    webhook_urls: pulumi.Output[dict[str, str]] | None = None

    def __init__(
        self, name: str, args: DockerHostArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.buckets:
            raise ValueError(f"{name}: at least one bucket (the results bucket) is required")
        for pool in args.pools:
            if pool.type not in ("process", "docker"):
                raise ValueError(
                    f"{name}: pool {pool.name!r} type {pool.type!r} has no worker here"
                )
        super().__init__("prefect-platform:docker:DockerHost", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True, protect=args.protect)

        network = docker.Network(f"{name}-network", name=f"{name}-net", internal=False, opts=child)
        self._place = Placement(self, name, network.name, args.bind_address)
        db_volume = docker.Volume(f"{name}-db-data", name=f"{name}-db-data", opts=kept)
        s3_volume = docker.Volume(f"{name}-s3-data", name=f"{name}-s3-data", opts=kept)

        def password(role: str, length: int, keepers: dict[str, str] | None = None) -> Output:
            generated = random.RandomPassword(
                f"{name}-{role}", length=length, special=False, keepers=keepers, opts=child
            )
            return pulumi.Output.secret(generated.result)

        db_password = password("db-password", 32)
        self.auth_string = pulumi.Output.secret(
            pulumi.Output.concat(
                "admin:", password("admin-password", 32, {"rotation": args.auth_rotation})
            )
        )
        self.access_key = password("access-key", 20)
        self.secret_key = password("secret-key", 40)
        self.flows_access_key = password("flows-access-key", 20)
        self.flows_secret_key = password("flows-secret-key", 40)

        postgres = container(
            self._place,
            "postgres",
            POSTGRES_IMAGE,
            envs={
                "POSTGRES_USER": "prefect",
                "POSTGRES_DB": "prefect",
                "POSTGRES_PASSWORD": db_password,
            },
            volume=(db_volume.name, "/var/lib/postgresql/data"),
            health=["CMD-SHELL", "pg_isready -U prefect -d prefect"],
        )
        keys = StoreKeys(
            self.access_key, self.secret_key, self.flows_access_key, self.flows_secret_key
        )
        store = object_store(
            self._place,
            args.object_store,
            args.object_store_tag,
            s3_volume.name,
            args.s3_port,
            args.buckets,
            keys,
        )
        database_url = pulumi.Output.concat(
            "postgresql+asyncpg://prefect:", db_password, f"@{name}-postgres:5432/prefect"
        )
        public_url = f"http://{args.bind_address}:{args.server_port}"
        server = container(
            self._place,
            "server",
            f"{PREFECT_IMAGE}:{args.image_tag}",
            command=["prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"],
            envs={
                "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
                "PREFECT_SERVER_API_AUTH_STRING": self.auth_string,
                "PREFECT_UI_API_URL": f"{public_url}/api",
            },
            ports=[(4200, args.server_port)],
            health=["CMD", "python", "-c", _PY_HEALTH.format(port=4200, path="/api/health")],
            depends_on=[postgres],
            alias=SERVER_HOST,
        )
        if (backup := args.backup) is not None and backup.enabled:
            scheduled_backup(
                self._place,
                args.flows_image,
                BackupSchedule(
                    backup.schedule, backup.retention_days, backup.prefix, args.buckets[0]
                ),
                database=dump_spec(f"{name}-postgres", 5432, "prefect", "prefect"),
                password=db_password,
                keys=keys,
                depends_on=[postgres, store],
            )
        for pool in args.pools:
            self._worker(pool, server)
        for worker in args.task_workers:
            if args.task_source is None:
                raise ValueError(f"{name}: task workers need a task_source")
            container(
                self._place,
                f"task-worker-{worker.name}",
                args.flows_image,
                command=["/bin/sh", "-c", serve_script(worker)],
                envs=docker_envs(
                    args.task_source, f"http://{SERVER_HOST}:4200/api", self.auth_string
                ),
                health=DOCKER_HEALTH,
                depends_on=[server, store],
            )
        if args.gateway is not None:
            gateway_container(
                self._place,
                args.flows_image,
                args.gateway,
                api_url=f"http://{SERVER_HOST}:4200/api",
                auth_string=self.auth_string,
                port=args.gateway_port,
                depends_on=[server],
            )
            gateway_url = f"http://{args.bind_address}:{args.gateway_port}"
            self.webhook_urls = pulumi.Output.from_input(
                endpoint_urls(gateway_url, args.gateway.slugs)
            )

        self.api_url = server.id.apply(lambda _: f"{public_url}/api")
        self.ui_url = server.id.apply(lambda _: public_url)
        self.s3_endpoint_url = store.id.apply(lambda _: f"http://{OBJECT_STORE_HOST}:9000")
        self.s3_host_endpoint_url = store.id.apply(
            lambda _: f"http://{args.bind_address}:{args.s3_port}"
        )
        self.register_outputs(
            {
                "api_url": self.api_url,
                "ui_url": self.ui_url,
                "auth_string": self.auth_string,
                "s3_endpoint_url": self.s3_endpoint_url,
                "s3_host_endpoint_url": self.s3_host_endpoint_url,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "flows_access_key": self.flows_access_key,
                "flows_secret_key": self.flows_secret_key,
            }
        )

    def _worker(self, pool: DockerWorkerPool, server: docker.Container) -> docker.Container:
        mounts = None
        if pool.type == "docker":
            mounts = [
                docker.ContainerMountArgs(
                    source="/var/run/docker.sock", target="/var/run/docker.sock", type="bind"
                )
            ]
        return container(
            self._place,
            f"worker-{pool.name}",
            # The flows image: Prefect, prefect-docker and prefect-aws as uv.lock pins them, so
            # nothing is installed when the worker starts (a process pool's runs use it too).
            self._args.flows_image,
            command=[
                "prefect",
                "worker",
                "start",
                "--pool",
                pool.name,
                "--type",
                pool.type,
                "--with-healthcheck",
                # The pool is the work-pool resource's alone; until it exists the worker waits.
                NO_CREATE_POOL,
            ],
            envs={
                "PREFECT_API_URL": f"http://{SERVER_HOST}:4200/api",
                "PREFECT_API_AUTH_STRING": self.auth_string,
                "PREFECT_WORKER_WEBSERVER_HOST": "127.0.0.1",
                "PREFECT_WORKER_WEBSERVER_PORT": "8080",
            },
            health=["CMD", "python", "-c", _PY_HEALTH.format(port=8080, path="/health")],
            depends_on=[server],
            mounts=mounts,
        )
