"""Pulumi components of the platform: one `ComponentResource` per file."""

from infra.components.docker_host import DockerHost, DockerHostArgs
from infra.components.object_store import ObjectStore, ObjectStoreArgs
from infra.components.prefect_server import PrefectServer, PrefectServerArgs
from infra.components.worker import Worker, WorkerArgs

__all__ = [
    "DockerHost",
    "DockerHostArgs",
    "ObjectStore",
    "ObjectStoreArgs",
    "PrefectServer",
    "PrefectServerArgs",
    "Worker",
    "WorkerArgs",
]
