"""The `docker` target: server, object store and workers as containers on one Docker host."""

from __future__ import annotations

from infra.components.docker_host import DockerHost, DockerHostArgs, DockerWorkerPool
from infra.components.task_worker import TaskSource
from infra.config import PlatformConfig
from infra.platform_types import GatewaySpec, Platform, S3Access
from infra.targets.args import component_args


def build(
    config: PlatformConfig, gateway: GatewaySpec | None = None, tasks: TaskSource | None = None
) -> Platform:
    """Declare the platform on the Docker host Pulumi's Docker provider is configured for.

    `gateway`: the webhook endpoints of `webhooks/` (a gateway container when given);
    `tasks`: where the `taskWorkers` containers clone their code.
    """
    host = DockerHost(
        "prefect",
        component_args(
            DockerHostArgs,
            config.docker,
            config,
            image_tag=config.prefect_image_tag,
            flows_image=config.flows_image,
            pools=[
                DockerWorkerPool(name=w.pool, type="docker" if w.type == "docker" else "process")
                for w in config.workers
            ],
            buckets=tuple(config.object_store.buckets),
            object_store=config.object_store.kind,
            object_store_tag=config.object_store.image_tag,
            protect=config.protect_data,
            gateway=gateway,
            task_source=tasks,
        ),
    )
    return Platform(
        api_url=host.api_url,
        ui_url=host.ui_url,
        auth_string=host.auth_string,
        s3=S3Access(
            host.s3_endpoint_url,
            host.access_key,
            host.secret_key,
            config.object_store.buckets,
            host.flows_access_key,
            host.flows_secret_key,
        ),
        worker_pools=[worker.pool for worker in config.workers],
        open_ui_command=(
            f"python3 -m webbrowser http://{config.docker.bind_address}:{config.docker.server_port}"
        ),
        ready=[host],
        webhook_urls=host.webhook_urls,
    )
