"""Flow runs in real containers: the Docker pool of pools/, a real prefect-docker worker.

The module creates `pools/docker-pool.yaml` on the live server (its merged base job
template), pushes this repository's flows to a harness git remote, and deploys the
`smoke-docker` entry of prefect.yaml plus two test flows to that pool. One
``prefect worker start --type docker`` serves every test. Containers run on the host's
network (loopback only), so they reach the server, the S3 server and the git remote, whose
bare repository is mounted read-only at the same path (the ``file://`` URL works as is).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling
from prefect_aws import S3Bucket

from infra.components.versions import FLOWS_IMAGE
from infra.declarations import load_declarations
from tests.harness.api import Api, unique, wait_for
from tests.harness.docker_engine import REPO_ROOT, TEST_LABEL, DockerEngine, FlowsImage
from tests.harness.git_remote import GitRemote, create_git_remote
from tests.harness.live_server import LiveServer
from tests.harness.mockstack import copy_repo_files
from tests.harness.processes import ManagedProcess
from tests.harness.s3 import S3Server
from tests.harness.worker import running_worker

# A cold image build (several minutes on two cores) happens inside the first test's setup.
pytestmark = pytest.mark.timeout(900)

POOL = "docker-pool"
SMOKE = "smoke/smoke-docker"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

#: Flows of this module, pushed to the remote beside flows/ (the repository's own).
TEST_FLOWS = """
import time

from prefect import flow, get_run_logger


@flow(name="container-sleeper")
def sleeper(seconds: float = 300) -> None:
    get_run_logger().info("sleeping for %s s", seconds)
    time.sleep(seconds)


@flow(name="container-raiser")
def raiser() -> None:
    raise ValueError("raised inside the container")
"""


@dataclass
class DockerPool:
    """The pool, its deployments and worker, and what a test needs to run and inspect."""

    server: LiveServer
    engine: DockerEngine
    remote: GitRemote
    worker: ManagedProcess
    results_folder: str
    s3: S3Server
    deployments: dict[str, uuid.UUID] = field(default_factory=dict)

    def start(
        self,
        reference: str,
        parameters: dict[str, Any] | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """Create a run of ``flow/deployment`` (optionally with per-run job variables)."""
        run: FlowRun = run_deployment(  # type: ignore[assignment]
            reference, parameters=parameters or {}, job_variables=job_variables, timeout=0
        )
        return run.id

    def wait(self, run_id: uuid.UUID, states: set[str], timeout: float = 120) -> FlowRun:
        """The run once its state type is one of `states`."""
        with get_client(sync_client=True) as client:

            def reached() -> FlowRun | None:
                run = client.read_flow_run(run_id)
                return run if run.state and run.state.type.value in states else None

            return wait_for(reached, timeout, f"run {run_id} to reach one of {sorted(states)}")

    def run(self, reference: str, **options: Any) -> FlowRun:
        """Start a run and wait until it is final."""
        return self.wait(self.start(reference, **options), FINAL)

    def containers(self, run_id: uuid.UUID) -> list[Any]:
        """The run's containers that still exist (running or exited)."""
        return self.engine.labelled_containers(**{"io.prefect.flow-run-id": str(run_id)})

    def container(self, run_id: uuid.UUID, timeout: float = 90) -> Any:
        """The run's container, once the worker has created it."""
        return wait_for(lambda: next(iter(self.containers(run_id)), None), timeout, "container")


def _job_variables(remote: GitRemote, block: str, **extra: Any) -> dict[str, Any]:
    """What the tests add to a deployment's job variables to run on this machine."""
    return {
        # No platform network here: the harness's services are on the host's loopback.
        "networks": [],
        "network_mode": "host",
        "volumes": [f"{remote.bare}:{remote.bare}:ro"],
        "labels": {TEST_LABEL: "docker-pool"},
        "env": {
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"s3-bucket/{block}",
            **extra.pop("env", {}),
        },
        **extra,
    }


def _create_pool(server: LiveServer, name: str = POOL) -> None:
    """Create pools/docker-pool.yaml on the server (under `name`): merged template, limit."""
    (pool,) = [p for p in load_declarations(REPO_ROOT).work_pools if p.name == POOL]
    body = {
        "name": name,
        "type": pool.type,
        "description": pool.description,
        "concurrency_limit": pool.concurrency_limit,
        "base_job_template": pool.merged_base_job_template(),
    }
    _delete_pool(server, name)
    with httpx.Client(base_url=server.api_url, auth=server.auth, timeout=30) as api:
        api.post("/work_pools/", json=body).raise_for_status()


def _delete_pool(server: LiveServer, name: str) -> None:
    with httpx.Client(base_url=server.api_url, auth=server.auth, timeout=30) as api:
        api.delete(f"/work_pools/{name}")


def _deploy(
    client: SyncPrefectClient,
    flow_name: str,
    name: str,
    entrypoint: str,
    remote: GitRemote,
    pool: str = POOL,
    **kw: Any,
) -> uuid.UUID:
    """A deployment of `entrypoint` to `pool`, cloned from `remote` by each run."""
    flow_id = client.create_flow_from_name(flow_name)
    clone = {"repository": remote.url, "branch": remote.branch}
    return client.create_deployment(
        flow_id=flow_id,
        name=name,
        entrypoint=entrypoint,
        work_pool_name=pool,
        pull_steps=[{"prefect.deployments.steps.git_clone": clone}],
        **kw,
    )


@pytest.fixture(scope="module")
def docker_pool(
    docker_engine: DockerEngine,
    flows_image: FlowsImage,
    prefect_server: LiveServer,
    s3_server: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[DockerPool]:
    """The Docker pool with its deployments, served by one docker worker."""
    workdir = tmp_path_factory.mktemp("docker-pool")
    tree = copy_repo_files(workdir / "checkout", ("prefect.yaml", "pools", "flows"))
    (tree / "container_flows.py").write_text(TEST_FLOWS)
    remote = create_git_remote(workdir / "github", name="prefect-platform")
    remote.push_tree(tree, "the platform repository")

    folder = unique("container-results")
    block = unique("container-results")
    S3Bucket(
        bucket_name=s3_server.bucket,
        credentials=s3_server.minio_credentials(),
        bucket_folder=folder,
    ).save(block)

    _create_pool(prefect_server)
    (entry,) = [
        e
        for e in yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
        if e["name"] == "smoke-docker"
    ]
    declared = entry["work_pool"]["job_variables"]
    with get_client(sync_client=True) as client:
        ids = {
            SMOKE: _deploy(
                client,
                "smoke",
                "smoke-docker",
                entry["entrypoint"],
                remote,
                job_variables={**declared, **_job_variables(remote, block, env=declared["env"])},
                tags=entry["tags"],
            ),
            "container-sleeper/sleeper": _deploy(
                client,
                "container-sleeper",
                "sleeper",
                "container_flows.py:sleeper",
                remote,
                job_variables=_job_variables(remote, block),
            ),
            "container-raiser/raiser": _deploy(
                client,
                "container-raiser",
                "raiser",
                "container_flows.py:raiser",
                remote,
                job_variables=_job_variables(remote, block),
            ),
        }

    with _docker_worker(prefect_server, POOL, workdir, docker_engine.host) as worker:
        yield DockerPool(
            server=prefect_server,
            engine=docker_engine,
            remote=remote,
            worker=worker,
            results_folder=folder,
            s3=s3_server,
            deployments=ids,
        )
    docker_engine.remove_test_containers()
    with get_client(sync_client=True) as client:
        for deployment_id in ids.values():
            client.delete_deployment(deployment_id)
    _delete_pool(prefect_server, POOL)


@contextmanager
def _docker_worker(
    server: LiveServer, pool: str, workdir: Path, docker_host: str
) -> Iterator[ManagedProcess]:
    """``prefect worker start --type docker`` for `pool`, talking to the engine at `docker_host`."""
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DOCKER_HOST", docker_host)  # read when the worker process starts
            worker = stack.enter_context(running_worker(server, pool, workdir, "docker"))
        yield worker


def test_smoke_docker_runs_in_a_container_from_git_and_writes_its_result_to_s3(
    docker_pool: DockerPool, api: Api
) -> None:
    run = docker_pool.run(SMOKE, parameters={"name": "container"})

    assert run.state and run.state.type.value == "COMPLETED", run.state
    messages = api.wait_for_log(run.id, "smoke says")
    assert "smoke says: hello container" in messages
    assert any("git_clone" in message for message in messages)
    keys = docker_pool.s3.keys(docker_pool.results_folder)
    assert len(keys) == 1, keys
    # Read back from S3 by this process, through the result record the run stored.
    assert run.state.result() == "hello container"
    # auto_remove (pool and deployment): the container goes once its process has exited,
    # which may be a moment after the run's final state reached the API.
    wait_for(lambda: docker_pool.containers(run.id) == [], 30, "the container to be removed")


def _exited(container: Any) -> Any:
    """The container once its process has exited (the run's final state comes a moment before)."""
    container.wait(timeout=60)
    container.reload()
    return container


def _memory(container: Any) -> int:
    return int(container.attrs["HostConfig"]["Memory"])


def _env(container: Any) -> dict[str, str]:
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


def test_the_container_carries_the_pool_template_and_the_deployments_job_variables(
    docker_pool: DockerPool,
) -> None:
    # Kept after exit for `docker inspect` (auto_remove is overridden for this run only).
    run = docker_pool.run(SMOKE, job_variables={"auto_remove": False})

    assert run.state and run.state.type.value == "COMPLETED", run.state
    container = _exited(*docker_pool.containers(run.id))
    labels = container.attrs["Config"]["Labels"]
    host = container.attrs["HostConfig"]
    # prefect.yaml's smoke-docker entry over pools/docker-pool.yaml...
    assert container.attrs["Config"]["Image"] == FLOWS_IMAGE
    assert _memory(container) == 512 * 2**20  # the pool says 1g, the deployment 512m
    assert _env(container)["PREFECT_LOGGING_LEVEL"] == "INFO"
    # ...what Prefect adds: which run, deployment and pool the container is...
    assert labels["io.prefect.flow-run-id"] == str(run.id)
    assert labels["io.prefect.deployment-name"] == "smoke-docker"
    assert labels["io.prefect.work-pool-name"] == POOL
    assert _env(container)["PREFECT__FLOW_RUN_ID"] == str(run.id)
    # ...and the test's own variables: host network, the git remote mounted read-only.
    assert labels[TEST_LABEL] == "docker-pool"
    assert host["NetworkMode"] == "host"
    assert host["Binds"] == [f"{docker_pool.remote.bare}:{docker_pool.remote.bare}:ro"]
    assert host["AutoRemove"] is False
    assert container.attrs["State"]["ExitCode"] == 0
    container.remove()


def test_a_per_run_job_variables_override_changes_that_runs_container_only(
    docker_pool: DockerPool,
) -> None:
    kept = {"auto_remove": False}
    overridden = docker_pool.start(
        SMOKE,
        parameters={"name": "overridden"},
        job_variables={**kept, "mem_limit": "256m", "labels": {TEST_LABEL: "per-run"}},
    )
    plain = docker_pool.start(SMOKE, parameters={"name": "plain"}, job_variables=kept)

    for run_id in (overridden, plain):
        run = docker_pool.wait(run_id, FINAL)
        assert run.state and run.state.type.value == "COMPLETED", run.state
    changed = _exited(*docker_pool.containers(overridden))
    unchanged = _exited(*docker_pool.containers(plain))
    assert _memory(changed) == 256 * 2**20
    assert changed.attrs["Config"]["Labels"][TEST_LABEL] == "per-run"
    assert _memory(unchanged) == 512 * 2**20
    assert unchanged.attrs["Config"]["Labels"][TEST_LABEL] == "docker-pool"
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(docker_pool.deployments[SMOKE])
    assert deployment.job_variables and deployment.job_variables["mem_limit"] == "512m"
    changed.remove()
    unchanged.remove()


def test_a_flow_that_raises_in_its_container_ends_failed(docker_pool: DockerPool) -> None:
    run = docker_pool.run("container-raiser/raiser")

    assert run.state and run.state.type.value == "FAILED", run.state
    assert "raised inside the container" in str(run.state.message)
    wait_for(lambda: docker_pool.containers(run.id) == [], 30, "the container to be removed")


def test_a_container_killed_mid_run_ends_crashed_and_the_worker_keeps_serving(
    docker_pool: DockerPool,
) -> None:
    run_id = docker_pool.start("container-sleeper/sleeper", parameters={"seconds": 300})
    docker_pool.wait(run_id, {"RUNNING"})
    container = docker_pool.container(run_id)
    # The sleeper's deployment sets no image, memory or auto_remove: the pool's apply.
    assert container.attrs["Config"]["Image"] == FLOWS_IMAGE
    assert _memory(container) == 2**30
    assert container.attrs["HostConfig"]["AutoRemove"] is True

    container.kill()

    run = docker_pool.wait(run_id, FINAL, timeout=60)
    assert run.state and run.state.type.value == "CRASHED", run.state
    assert "137" in str(run.state.message)
    assert docker_pool.worker.running
    after = docker_pool.run(SMOKE, parameters={"name": "after the kill"})
    assert after.state and after.state.type.value == "COMPLETED", after.state


def test_a_run_cancelled_through_the_api_ends_cancelled_and_its_container_is_gone(
    docker_pool: DockerPool,
) -> None:
    run_id = docker_pool.start("container-sleeper/sleeper", parameters={"seconds": 300})
    docker_pool.wait(run_id, {"RUNNING"})
    docker_pool.container(run_id)

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelling(message="cancelled by the test"))

    run = docker_pool.wait(run_id, FINAL, timeout=90)
    assert run.state and run.state.type.value == "CANCELLED", run.state
    wait_for(lambda: docker_pool.containers(run_id) == [], 30, "the container to be removed")


def test_a_pushed_change_runs_in_the_next_container_without_a_redeploy(
    docker_pool: DockerPool, api: Api
) -> None:
    path = "flows/platform/smoke.py"
    source = (REPO_ROOT / path).read_text()
    changed = source.replace('greeting = f"hello {name}"', 'greeting = f"howdy {name}"')
    assert changed != source, "the smoke flow's greeting line moved: update this test"
    with get_client(sync_client=True) as client:
        before = client.read_deployment(docker_pool.deployments[SMOKE]).updated
    docker_pool.remote.push_files({path: changed}, "say howdy")
    try:
        run = docker_pool.run(SMOKE, parameters={"name": "push"})
    finally:
        docker_pool.remote.push_files({path: source}, "say hello again")

    assert run.state and run.state.type.value == "COMPLETED", run.state
    assert "smoke says: howdy push" in api.wait_for_log(run.id, "smoke says")
    with get_client(sync_client=True) as client:
        assert client.read_deployment(docker_pool.deployments[SMOKE]).updated == before


def test_an_image_that_does_not_exist_crashes_the_run_naming_it_and_leaves_no_container(
    docker_pool: DockerPool,
) -> None:
    # Never pulled: the engine has no such image.
    local = "prefect-platform-missing:0"
    # Pulled from a registry on a closed loopback port: fails at once, no traffic leaves.
    remote = "127.0.0.1:9/prefect-platform/missing:0"

    never = docker_pool.start(SMOKE, job_variables={"image": local, "image_pull_policy": "Never"})
    pulled = docker_pool.start(SMOKE, job_variables={"image": remote})

    # The engine's errors name the image (a failed pull URL-encodes it, tag apart).
    named = {
        never: f"No such image: {local}",
        pulled: "fromImage=127.0.0.1:9/prefect-platform/missing",
    }
    for run_id in (never, pulled):
        run = docker_pool.wait(run_id, FINAL)
        assert run.state and run.state.type.value == "CRASHED", run.state
        assert named[run_id] in unquote(str(run.state.message)), run.state.message
        assert docker_pool.containers(run_id) == []
    assert docker_pool.worker.running


def test_an_unreachable_engine_is_reported_by_the_worker_and_the_run_crashes_at_once(
    docker_pool: DockerPool, tmp_path: Path
) -> None:
    pool = "docker-pool-no-engine"
    _create_pool(docker_pool.server, name=pool)
    with get_client(sync_client=True) as client:
        deployment_id = _deploy(
            client,
            "smoke",
            "smoke-no-engine",
            "flows/platform/smoke.py:smoke",
            docker_pool.remote,
            pool=pool,
        )
    nowhere = f"unix://{tmp_path / 'no-engine.sock'}"

    try:
        with _docker_worker(docker_pool.server, pool, tmp_path, nowhere) as worker:
            run = docker_pool.wait(docker_pool.start("smoke/smoke-no-engine"), FINAL, timeout=30)
            assert worker.running
            log = worker.log_tail(200)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
        _delete_pool(docker_pool.server, pool)

    assert run.state and run.state.type.value == "CRASHED", run.state
    assert "Could not connect to Docker" in str(run.state.message)
    assert "Could not connect to Docker" in log
