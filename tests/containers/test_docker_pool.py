"""Flow runs in real containers: the Docker pool of pools/, a real prefect-docker worker.

The module creates `pools/docker-pool.yaml` on the live server (its merged base job
template), pushes this repository's flows to a harness git remote, and deploys the
`smoke-docker` entry of prefect.yaml plus two test flows to that pool. One
``prefect worker start --type docker`` serves every test. Containers run on the host's
network (loopback only), so they reach the server, the S3 server and the git remote, whose
bare repository is mounted read-only at the same path (the ``file://`` URL works as is).
"""

from __future__ import annotations

import secrets
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
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.states import Cancelling
from prefect_aws import S3Bucket

from infra.components.versions import FLOWS_IMAGE
from infra.declarations import load_declarations
from tests.harness.api import Api, emit_until_runs, unique, wait_for
from tests.harness.docker_engine import REPO_ROOT, TEST_LABEL, DockerEngine, FlowsImage
from tests.harness.git_https import HttpsGitServer
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
    results_block: str = ""
    """The `s3-bucket` block runs of this module keep results in (the pool names the stack's)."""

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


def _job_variables(block: str, **extra: Any) -> dict[str, Any]:
    """What the tests add to a deployment's job variables: their label, results in S3."""
    return {
        "labels": {TEST_LABEL: "docker-pool"},
        "env": {
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
            "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"s3-bucket/{block}",
            **extra.pop("env", {}),
        },
        **extra,
    }


def _host_access(*mounts: str) -> dict[str, Any]:
    """The pool settings this machine needs, which no deployment may set (POOL_FIXED_VARIABLES).

    No platform network here: the harness's services are on the host's loopback, so runs use
    the host's network; `mounts` are host paths mounted read-only at the same path.
    """
    return {
        "networks": [],
        "network_mode": "host",
        "volumes": [f"{path}:{path}:ro" for path in mounts],
    }


def _create_pool(server: LiveServer, fixed: dict[str, Any], name: str = POOL) -> None:
    """Create pools/docker-pool.yaml on the server (under `name`), with this machine's `fixed`
    host access merged into the pool's own job variables, as a `pools/` file would set them."""
    (pool,) = [p for p in load_declarations(REPO_ROOT).work_pools if p.name == POOL]
    pool = pool.model_copy(update={"job_variables": {**pool.job_variables, **fixed}})
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


def _copy_of_smoke(
    client: SyncPrefectClient, pool: DockerPool, name: str, job_variables: dict[str, Any]
) -> uuid.UUID:
    """Another deployment of `smoke-docker`'s flow, its job variables updated with these."""
    smoke = client.read_deployment(pool.deployments[SMOKE])
    return _deploy(
        client,
        "smoke",
        name,
        smoke.entrypoint or "",
        pool.remote,
        job_variables={**(smoke.job_variables or {}), **job_variables},
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

    _create_pool(prefect_server, _host_access(str(remote.bare)))
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
                job_variables={**declared, **_job_variables(block, env=declared["env"])},
                tags=entry["tags"],
            ),
            "container-sleeper/sleeper": _deploy(
                client,
                "container-sleeper",
                "sleeper",
                "container_flows.py:sleeper",
                remote,
                job_variables=_job_variables(block),
            ),
            "container-raiser/raiser": _deploy(
                client,
                "container-raiser",
                "raiser",
                "container_flows.py:raiser",
                remote,
                job_variables=_job_variables(block),
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
            results_block=block,
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
    _create_pool(docker_pool.server, _host_access(), name=pool)
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


def test_an_automations_run_deployment_job_variables_change_that_runs_container_only(
    docker_pool: DockerPool,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    event = f"platform.container-test.{suffix}"
    job_variables = {
        "auto_remove": False,
        "mem_limit": "384m",
        "labels": {TEST_LABEL: "automation"},
    }
    with get_client(sync_client=True) as client:
        deployment_id = _copy_of_smoke(client, docker_pool, f"smoke-automation-{suffix}", {})
        automation = {
            "name": f"container-job-variables-{suffix}",
            "trigger": {
                "type": "event",
                "posture": "Reactive",
                "expect": [event],
                "match": {"prefect.resource.id": f"platform.{suffix}"},
                "threshold": 1,
                "within": 0,
            },
            "actions": [
                {
                    "type": "run-deployment",
                    "source": "selected",
                    "deployment_id": str(deployment_id),
                    "parameters": {"name": "automation"},
                    "job_variables": job_variables,
                }
            ],
        }
        with httpx.Client(base_url=docker_pool.server.api_url, auth=docker_pool.server.auth) as api:
            automation_id = api.post("/automations/", json=automation).raise_for_status().json()
        plain_id = docker_pool.start(SMOKE, parameters={"name": "plain"}, job_variables={})
        try:
            runs = emit_until_runs(client, event, f"platform.{suffix}", deployment_id)
        finally:
            with httpx.Client(
                base_url=docker_pool.server.api_url, auth=docker_pool.server.auth
            ) as api:
                api.delete(f"/automations/{automation_id['id']}").raise_for_status()
        assert runs, f"no run of the deployment within 90 s of emitting {event}"
        finished = [docker_pool.wait(run.id, FINAL) for run in runs]
        plain = docker_pool.wait(plain_id, FINAL)
        client.delete_deployment(deployment_id)

    for run in [*finished, plain]:
        assert run.state and run.state.type.value == "COMPLETED", run.state
    assert finished[0].parameters == {"name": "automation"}
    assert finished[0].job_variables == job_variables
    triggered = _exited(*docker_pool.containers(finished[0].id))
    assert _memory(triggered) == 384 * 2**20
    assert triggered.attrs["Config"]["Labels"][TEST_LABEL] == "automation"
    wait_for(lambda: docker_pool.containers(plain.id) == [], 30, "the plain run's container")
    assert plain.job_variables == {}
    for run in finished:
        for container in docker_pool.containers(run.id):
            container.remove(force=True)


PRIVATE_FLOW = """
from prefect import flow, get_run_logger


@flow(name="private-container-hello")
def private_hello() -> str:
    get_run_logger().info("cloned over https into a container: {marker}")
    return "{marker}"
"""


def test_a_private_repository_clones_over_https_into_a_container_with_the_token(
    docker_pool: DockerPool, https_git_server: HttpsGitServer, api: Api, tmp_path: Path
) -> None:
    """The pull step of prefect.yaml with a token, run inside the flows image.

    Its own pool (and worker): the session's throwaway CA is mounted by the pool, as only a
    pool may mount host paths.
    """
    marker = f"marker-{uuid.uuid4().hex}"
    https_git_server.remote.push_files(
        {"private_container_flow.py": PRIVATE_FLOW.format(marker=marker)}, "private flow"
    )
    suffix = uuid.uuid4().hex[:8]
    right, wrong = f"container-token-{suffix}", f"container-wrong-token-{suffix}"
    wrong_token = f"ghp_{secrets.token_hex(18)}"
    Secret(value=https_git_server.token).save(right)
    Secret(value=wrong_token).save(wrong)
    ca = str(https_git_server.ca_cert)
    pool = f"docker-pool-private-{suffix}"
    _create_pool(docker_pool.server, _host_access(ca), name=pool)
    job_variables = {
        "auto_remove": False,
        "labels": {TEST_LABEL: "private-repo"},
        # Prefect logs git's own error output at DEBUG.
        "env": {
            "GIT_SSL_CAINFO": ca,
            "GIT_TERMINAL_PROMPT": "0",
            "PREFECT_LOGGING_LEVEL": "DEBUG",
            # The pool keeps results in the stack's `s3-bucket/results`; here, the module's.
            "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": f"s3-bucket/{docker_pool.results_block}",
        },
    }
    with (
        _docker_worker(docker_pool.server, pool, tmp_path, docker_pool.engine.host),
        get_client(sync_client=True) as client,
    ):
        flow_id = client.create_flow_from_name("private-container-hello")
        ids = {
            block: client.create_deployment(
                flow_id=flow_id,
                name=block,
                entrypoint="private_container_flow.py:private_hello",
                work_pool_name=pool,
                pull_steps=[
                    {
                        "prefect.deployments.steps.git_clone": {
                            "repository": https_git_server.url,
                            "branch": https_git_server.remote.branch,
                            "access_token": f"{{{{ prefect.blocks.secret.{block} }}}}",
                        }
                    }
                ],
                job_variables=job_variables,
            )
            for block in (right, wrong)
        }
        run_ids = {block: client.create_flow_run_from_deployment(ids[block]).id for block in ids}
        runs = {block: docker_pool.wait(run_id, FINAL) for block, run_id in run_ids.items()}
        containers = {block: _exited(*docker_pool.containers(run_ids[block])) for block in ids}
        outputs = {
            block: container.logs().decode(errors="replace")
            for block, container in containers.items()
        }
        for deployment_id in ids.values():
            client.delete_deployment(deployment_id)
    _delete_pool(docker_pool.server, pool)

    cloned, refused = runs[right], runs[wrong]
    assert cloned.state and cloned.state.type.value == "COMPLETED", outputs[right][-4000:]
    assert f"cloned over https into a container: {marker}" in api.wait_for_log(
        cloned.id, "cloned over https"
    )
    # The container's engine process fails; its supervisor reports the run Crashed and exits 0.
    assert refused.state and refused.state.type.value == "CRASHED", refused.state
    # git's refusal, the URL without credentials, is in the container's output.
    refusal = f"Failed to clone repository '{https_git_server.url}' with exit code 128"
    assert refusal in outputs[wrong], outputs[wrong][-3000:]
    # The token is in no container setting, output, run, state or log.
    everything = {
        **{f"docker inspect ({block})": repr(c.attrs) for block, c in containers.items()},
        **{f"container output ({block})": text for block, text in outputs.items()},
        **{f"flow run ({block})": repr(run) for block, run in runs.items()},
        **{f"logs ({block})": "\n".join(api.messages(run.id)) for block, run in runs.items()},
    }
    for token in (https_git_server.token, wrong_token):
        assert [where for where, text in everything.items() if token in text] == []
    for container in containers.values():
        container.remove()


def test_a_deployment_or_a_run_asking_for_host_access_gets_none(docker_pool: DockerPool) -> None:
    """Privileged mode, host mounts, `docker create` arguments and networks are the pool's.

    `prefect-platform validate` refuses such a deployment in prefect.yaml
    (tests/declarations/test_bad_input.py); here one is created through the API, and a run
    asks again: the container still gets only what the pool gives.
    """
    escalation = {
        "privileged": True,
        "volumes": ["/:/host", "/var/run/docker.sock:/var/run/docker.sock"],
        "container_create_kwargs": {"cap_add": ["SYS_ADMIN"], "pid_mode": "host"},
        "network_mode": "bridge",
        "networks": ["bridge"],
    }
    with get_client(sync_client=True) as client:
        deployment_id = _copy_of_smoke(
            client,
            docker_pool,
            f"smoke-escalation-{uuid.uuid4().hex[:8]}",
            {**escalation, "auto_remove": False},
        )
        deployment = client.read_deployment(deployment_id)
    try:
        run = docker_pool.run(
            f"smoke/{deployment.name}",
            job_variables={"privileged": True, "volumes": ["/etc:/host-etc"]},
        )
        assert run.state and run.state.type.value == "COMPLETED", run.state
        container = _exited(*docker_pool.containers(run.id))
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)

    host = container.attrs["HostConfig"]
    assert host["Privileged"] is False
    assert host["Binds"] == [f"{docker_pool.remote.bare}:{docker_pool.remote.bare}:ro"]
    assert not host.get("CapAdd")
    assert host.get("PidMode") in ("", None)
    assert host["NetworkMode"] == "host"
    container.remove()
