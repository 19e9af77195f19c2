"""Benchmark: from `git push` to the run that executes the new code reaching Completed.

A real Prefect server, a real git remote (playing GitHub) and a real process worker
polling every second, from `tests.harness`. The deployment pulls its code with the
same `git_clone` pull step as `prefect.yaml`. Each of the `--runs` rounds pushes a
new version of the flow, triggers a run, and waits until the run is Completed; the
run's logs must show the version just pushed.

Per run it reports where the time went, from the run's own state and log timestamps:

- push: `git push` to the remote;
- trigger: the API call that creates the run;
- poll: until the worker picked the run up (state Pending);
- start: the flow-run process starting (Python, `import prefect`, engine set-up) until
  it logs "Running 1 deployment pull step(s)";
- pull+load: the pull step (the clone) and importing the flow's module, until Running;
- flow: the flow itself, until Completed;
- seen: until this script saw Completed (its own 50 ms polling).

The clone alone is timed by running the pull step's own code (`GitRepository.pull_code`,
what `git_clone` calls) into an empty folder right after each run.

Then clone time against the size of the repository's history (`--sizes`, MB of
incompressible history behind a small tip): the pull step's shallow clone (depth 1,
Prefect's default), the same with sparse checkout of `flows/`, and a full clone for
comparison. The history is generated locally with `git fast-import` and deleted after.

Series (`--modes`): `default` (Prefect's two processes, no bytecode), `bytecode` (the same
with compiled bytecode), `shipped` (the pool as `pools/process-pool.yaml` declares it, with
bytecode), `tuned` (job variable `command: <this Python> -m prefect.engine`: one process),
`tuned-sparse` (plus sparse checkout of `flows/`), `warm` (a prototype: the engine is
forked from a process that imported Prefect beforehand; see `serve_warm_engine`), `docker`
(`pools/docker-pool.yaml` served by `prefect worker start --type docker`: each run is a
container of the flows image on the host's network; `benchmarks/push_to_run_docker.py`),
and `docker-tuned` (the same with job variable `command: python -m prefect.engine`).
When a pool file's `env` names a results block (`PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK:
s3-bucket/<name>`), that block is saved on the harness's S3 server, so runs write their
results as a stack's would (`ensure_results_block`).

The `docker` series splits the process series' "start" with the container's `docker
inspect` times:

- create: Pending until the container's `Created` (the worker's job set-up and the create
  call);
- ctr start: `Created` until `State.StartedAt` (the engine starting the container);
- py start: `StartedAt` until "Running 1 deployment pull step(s)" (inside the container,
  `prefect flow-run execute` starts and reads the run, then starts the workspace
  supervisor, a second interpreter, which logs that line);
- pull+load: the clone, then the supervisor `exec`s `python -m prefect.engine` (a third
  start-up) which loads the flow, until Running;
- exit (outside the total): Completed until the container's `State.FinishedAt`.

It needs a Docker engine: one answering at `DOCKER_HOST` or the default socket, else (as
root, with Debian's `docker.io` and `debootstrap`) the harness starts `dockerd` and builds
the flows image as the container tests do. After the series it times Python start-up in
containers of the image on its own (`measure_container_python`). `--image-builds` then
times the flows image's build on a fresh `dockerd` with an empty temporary data-root
(cold: debootstrap base, then the image), again with every layer cached, and the harness's
reuse check; and prints the image's size.

Usage (from the repository root; `uv run --frozen python` works as well as `.venv/bin/python`):

    .venv/bin/python benchmarks/push_to_run.py                    # 10 runs, sizes 1,50,500
    .venv/bin/python benchmarks/push_to_run.py --runs 3 --sizes 1,50
    .venv/bin/python benchmarks/push_to_run.py --modes default,bytecode,shipped,warm --sizes ''
    .venv/bin/python benchmarks/push_to_run.py --modes docker --sizes ''   # Docker pool alone
    .venv/bin/python benchmarks/push_to_run.py --modes shipped,docker --sizes '' --image-builds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.push_to_run_docker import (
    ContainerTimes,
    DockerSetup,
    container_times,
    docker_job_variables,
    docker_pool_template,
    docker_setup,
    docker_worker,
    measure_container_python,
    measure_image_builds,
)
from tests.harness.git_remote import GitRemote, create_git_remote, git
from tests.harness.live_server import LiveServer, start_prefect_server
from tests.harness.processes import ManagedProcess, environment
from tests.harness.s3 import S3Server, start_s3_server
from tests.harness.worker import running_worker

ROOT = Path(__file__).resolve().parents[1]
POOL = "bench-pool"
"""Pools are named `bench-pool-<mode>`: each series has its own pool and worker."""
FLOW_FILE = "flows/bench/version.py"
FLOW_SOURCE = '''"""Prints and returns the version pushed by the benchmark."""

from prefect import flow

VERSION = "{version}"


@flow(name="bench-version", log_prints=True)
def bench_version() -> str:
    """Print this file's version."""
    print(f"running version {{VERSION}}")
    return VERSION
'''
PULL_LOG = "deployment pull step"


@dataclass
class RunStamps:
    """When each step of one push-to-Completed round happened (epoch seconds)."""

    run_id: UUID
    pushed: float
    push_done: float
    triggered: float
    pending: float
    pull_started: float
    running: float
    completed: float
    seen: float


@dataclass
class RunTiming:
    """Seconds spent in each phase of one push-to-Completed round.

    `phases` are consecutive and add up to `total`; `after` holds figures outside the total
    (e.g. a container exiting after its run is Completed).
    """

    phases: dict[str, float]
    total: float
    clone: float = 0.0
    after: dict[str, float] = field(default_factory=dict)


def process_timing(stamps: RunStamps) -> RunTiming:
    """The phases of a process-worker round, from the run's state and log timestamps."""
    return RunTiming(
        phases={
            "push": stamps.push_done - stamps.pushed,
            "trigger": stamps.triggered - stamps.push_done,
            "poll": stamps.pending - stamps.triggered,
            "start": stamps.pull_started - stamps.pending,
            "pull+load": stamps.running - stamps.pull_started,
            "flow": stamps.completed - stamps.running,
            "seen": stamps.seen - stamps.completed,
        },
        total=stamps.seen - stamps.pushed,
    )


def docker_timing(stamps: RunStamps, container: ContainerTimes) -> RunTiming:
    """The phases of a Docker-worker round: the process phases with `start` split by
    the container's ``docker inspect`` times (Created, State.StartedAt, State.FinishedAt)."""
    return RunTiming(
        phases={
            "push": stamps.push_done - stamps.pushed,
            "trigger": stamps.triggered - stamps.push_done,
            "poll": stamps.pending - stamps.triggered,
            "create": container.created - stamps.pending,
            "ctr start": container.started - container.created,
            "py start": stamps.pull_started - container.started,
            "pull+load": stamps.running - stamps.pull_started,
            "flow": stamps.completed - stamps.running,
            "seen": stamps.seen - stamps.completed,
        },
        total=stamps.seen - stamps.pushed,
        after={"exit": container.finished - stamps.completed},
    )


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def pull_steps(url: str, branch: str, directories: list[str] | None) -> list[dict[str, Any]]:
    """The pull step of prefect.yaml with the repository resolved (no token: file://)."""
    step: dict[str, Any] = {"repository": url, "branch": branch}
    if directories:
        step["directories"] = directories
    return [{"prefect.deployments.steps.git_clone": step}]


def deploy(
    name: str,
    pool: str,
    url: str,
    branch: str,
    directories: list[str] | None,
    job_variables: dict[str, Any],
    base_job_template: dict[str, Any] | None = None,
    pool_type: str = "process",
) -> UUID:
    """Create the benchmark deployment `name` (and its pool) with the prefect.yaml pull step."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        with suppress(ObjectAlreadyExists):
            client.create_work_pool(
                WorkPoolCreate(name=pool, type=pool_type, base_job_template=base_job_template or {})
            )
        flow_id = client.create_flow_from_name("bench-version")
        return client.create_deployment(
            flow_id=flow_id,
            name=name,
            work_pool_name=pool,
            entrypoint=f"{FLOW_FILE}:bench_version",
            pull_steps=pull_steps(url, branch, directories),
            job_variables=job_variables,
            parameter_openapi_schema={"type": "object", "properties": {}},
        )


def shipped_pool_template() -> dict[str, Any]:
    """The base job template `pools/process-pool.yaml` declares (merged as the loader does)."""
    from infra.declarations.pools import WorkPoolDeclaration

    raw = yaml.safe_load((ROOT / "pools" / "process-pool.yaml").read_text())
    template: dict[str, Any] = WorkPoolDeclaration.model_validate(raw).merged_base_job_template()
    return template


_S3: list[S3Server] = []
"""The S3 server results blocks point at, started by the first pool that names one."""


def ensure_results_block(template: dict[str, Any], workdir: Path) -> None:
    """Create the `s3-bucket/<name>` block a pool's env names for results, if any.

    The kit's pools persist every run's result to the stack's object store
    (`PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`); here that is the harness's S3 server
    (SeaweedFS on loopback), so the series pay for the result write as a stack would.
    """
    from prefect_aws import S3Bucket

    env = template["variables"]["properties"].get("env", {}).get("default") or {}
    reference = env.get("PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK", "")
    kind, _, name = reference.partition("/")
    if kind != "s3-bucket" or not name:
        return
    if not _S3:
        _S3.append(start_s3_server(workdir / "s3"))
        print(f"  results: s3-bucket/{name} on the harness's S3 server", flush=True)
    s3 = _S3[0]
    S3Bucket(
        bucket_name=s3.bucket, credentials=s3.minio_credentials(), bucket_folder="push-to-run"
    ).save(name, overwrite=True)


def stop_s3() -> None:
    """Stop the S3 server `ensure_results_block` started, if it did."""
    while _S3:
        _S3.pop().stop()


def time_clone(url: str, branch: str, directories: list[str] | None = None) -> float:
    """Seconds the pull step's own code takes to clone `url` into an empty folder."""
    from prefect.runner.storage import GitRepository

    with tempfile.TemporaryDirectory(prefix="bench-clone-") as folder:
        repo = GitRepository(url=url, branch=branch, directories=directories)
        repo.set_base_path(Path(folder))
        started = time.perf_counter()
        asyncio.run(repo.pull_code())
        return time.perf_counter() - started


def one_round(remote: GitRemote, deployment_id: UUID, version: str) -> RunStamps:
    """Push `version`, run the deployment, wait for Completed, and split the time."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    (remote.work / FLOW_FILE).write_text(FLOW_SOURCE.format(version=version))
    git("add", "--all", cwd=remote.work)
    git("commit", "-q", "-m", f"version {version}", cwd=remote.work)

    with get_client(sync_client=True) as client:
        pushed_at = time.time()
        git("push", "-q", "origin", f"HEAD:{remote.branch}", cwd=remote.work)
        push_done = time.time()
        run = client.create_flow_run_from_deployment(deployment_id)
        triggered = time.time()
        while True:
            state = client.read_flow_run(run.id).state
            if state is not None and state.is_final():
                seen = time.time()
                break
            if time.time() - pushed_at > 120:
                raise TimeoutError(f"run {run.id} not final after 120 s: {state}")
            time.sleep(0.05)
        if not state.is_completed():
            raise RuntimeError(f"run {run.id} ended {state.type.value}: {state.message}")

        states = {s.type.value: _epoch(s.timestamp) for s in client.read_flow_run_states(run.id)}
        logs: list[Any] = []
        for _ in range(50):  # logs arrive in batches, shortly after the run
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
            )
            if any(f"running version {version}" in log.message for log in logs):
                break
            time.sleep(0.1)
        else:
            messages = [log.message for log in logs]
            raise RuntimeError(f"run {run.id} did not execute version {version}: {messages}")
        pull_started = min(_epoch(log.timestamp) for log in logs if PULL_LOG in log.message)

    return RunStamps(
        run_id=run.id,
        pushed=pushed_at,
        push_done=push_done,
        triggered=triggered,
        pending=states["PENDING"],
        pull_started=pull_started,
        running=states["RUNNING"],
        completed=states["COMPLETED"],
        seen=seen,
    )


@dataclass(frozen=True)
class Mode:
    """How the worker environment, the pool and the deployment are set up for one series."""

    name: str
    one_process: bool
    bytecode_cache: bool
    directories: list[str] | None = None
    shipped_pool: bool = False
    """Create the pool with `pools/process-pool.yaml`'s merged base job template."""
    warm: bool = False
    """Start runs by forking a process that has already imported Prefect (a prototype)."""
    docker: bool = False
    """A Docker pool (`pools/docker-pool.yaml`) and a docker worker: runs in containers."""


MODES = {
    # Prefect's defaults in this environment: the process worker starts a supervisor
    # process (runs the pull step) which starts the engine process; no .pyc files
    # (PYTHONDONTWRITEBYTECODE=1, as uv installs without compiling).
    "default": Mode("default", one_process=False, bytecode_cache=False),
    # Prefect's default two-process path, with compiled bytecode (`UV_COMPILE_BYTECODE=1`).
    "bytecode": Mode("bytecode", one_process=False, bytecode_cache=True),
    # Job variable `command: <the worker's python> -m prefect.engine` (one process runs the
    # pull step and the flow) and compiled bytecode.
    "tuned": Mode("tuned", one_process=True, bytecode_cache=True),
    "tuned-sparse": Mode(
        "tuned-sparse", one_process=True, bytecode_cache=True, directories=["flows"]
    ),
    # What the kit ships: the pool as pools/process-pool.yaml declares it, bytecode compiled
    # at install (the Makefile's `uv sync`), nothing set on the deployment.
    "shipped": Mode("shipped", one_process=False, bytecode_cache=True, shipped_pool=True),
    # `tuned`, but the run's process is forked from one that imported Prefect beforehand.
    "warm": Mode("warm", one_process=True, bytecode_cache=True, warm=True),
    # pools/docker-pool.yaml served by `prefect worker start --type docker`: each run is a
    # container of the flows image (compiled bytecode), on the host's network
    # (benchmarks/push_to_run_docker.py). `bytecode_cache` is for the worker's own process.
    "docker": Mode("docker", one_process=False, bytecode_cache=True, docker=True),
    # `docker` with job variable `command: python -m prefect.engine` (one process in the
    # container instead of `prefect flow-run execute` + supervisor + engine).
    "docker-tuned": Mode("docker-tuned", one_process=True, bytecode_cache=True, docker=True),
}


# -- a warm engine (prototype, measured only) ----------------------------------------------
#
# The run's command is a stdlib-only client (`python -I -S`, no site-packages: ~20 ms)
# that sends its environment and working directory over a Unix socket to a process that
# imported Prefect beforehand. That process forks; the child takes the run's environment
# and runs `prefect.engine` as `python -m prefect.engine` would, and the client exits with
# its status. Not handled (reasons not to ship it as is): signals (cancelling the run kills
# the client, not the engine), the run's stdout (goes to the warm process's log), imports
# or settings the warm process holds from before the fork.

WARM_CLIENT = (
    "import json,os,socket,sys;"
    "s=socket.socket(socket.AF_UNIX);s.connect(sys.argv[1]);"
    "s.sendall(json.dumps({'env':dict(os.environ),'cwd':os.getcwd()}).encode()+b'\\n');"
    "sys.exit(int(s.makefile().readline() or 1))"
)


def warm_client_command(socket_path: Path) -> str:
    """The job variable `command` that hands the run to the warm engine at `socket_path`."""
    return shlex.join([sys.executable, "-I", "-S", "-c", WARM_CLIENT, str(socket_path)])


def serve_warm_engine(socket_path: Path) -> None:
    """Import Prefect, then fork one engine per connection on `socket_path` (never returns)."""
    import atexit
    import json
    import runpy
    import signal
    import socket
    import threading

    import prefect.deployments.steps
    import prefect.engine
    import prefect.flow_engine
    import prefect.runner.storage  # noqa: F401  (what a run imports: the point of the test)

    print(f"warm: threads before serving: {[t.name for t in threading.enumerate()]}", flush=True)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(socket_path))
    listener.listen()
    print("warm: ready", flush=True)
    while True:
        connection, _ = listener.accept()
        request = json.loads(connection.makefile().readline())
        if os.fork():
            connection.close()
            continue
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the engine waits for `git`
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        sys.modules.pop("prefect.engine", None)
        sys.argv = ["prefect.engine"]
        status = 1
        try:
            runpy.run_module("prefect.engine", run_name="__main__")
            status = 0
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        finally:
            atexit._run_exitfuncs()  # what interpreter exit does: flushes the run's API logs
            connection.sendall(f"{status}\n".encode())
            os._exit(status)


@contextmanager
def warm_engine(socket_path: Path, workdir: Path, enabled: bool) -> Iterator[None]:
    """Run `serve_warm_engine` while the block runs (nothing when not `enabled`)."""
    if not enabled:
        yield
        return
    log = workdir / "warm-engine.log"
    process = ManagedProcess(
        "warm-engine",
        [sys.executable, str(Path(__file__).resolve()), "--warm-engine", str(socket_path)],
        env=dict(os.environ),
        log_path=log,
        cwd=workdir,
    )
    try:
        process.wait_until(lambda: "warm: ready" in log.read_text(), 120, "warm engine start-up")
        yield
    finally:
        process.stop()


@contextmanager
def worker_environment(mode: Mode, workdir: Path) -> Iterator[None]:
    """Set the environment the worker (and its flow runs) inherit for `mode`."""
    values: dict[str, str | None] = {}
    if mode.bytecode_cache:
        values = {"PYTHONDONTWRITEBYTECODE": None, "PYTHONPYCACHEPREFIX": str(workdir / "pycache")}
    with environment(values):
        yield


def _worker(
    mode: Mode, server: LiveServer, pool: str, folder: Path, docker: DockerSetup | None
) -> AbstractContextManager[object]:
    if mode.docker:
        assert docker is not None
        return docker_worker(server, pool, folder, docker.engine.host)
    return running_worker(server, pool, folder)


def measure_push_to_run(
    server: LiveServer,
    workdir: Path,
    runs: int,
    mode: Mode,
    docker: DockerSetup | None = None,
) -> list[RunTiming]:
    """`runs` rounds of push -> run -> Completed with a real worker polling every second."""
    folder = workdir / mode.name
    remote = create_git_remote(folder / "git", name="platform")
    remote.push_files({FLOW_FILE: FLOW_SOURCE.format(version="v0")}, "initial")
    job_variables: dict[str, Any] = {}
    if mode.one_process:
        # In a container, `python` is the flows image's virtual environment (first on PATH).
        python = "python" if mode.docker else sys.executable
        job_variables["command"] = f"{python} -m prefect.engine"
    if mode.warm:
        job_variables["command"] = warm_client_command(folder / "warm.sock")
    if mode.docker:
        job_variables.update(docker_job_variables())
    template = None
    if mode.shipped_pool:
        template = shipped_pool_template()
    if mode.docker:
        template = docker_pool_template(remote)
    if template is not None:
        ensure_results_block(template, workdir)
    pool = f"{POOL}-{mode.name}"
    deployment_id = deploy(
        f"push-to-run-{mode.name}",
        pool,
        remote.url,
        remote.branch,
        mode.directories,
        job_variables,
        template,
        pool_type="docker" if mode.docker else "process",
    )

    def timed_round(version: str) -> RunTiming:
        stamps = one_round(remote, deployment_id, version)
        if not mode.docker:
            return process_timing(stamps)
        assert docker is not None
        return docker_timing(stamps, container_times(docker.engine, stamps.run_id))

    timings: list[RunTiming] = []
    with (
        worker_environment(mode, folder),
        warm_engine(folder / "warm.sock", folder, enabled=mode.warm),
        _worker(mode, server, pool, folder, docker),
    ):
        timed_round("warm-up")  # first run: worker and caches warm up
        for index in range(runs):
            timing = timed_round(f"v{index + 1}")
            timing.clone = time_clone(remote.url, remote.branch, mode.directories)
            timings.append(timing)
            phases = ", ".join(f"{name} {value:.2f}" for name, value in timing.phases.items())
            after = "".join(f"; {name} {value:.2f}" for name, value in timing.after.items())
            print(
                f"  run {index + 1:2d}: total {timing.total:5.2f} s  ({phases}; "
                f"clone {timing.clone:.3f}{after})",
                flush=True,
            )
    return timings


def summarize(label: str, timings: list[RunTiming]) -> dict[str, float]:
    """Print median/p90 of each phase and return the headline figures."""
    totals = [t.total for t in timings]
    clone_share = [t.clone / t.total for t in timings]
    print(f"\n{label}: {len(timings)} runs")
    rows: dict[str, list[float]] = {"total": totals}
    for timing in timings:
        for name, value in {**timing.phases, "clone": timing.clone, **timing.after}.items():
            rows.setdefault(name, []).append(value)
    for phase, values in rows.items():
        median, p90 = statistics.median(values), percentile(values, 0.9)
        print(f"  {phase:<10} median {median:5.2f} s   p90 {p90:5.2f} s")
    print(f"  clone share of total: median {statistics.median(clone_share):.1%}")
    return {
        "median": statistics.median(totals),
        "p90": percentile(totals, 0.9),
        "clone_share": statistics.median(clone_share),
    }


def _fast_import_stream(megabytes: int, chunk_mb: int) -> Iterator[bytes]:
    """A `git fast-import` stream: `megabytes` of random history behind a small tip."""
    commits = max(1, megabytes // chunk_mb)
    stamp = 1767225600  # 2026-01-01, fixed so the stream is reproducible in shape
    for index in range(commits):
        blob = os.urandom(chunk_mb * 1024 * 1024)
        message = f"history {index}".encode()
        yield b"commit refs/heads/main\n"
        yield b"committer bench <bench@example.invalid> %d +0000\n" % (stamp + index)
        yield b"data %d\n%s\n" % (len(message), message)
        yield b"M 644 inline data/history.bin\n"
        yield b"data %d\n" % len(blob)
        yield blob
        yield b"\n"
    # The tip: the history blob is gone, only the flow remains.
    source = FLOW_SOURCE.format(version="sized").encode()
    message = b"tip"
    yield b"commit refs/heads/main\n"
    yield b"committer bench <bench@example.invalid> %d +0000\n" % (stamp + commits)
    yield b"data %d\n%s\n" % (len(message), message)
    yield b"D data/history.bin\n"
    yield b"M 644 inline %s\n" % FLOW_FILE.encode()
    yield b"data %d\n%s\n" % (len(source), source)


def make_sized_repo(folder: Path, megabytes: int) -> str:
    """A bare repository with about `megabytes` MB of history; returns its file:// URL."""
    bare = folder / f"history-{megabytes}mb.git"
    git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=folder)
    chunk = 1 if megabytes <= 50 else 5
    process = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=bare, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for piece in _fast_import_stream(megabytes, chunk):
        process.stdin.write(piece)
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError(f"git fast-import failed for {megabytes} MB")
    git("repack", "-a", "-d", "-q", cwd=bare)
    return bare.as_uri()


def _full_clone(url: str) -> Callable[[], float]:
    def run() -> float:
        with tempfile.TemporaryDirectory(prefix="bench-full-") as folder:
            started = time.perf_counter()
            subprocess.run(
                ["git", "clone", "-q", "--branch", "main", url, str(Path(folder) / "repo")],
                check=True,
            )
            return time.perf_counter() - started

    return run


def measure_clone_vs_size(workdir: Path, sizes: list[int], repeats: int = 3) -> None:
    """Print clone times (median of `repeats`) for repositories of `sizes` MB of history."""
    print(f"\nclone time vs history size (median of {repeats}):")
    header = ("history", "on disk", "git_clone step", "+ sparse flows/", "full clone")
    print("  {:>8} {:>8} {:>15} {:>16} {:>11}".format(*header))
    for megabytes in sizes:
        folder = Path(tempfile.mkdtemp(prefix="bench-history-", dir=workdir))
        try:
            url = make_sized_repo(folder, megabytes)
            on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
            shallow = statistics.median(time_clone(url, "main") for _ in range(repeats))
            sparse = statistics.median(time_clone(url, "main", ["flows"]) for _ in range(repeats))
            full = statistics.median(_full_clone(url)() for _ in range(repeats))
            print(
                f"  {megabytes:>5} MB {on_disk:>6.0f} MB {shallow:>13.3f} s {sparse:>14.3f} s "
                f"{full:>9.3f} s",
                flush=True,
            )
        finally:
            shutil.rmtree(folder)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


#: The rows of `print_phase_table`: the process series' "start" is, in the docker series,
#: the sum of the three rows under it.
DOCKER_START = ("create", "ctr start", "py start")
TABLE_ROWS = (
    "total",
    "push",
    "trigger",
    "poll",
    "start",
    *DOCKER_START,
    "pull+load",
    "flow",
    "seen",
    "clone",
    "exit",
)


def _row_value(timing: RunTiming, name: str) -> float | None:
    """`timing`'s seconds for the table row `name`, or None when its series has no such row."""
    figures = {"total": timing.total, "clone": timing.clone, **timing.phases, **timing.after}
    if name == "start" and name not in figures and all(p in figures for p in DOCKER_START):
        return sum(figures[part] for part in DOCKER_START)
    return figures.get(name)


def print_phase_table(series: dict[str, list[RunTiming]]) -> None:
    """Median (p90) of every phase, one column per series, as a Markdown table."""
    print("\nphases, median (p90), seconds:")
    print("| phase | " + " | ".join(f"`{label}`" for label in series) + " |")
    print("|---|" + "---|" * len(series))
    for name in TABLE_ROWS:
        cells = []
        for timings in series.values():
            values = [v for v in (_row_value(t, name) for t in timings) if v is not None]
            cells.append(
                f"{statistics.median(values):.2f} ({percentile(values, 0.9):.2f})"
                if values
                else "-"
            )
        if set(cells) != {"-"}:
            label = f"↳ {name}" if name in DOCKER_START else name
            print(f"| {label} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="measured rounds (default 10)")
    parser.add_argument(
        "--modes",
        default="default,tuned",
        help=f"comma-separated series among {', '.join(MODES)} (default: default,tuned)",
    )
    parser.add_argument(
        "--sizes", default="1,50,500", help="MB of history for the clone series ('' to skip)"
    )
    parser.add_argument(
        "--image-builds",
        action="store_true",
        help="then time the flows image's build: cold (a fresh dockerd), layers cached, reused",
    )
    parser.add_argument("--warm-engine", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_engine:
        serve_warm_engine(args.warm_engine)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    modes = [MODES[name.strip()] for name in args.modes.split(",") if name.strip()]

    print(f"load average at start: {load_average()} ({os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-push-to-run-") as tmp:
        workdir = Path(tmp)
        results: dict[str, dict[str, float]] = {}
        series: dict[str, list[RunTiming]] = {}
        with ExitStack() as stack:
            docker = None
            if any(mode.docker for mode in modes):
                docker = stack.enter_context(docker_setup(workdir))
            server = start_prefect_server(
                workdir / "server", os.environ.get("PLATFORM_TEST_DATABASE_URL")
            )
            stack.callback(server.stop)
            stack.callback(stop_s3)
            os.environ.update(server.client_env())
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
            for mode in modes:
                print(f"\n== {mode.name}: push to Completed, worker poll 1 s ==", flush=True)
                timings = measure_push_to_run(server, workdir, args.runs, mode, docker)
                series[mode.name] = timings
                results[mode.name] = summarize(mode.name, timings)
                print(f"  load average after {mode.name}: {load_average()}", flush=True)
            if docker is not None:
                measure_container_python(docker.engine, docker.image.tag)
        print("\nsummary:")
        for name, figures in results.items():
            print(
                f"  {name:<13} median {figures['median']:.2f} s  p90 {figures['p90']:.2f} s  "
                f"clone share {figures['clone_share']:.1%}"
            )
        if series:
            print_phase_table(series)
        if docker is not None:
            print(
                f"\nflows image {docker.image.tag}: {docker.size_bytes / 1e6:.0f} MB "
                f"(docker image inspect Size, {docker.size_bytes} bytes)"
            )
        if sizes:
            measure_clone_vs_size(workdir, sizes)
        if args.image_builds:
            print(f"\nflows image builds (load average {load_average()}):", flush=True)
            builds = measure_image_builds(workdir)
            print(
                f"  cold: base {builds.base_cold:.1f} s + image {builds.image_cold:.1f} s; "
                f"layers cached {builds.image_layers_cached:.1f} s; "
                f"reused {builds.image_reused:.2f} s; size {builds.size_bytes / 1e6:.0f} MB"
            )
            print(f"  load average after the builds: {load_average()}")
    print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
