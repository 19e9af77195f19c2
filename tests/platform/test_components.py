"""Components check their plain arguments and raise before declaring any child."""

from __future__ import annotations

import pytest

from infra.components.docker_host import DockerHost, DockerHostArgs, DockerWorkerPool
from infra.components.object_store import ObjectStore, ObjectStoreArgs
from infra.components.prefect_server import PrefectServer, PrefectServerArgs
from infra.components.worker import Worker, WorkerArgs, release_name


def test_worker_runs_kubernetes_pools_only() -> None:
    args = WorkerArgs("process-pool", "process", "prefect", "http://x/api", "auth", "3.9.1")
    with pytest.raises(ValueError, match="pool 'process-pool' has type 'process'"):
        Worker("worker-process-pool", args)


def test_worker_template_must_be_a_base_job_template() -> None:
    args = WorkerArgs(
        "k", "kubernetes", "prefect", "http://x/api", "auth", "3.9.1", {"variables": {}}
    )
    with pytest.raises(ValueError, match="base_job_template has no 'job_configuration'"):
        Worker("worker-k", args)


def test_server_needs_redis_for_replicas_and_a_url_for_an_external_database() -> None:
    with pytest.raises(ValueError, match=r"server\.replicas: 2 replicas need .*server\.redis"):
        PrefectServer("s", PrefectServerArgs("prefect", "3.9.1", "http://x", replicas=2))
    with pytest.raises(ValueError, match=r"server\.redis: nothing would use Redis"):
        PrefectServer("s", PrefectServerArgs("prefect", "3.9.1", "http://x", redis=True))
    with pytest.raises(ValueError, match="database 'external' needs database_url"):
        PrefectServer("s", PrefectServerArgs("prefect", "3.9.1", "http://x", database="external"))


def test_stores_need_a_bucket() -> None:
    with pytest.raises(ValueError, match="at least one bucket"):
        ObjectStore("o", ObjectStoreArgs("prefect", buckets=()))
    with pytest.raises(ValueError, match="at least one bucket"):
        DockerHost("d", DockerHostArgs("3.9.1", buckets=()))


def test_docker_host_refuses_a_pool_without_a_worker() -> None:
    pool = DockerWorkerPool("k", "kubernetes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pool 'k' type 'kubernetes' has no worker here"):
        DockerHost("d", DockerHostArgs("3.9.1", pools=[pool]))


@pytest.mark.parametrize(
    ("pool", "release"),
    [
        ("kubernetes-pool", "worker-kubernetes-pool"),
        ("GPU_Pool.v2", "worker-gpu-pool-v2"),
        ("x" * 80, "worker-" + "x" * 46),
    ],
)
def test_release_names_are_dns_labels_derived_from_the_pool(pool: str, release: str) -> None:
    assert release_name(pool) == release
