"""The Docker series of `benchmarks/push_to_run.py`: runs in containers of the flows image.

Everything comes from the container tests' harness (`tests/harness/docker_engine.py`):
the engine (one that answers at ``DOCKER_HOST`` or the default socket, else a ``dockerd``
started here), the flows image (``images/flows/Dockerfile`` on the local debootstrap base,
reused while its inputs are unchanged) and a real ``prefect worker start --type docker``
(`tests.harness.worker.running_worker`, with ``DOCKER_HOST`` set as
`tests/containers/test_docker_pool.py` does). The pool is `pools/docker-pool.yaml` (its
merged base job template); the deployment adds what the container tests add to run on this
machine: the host's network (the server, the git remote and the S3 server are on
loopback) and the bare repository mounted read-only at its own path (its ``file://`` URL
clones inside the container as outside), both in the pool as settings no deployment may
change; and, on the deployment, a label of its own (`BENCH_LABEL`) and ``auto_remove``
off, so the benchmark can read the container's ``docker inspect`` times (it removes each
container itself).

What runs in the container: ``prefect flow-run execute`` (the docker worker's default
command) reads the run and starts ``python -m prefect.runner._workspace_supervisor``, which
logs "Running 1 deployment pull step(s)", clones, and ``execvpe``\\ s ``python -m
prefect.engine`` (loads the flow, proposes Running). Three interpreter start-ups, all with
the image's compiled bytecode.

`measure_image_builds` times the flows image from nothing (a second ``dockerd`` on a
temporary data-root: debootstrap base, then the image), again with every layer cached (the
tag removed, its layers kept), and the harness's reuse check.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from tests.harness.docker_engine import (
    DATA_ROOT_ENV,
    DockerEngine,
    FlowsImage,
    build_flows_image,
    find_or_start_engine,
)
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer
from tests.harness.processes import ManagedProcess, environment
from tests.harness.worker import running_worker

ROOT = Path(__file__).resolve().parents[1]
DOCKER_POOL_FILE = ROOT / "pools" / "docker-pool.yaml"
BENCH_LABEL = "org.prefect-platform.benchmark"
"""On every container the benchmark starts. Not the tests' `TEST_LABEL`: on a shared engine,
a test session's clean-up removes every container carrying that one, running or not."""
RUN_LABEL = "io.prefect.flow-run-id"


@dataclass
class DockerSetup:
    """The engine the Docker series uses and the flows image it runs."""

    engine: DockerEngine
    image: FlowsImage
    size_bytes: int


def host_access(remote: GitRemote) -> dict[str, Any]:
    """What runs need on this machine, set in the pool as the container tests do.

    No platform network here: the server and the git remote are on the host's loopback, so
    runs use the host's network, and the bare repository is mounted read-only at its own
    path. These are pool settings no deployment may set (`POOL_FIXED_VARIABLES` of
    `infra/declarations/pools.py`), so they go into the pool's job variables.
    """
    return {
        "networks": [],
        "network_mode": "host",
        "volumes": [f"{remote.bare}:{remote.bare}:ro"],
    }


def docker_pool_template(remote: GitRemote) -> dict[str, Any]:
    """`pools/docker-pool.yaml`'s merged base job template, with `host_access` merged in."""
    from infra.declarations.pools import WorkPoolDeclaration

    raw = yaml.safe_load(DOCKER_POOL_FILE.read_text())
    pool = WorkPoolDeclaration.model_validate(raw)
    pool = pool.model_copy(update={"job_variables": {**pool.job_variables, **host_access(remote)}})
    template: dict[str, Any] = pool.merged_base_job_template()
    return template


def docker_job_variables() -> dict[str, Any]:
    """The deployment's job variables: our label; containers kept for `docker inspect`."""
    return {"labels": {BENCH_LABEL: "push-to-run"}, "auto_remove": False}


def image_size(engine: DockerEngine, tag: str) -> int:
    """`docker image inspect --format {{.Size}} tag`, in bytes."""
    client = engine.client()
    try:
        return int(client.images.get(tag).attrs["Size"])
    finally:
        client.close()


def _describe_build(what: str, cached: bool, seconds: float) -> str:
    return f"{what} reused (already current)" if cached else f"{what} built in {seconds:.1f} s"


@contextlib.contextmanager
def docker_setup(workdir: Path) -> Iterator[DockerSetup]:
    """The engine (started here if none answers) and the flows image, built or reused."""
    engine = find_or_start_engine(workdir / "docker")
    try:
        where = "started by the benchmark" if engine.owned else "already running"
        print(f"docker engine: {engine.host} ({where})", flush=True)
        image = build_flows_image(engine, workdir / "docker")
        size = image_size(engine, image.tag)
        base = _describe_build(f"base {image.base.tag}", image.base.cached, image.base.seconds)
        built = _describe_build("image", image.build.cached, image.build.seconds)
        print(
            f"flows image {image.tag}: {size / 1e6:.0f} MB ({size} bytes, docker image inspect "
            f"Size); {base}; {built}",
            flush=True,
        )
        yield DockerSetup(engine, image, size)
    finally:
        # Only this benchmark's containers: an engine it did not start may run other tests'.
        with contextlib.suppress(Exception):
            client = engine.client()
            for container in client.containers.list(all=True, filters={"label": BENCH_LABEL}):
                container.remove(force=True)
            client.close()
        if engine.owned:
            engine.stop()


@contextlib.contextmanager
def docker_worker(
    server: LiveServer, pool: str, workdir: Path, host: str
) -> Iterator[ManagedProcess]:
    """``prefect worker start --type docker`` for `pool`, with ``DOCKER_HOST`` = `host`."""
    with contextlib.ExitStack() as stack:
        saved = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = host  # read when the worker process starts
        try:
            worker = stack.enter_context(running_worker(server, pool, workdir, "docker"))
        finally:
            if saved is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved
        yield worker


def _docker_time(value: str) -> float:
    """Epoch seconds of a Docker timestamp (RFC 3339, nanoseconds, ``Z``)."""
    stamp, _, fraction = value.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(f"{stamp}.{(fraction + '000000')[:6]}+00:00")
    return moment.timestamp()


@dataclass
class ContainerTimes:
    """When the run's container was created, started and exited (``docker inspect``)."""

    created: float
    started: float
    finished: float


def container_times(engine: DockerEngine, run_id: UUID, timeout: float = 60) -> ContainerTimes:
    """The run's container times, once it has exited; the container is removed after."""
    client = engine.client()
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = client.containers.list(
                all=True, filters={"label": [BENCH_LABEL, f"{RUN_LABEL}={run_id}"]}
            )
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if len(found) != 1:
            raise RuntimeError(f"run {run_id}: expected one container, found {len(found)}")
        (container,) = found
        container.wait(timeout=timeout)
        container.reload()
        state = container.attrs["State"]
        if state.get("ExitCode") != 0:
            raise RuntimeError(f"run {run_id}: container exited {state.get('ExitCode')}")
        times = ContainerTimes(
            created=_docker_time(container.attrs["Created"]),
            started=_docker_time(state["StartedAt"]),
            finished=_docker_time(state["FinishedAt"]),
        )
        container.remove(force=True)
        return times
    finally:
        client.close()


#: What the Python start-up inside a run's container is made of, run on its own.
PYTHON_PROBES = {
    "python -c pass": ["python", "-c", "pass"],
    "python -c 'import prefect'": ["python", "-c", "import prefect"],
    "prefect flow-run execute --help": ["prefect", "flow-run", "execute", "--help"],
}


def measure_container_python(engine: DockerEngine, image: str, repeats: int = 5) -> None:
    """Print how long containers of `image` take to run each of `PYTHON_PROBES` (median).

    Per container: ``docker inspect`` State.StartedAt to State.FinishedAt (the process
    alone), and Created to FinishedAt (create + start + process).
    """
    client = engine.client()
    try:
        print(f"\npython start-up inside {image} (median of {repeats} containers):")
        for label, command in PYTHON_PROBES.items():
            process, whole = [], []
            for _ in range(repeats):
                container = client.containers.run(
                    image,
                    command,
                    detach=True,
                    network_mode="host",
                    labels={BENCH_LABEL: "python-start-up"},
                )
                try:
                    container.wait(timeout=120)
                    container.reload()
                    state = container.attrs["State"]
                    finished = _docker_time(state["FinishedAt"])
                    process.append(finished - _docker_time(state["StartedAt"]))
                    whole.append(finished - _docker_time(container.attrs["Created"]))
                finally:
                    container.remove(force=True)
            print(
                f"  {label:<30} process {statistics.median(process):.2f} s, "
                f"created to exited {statistics.median(whole):.2f} s",
                flush=True,
            )
    finally:
        client.close()


@dataclass
class BuildTimes:
    """Seconds to build the flows image on an engine with nothing (cold) and with its layers."""

    base_cold: float
    image_cold: float
    image_layers_cached: float
    image_reused: float
    size_bytes: int


def measure_image_builds(workdir: Path) -> BuildTimes:
    """Build base and flows image on a fresh ``dockerd`` with a temporary data-root.

    The harness's `find_or_start_engine` starts that engine when the one it asks does not
    answer: ``DOCKER_HOST`` points at a socket nobody serves and
    ``PLATFORM_TEST_DOCKER_DATA_ROOT`` at an empty folder, for the duration of the call.
    """
    folder = Path(tempfile.mkdtemp(prefix="bench-cold-build-", dir=workdir))
    unserved = {
        "DOCKER_HOST": f"unix://{folder / 'nobody.sock'}",
        DATA_ROOT_ENV: str(folder / "data-root"),
    }
    with environment(unserved):
        engine = find_or_start_engine(folder / "engine")
    # Built through a view of the engine that the harness does not own: the harness prunes
    # dangling images after a build on an engine it started, which would drop the build
    # stage's layers and leave nothing to rebuild from.
    view = DockerEngine(host=engine.host)
    try:
        if not engine.owned:
            raise RuntimeError("expected a fresh dockerd for the cold build")
        cold = build_flows_image(view, folder / "build")
        if cold.base.cached or cold.build.cached:
            raise RuntimeError("the cold build reused an image: the data-root was not empty")
        print(
            f"  cold: base {cold.base.seconds:.1f} s (debootstrap + import), "
            f"flows image {cold.build.seconds:.1f} s",
            flush=True,
        )
        client = view.client()
        try:
            # Untag the image but keep its layers: the next build finds every step cached.
            client.images.remove(cold.tag, noprune=True)
        finally:
            client.close()
        layered = build_flows_image(view, folder / "build")
        log = (folder / "build" / "flows-image-build.log").read_text().splitlines()
        steps = sum(" : " in line and "Step " in line for line in log)
        from_cache = sum("Using cache" in line for line in log)
        ran, step = [], ""
        for line in log:
            if "Step " in line and " : " in line:
                step = line.split("] ", 1)[-1]
            elif "Running in" in line:
                ran.append(step)
        print(
            f"  layers cached (tag removed): flows image {layered.build.seconds:.1f} s "
            f"({steps} steps: {from_cache} from the cache; ran a container: {ran or 'none'})",
            flush=True,
        )
        started = time.monotonic()
        reused = build_flows_image(view, folder / "build")
        reuse_seconds = time.monotonic() - started
        if not reused.build.cached:
            raise RuntimeError("the harness rebuilt an image whose inputs had not changed")
        print(f"  reused (inputs unchanged, no build): {reuse_seconds:.2f} s", flush=True)
        size = image_size(view, cold.tag)
        return BuildTimes(
            base_cold=cold.base.seconds,
            image_cold=cold.build.seconds,
            image_layers_cached=layered.build.seconds,
            image_reused=reuse_seconds,
            size_bytes=size,
        )
    finally:
        engine.stop()
        shutil.rmtree(folder, ignore_errors=True)
