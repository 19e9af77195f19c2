"""Rotating the auth string of the HA topology (`tests/harness/ha.py`) while flow runs execute.

Prefect 3.9.1's basic auth holds exactly one string per server process
(``PREFECT_SERVER_API_AUTH_STRING``, compared in ``prefect/server/api/server.py``), and every
client holds one too: a worker the string it started with, a flow-run process the string its
worker gave it. A rolling restart therefore always has a window in which API processes with
the old string and the new one sit behind the same balancer, and a client's request gets 401
from the processes that do not hold its string. What that costs (measured with this module):

- a worker exits (code 1) on its first 401: ``critical_service_loop`` re-raises a 4xx;
- a process worker that exits kills the flow-run processes it started
  (``prefect/runner/_process_manager.py``, on shutdown), and nothing reports them Crashed;
- a flow run whose own report of its end gets a 401 gets one for its later calls too;
- either way the run stays Running (or Pending, when its worker got the 401 while submitting
  it) for good: nothing marks it otherwise without heartbeats;
- the background-services process needs no agreement with the API processes: its clients
  (automation actions, ...) reach its own in-memory API app with its own string
  (``prefect/server/api/clients.py``).

So the rotation that loses nothing (`DrainedRotation`): pause the work pool (no run starts),
wait until the runs in flight are final and their processes have exited, stop the workers,
restart the API processes one at a time with the new string, then the services process
(`roll_servers`), start the workers with it, resume the pool. `UndrainedRotation` is the naive
order (roll while runs execute), kept deterministic with gated runs that end only after the
roll: it shows what is lost that way. Both are run by `tests/ha/test_auth_rotation.py`.
"""

from __future__ import annotations

import datetime
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.states import Scheduled

from .ha import (
    SERVER_AUTH_ENV,
    AccessEntry,
    HaTopology,
    running_workers,
    start_worker,
    worker_name,
)
from .ha_faults import FLOWS_DIR, executions_in, one_run, read_all, state_time
from .processes import ManagedProcess

IN_FLIGHT = ("PENDING", "RUNNING", "CANCELLING")
"""State types of a run that a worker has taken and not finished."""


def new_auth_string() -> str:
    """A fresh ``admin:<password>`` auth string, as the stack generates one."""
    return f"admin:{secrets.token_urlsafe(24)}"


def password(auth_string: str) -> str:
    """The password part of an auth string (what a log must never contain)."""
    return auth_string.partition(":")[2]


@dataclass(frozen=True)
class Step:
    """One step of a rotation and how long it took."""

    what: str
    seconds: float


def roll_servers(topology: HaTopology, auth_string: str) -> list[Step]:
    """Restart every server process with `auth_string`, one at a time; return the steps.

    Each API process is stopped with SIGTERM (what a rolling update sends), started with the
    new string and back in the balancer before the next one goes; then the services process.
    Meanwhile the balancer serves from the others, so the API stays up, but with the old
    string on some processes and the new one on others. The topology's `auth_string` is the
    new one once every process has it.

    Kubernetes rolls the services Deployment alongside the API one; not so here: a process
    started from another thread would be killed when that thread ends (``PR_SET_PDEATHSIG``,
    `tests/harness/processes.py`).
    """
    steps: list[Step] = []
    for name in topology.server_names:
        started = time.monotonic()
        topology.shut_down(name)
        topology.set_env(name, {SERVER_AUTH_ENV: auth_string})
        topology.restart(name)
        if name in topology.api_names:
            topology.wait_until_balanced(name)
        steps.append(Step(f"restart {name}", time.monotonic() - started))
    topology.auth_string = auth_string
    return steps


def prefect_cli(topology: HaTopology, workdir: Path, *args: str) -> float:
    """Run ``prefect <args>`` through the balancer with the topology's auth string of now.

    Its output goes to ``<workdir>/cli.log``. Returns the seconds it took; raises if it failed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **topology.client_env(workdir / "cli-home")}
    log = workdir / "cli.log"
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"$ prefect {' '.join(args)}\n".encode())
        out.flush()
        result = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"prefect {' '.join(args)} failed:\n{log.read_text()[-2000:]}")
    return time.monotonic() - started


def flow_run_processes(worker: ManagedProcess) -> list[int]:
    """Live processes of `worker`'s process group other than the worker: its flow runs.

    A process worker's flow runs stay in its process group (the deployment sets a command,
    so Prefect starts them in no session of their own).
    """
    group = worker.popen.pid
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == group:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(int(entry.name))
    return found


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition` until true; return the seconds it took (TimeoutError naming `what`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no {what} within {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def upstream_answers(
    topology: HaTopology, auth_string: str, requests: int = 10
) -> dict[str, set[int]]:
    """Statuses of ``POST /flows/filter`` with `auth_string` through the balancer, by the API
    process that answered (the ``X-Upstream`` header), over `requests` requests."""
    user, _, secret = auth_string.partition(":")
    answers: dict[str, set[int]] = {}
    with httpx.Client(timeout=10) as client:
        for _ in range(requests):
            response = client.post(
                f"{topology.api_url}/flows/filter", json={"limit": 1}, auth=(user, secret)
            )
            answers.setdefault(response.headers.get("x-upstream", "?"), set()).add(
                response.status_code
            )
    return answers


@dataclass
class Outcome:
    """What became of the runs a rotation ran under."""

    created: int
    final_states: Counter[str]
    """``TYPE:Name`` of each created run's state at the end."""
    duplicates: int
    """Runs of the deployment that were not created by the test."""
    lost: int
    """Runs created but missing from the deployment."""
    bad_histories: dict[str, list[str]]
    """Run id -> state types, for every run whose history is not one Running then Completed."""
    executions: Counter[int]
    """How many runs executed their flow body 0, 1, 2... times."""
    running_at: list[float] = field(default_factory=list)
    """When each run that got there was first Running (epoch seconds)."""

    def problems(self) -> list[str]:
        """Everything but: each run Completed, once, none lost or duplicated."""
        found: list[str] = []
        if self.final_states != Counter({"COMPLETED:Completed": self.created}):
            found.append(f"final states {dict(self.final_states)}, expected all Completed")
        if self.duplicates or self.lost:
            found.append(f"{self.duplicates} duplicated and {self.lost} lost runs")
        if self.bad_histories:
            found.append(f"state histories not Running -> Completed once: {self.bad_histories}")
        if self.executions != Counter({1: self.created}):
            found.append(f"flow bodies executed {dict(self.executions)} (times: runs)")
        return found

    def line(self) -> str:
        """One line for the report."""
        return (
            f"flow runs: {self.created} created, final states {dict(self.final_states)}, "
            f"{self.duplicates} duplicated, {self.lost} lost, {len(self.bad_histories)} with a "
            f"wrong state history, flow bodies executed (times: runs) "
            f"{dict(sorted(self.executions.items()))}"
        )


def read_outcome(
    client: SyncPrefectClient, deployment: uuid.UUID, created: Sequence[uuid.UUID], ledger: Path
) -> Outcome:
    """Read back every run of `deployment` and the ledger of flow-body executions."""
    runs = read_all(
        client, deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
    )
    wanted = set(created)
    seen = {run.id for run in runs}
    states = {
        str(run.id): sorted(client.read_flow_run_states(run.id), key=state_time)
        for run in runs
        if run.id in wanted
    }
    histories = {key: [s.type.value for s in history] for key, history in states.items()}
    return Outcome(
        created=len(wanted),
        final_states=Counter(_state(run) for run in runs if run.id in wanted),
        duplicates=len(seen - wanted),
        lost=len(wanted - seen),
        bad_histories={key: types for key, types in histories.items() if not one_run(types)},
        executions=Counter(executions_in(ledger / str(run_id)) for run_id in wanted),
        running_at=[
            state_time(first).timestamp()
            for history in states.values()
            if (first := next((s for s in history if s.type.value == "RUNNING"), None))
        ],
    )


def _state(run: FlowRun) -> str:
    return f"{run.state.type.value}:{run.state.name}" if run.state else "NONE"


@dataclass
class _Load:
    """A process pool, a deployment of `ha_flows.py:ha_step` on it, and runs of it."""

    topology: HaTopology
    workdir: Path
    pool_limit: int = 4
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def pool(self) -> str:
        """The work pool's name."""
        return f"rotation-pool-{self.tag}"

    @property
    def ledger(self) -> Path:
        """Folder of the execution ledger (one file per run, one line per execution)."""
        return self.workdir / "ledger"

    @property
    def gate(self) -> Path:
        """The file gated runs wait for."""
        return self.workdir / "gate"

    def client(self) -> SyncPrefectClient:
        """A client through the balancer with the topology's auth string of now."""
        return SyncPrefectClient(self.topology.api_url, auth_string=self.topology.auth_string)

    def deploy(self, client: SyncPrefectClient, pool: str | None = None) -> uuid.UUID:
        """Create a pool (`pool`, by default `self.pool`) and a deployment on it; its id."""
        pool = pool or self.pool
        self.ledger.mkdir(parents=True, exist_ok=True)
        client.create_work_pool(
            WorkPoolCreate(name=pool, type="process", concurrency_limit=self.pool_limit)
        )
        return client.create_deployment(
            flow_id=client.create_flow_from_name("ha-step"),
            name=f"rotation-{pool}",
            entrypoint="ha_flows.py:ha_step",
            work_pool_name=pool,
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(FLOWS_DIR)}}
            ],
            job_variables={"command": f"{sys.executable} -m prefect.engine"},
        )

    def schedule(
        self,
        client: SyncPrefectClient,
        deployment: uuid.UUID,
        count: int,
        *,
        first: int = 0,
        lead: float = 2.0,
        pace: float = 0.0,
        seconds: float = 1.0,
        gated: bool = False,
    ) -> list[uuid.UUID]:
        """Create `count` runs (indexes from `first`), the first in `lead` s, one per `pace` s."""
        start = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lead)
        gate = str(self.gate) if gated else None
        return [
            client.create_flow_run_from_deployment(
                deployment,
                parameters={
                    "index": first + i,
                    "ledger": str(self.ledger),
                    "seconds": seconds,
                    "gate": gate,
                },
                state=Scheduled(scheduled_time=start + datetime.timedelta(seconds=i * pace)),
            ).id
            for i in range(count)
        ]

    def states(self, client: SyncPrefectClient, ids: Sequence[uuid.UUID]) -> Counter[str]:
        """How many of `ids` are in each state type."""
        runs = read_all(client, flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids))))
        return Counter(run.state.type.value if run.state else "NONE" for run in runs)

    def rotation_401s(self, window: tuple[float, float]) -> list[AccessEntry]:
        """Requests the balancer answered 401 within `window` (epoch seconds)."""
        return [
            entry
            for entry in self.topology.access_entries()
            if entry.status == 401 and window[0] <= entry.time <= window[1]
        ]


@dataclass
class RotationReport:
    """What a rotation did and saw."""

    order: str
    old_auth: str = field(repr=False)
    new_auth: str = field(repr=False)
    steps: list[Step]
    seconds: float
    """From the first step of the rotation to the last."""
    window: tuple[float, float]
    """The rotation's wall-clock window (epoch seconds)."""
    in_flight: int
    """Runs Pending or Running when the rotation began."""
    unauthorized: list[AccessEntry]
    """Requests the balancer answered 401 during the rotation."""
    outcomes: dict[str, Outcome]
    """What became of each group of runs, by name."""
    worker_exit_codes: list[int | None] = field(default_factory=list)
    """Exit code of each worker of before the rotation when it was replaced (None: alive)."""
    phases: list[Step] = field(default_factory=list)
    """The whole run: before the rotation, the rotation, after it."""
    worker_processes_after_roll: int | None = None
    """Flow-run processes of the worker still alive once every server had the new string."""

    def lines(self) -> list[str]:
        """The report, as printed."""
        routes = Counter(f"{e.method} {_route(e.path)}" for e in self.unauthorized)
        return [
            f"rotation ({self.order}): {self.seconds:.1f}s, {self.in_flight} run(s) in flight "
            "when it began",
            *(f"  {step.what:<36} {step.seconds:6.1f}s" for step in self.steps),
            f"client requests answered 401 during the rotation: {len(self.unauthorized)} "
            f"{dict(routes) or ''}",
            "workers of before the rotation, exit code when it was over (None: still running): "
            f"{self.worker_exit_codes}",
            *(
                [f"flow-run processes of that worker alive after the roll: {alive}"]
                if (alive := self.worker_processes_after_roll) is not None
                else []
            ),
            *(f"{name}: {outcome.line()}" for name, outcome in self.outcomes.items()),
            "runs first Running after the rotation: "
            + ", ".join(
                f"{name} {sum(t > self.window[1] for t in outcome.running_at)}"
                for name, outcome in self.outcomes.items()
            ),
            "phases: " + ", ".join(f"{step.what} {step.seconds:.0f}s" for step in self.phases),
        ]


@dataclass
class DrainedRotation(_Load):
    """The runbook's order, under load; `run` returns its `RotationReport`.

    `runs` runs of one deployment, one per `pace` s, executed by `workers` process workers
    through the balancer; `gated` of them start first and end only once the pool is paused,
    so the drain always has runs in flight to wait for. When those are Running and
    `completed_before` others are Completed, the rotation: ``prefect work-pool pause`` (the
    CLI, through the balancer), wait until no run is in flight and no flow-run process is
    left, stop the workers, `roll_servers`, start the workers with the new string,
    ``prefect work-pool resume``. Then `after` more runs are created with the new string:
    the restarted workers must run them too.
    """

    runs: int = 20
    gated: int = 2
    after: int = 4
    workers: int = 1
    pace: float = 0.5
    flow_seconds: float = 1.0
    completed_before: int = 4

    def run(self, new_auth: str) -> RotationReport:
        """Schedule, rotate to `new_auth` midway, wait until every run is final, read back."""
        old_auth = self.topology.auth_string
        begun = time.monotonic()
        with self.client() as client:
            deployment = self.deploy(client)
            gated = self.schedule(client, deployment, self.gated, gated=True, lead=1.0)
            created = gated + self.schedule(
                client,
                deployment,
                self.runs - self.gated,
                first=self.gated,
                lead=3.0,
                pace=self.pace,
                seconds=self.flow_seconds,
            )

            def ready_to_rotate() -> bool:
                return (
                    self.states(client, gated)["RUNNING"] == self.gated
                    and self.states(client, created)["COMPLETED"] >= self.completed_before
                )

            with running_workers(self.topology, self.pool, self.workdir, self.workers) as workers:
                _wait(ready_to_rotate, 180, "gated runs Running and others Completed")
                steps: list[Step] = []
                started, started_wall = time.monotonic(), time.time()
                steps.append(Step("prefect work-pool pause", self._cli("work-pool", "pause")))
                in_flight = sum(self.states(client, created)[t] for t in IN_FLIGHT)
                self.gate.touch()
                steps.append(Step("drain: runs final", self._drain(client, created, 180)))
                steps.append(
                    Step(
                        "drain: flow-run processes exited",
                        _wait(
                            lambda: not any(flow_run_processes(w) for w in workers),
                            60,
                            "exit of the flow-run processes",
                        ),
                    )
                )
                exits = [w.popen.poll() for w in workers]
                stopping = time.monotonic()
                for worker in workers:
                    worker.stop()
                steps.append(Step("stop the workers", time.monotonic() - stopping))
                steps += roll_servers(self.topology, new_auth)
                restarted = time.monotonic()
                for index in range(len(workers)):
                    workers[index] = start_worker(
                        self.topology, self.pool, self.workdir, worker_name(index)
                    )
                steps.append(Step("start the workers (new string)", time.monotonic() - restarted))
                steps.append(Step("prefect work-pool resume", self._cli("work-pool", "resume")))
                seconds, window = time.monotonic() - started, (started_wall, time.time())
                # The restarted workers are the ones in the list now: `running_workers` stops
                # them at the end.
                with self.client() as fresh:
                    created += self.schedule(
                        fresh, deployment, self.after, first=self.runs, lead=0.0
                    )
                    self._wait_final(fresh, created, workers)
                    ended = time.monotonic()
                    outcome = read_outcome(fresh, deployment, created, self.ledger)
        return RotationReport(
            order="drained",
            old_auth=old_auth,
            new_auth=new_auth,
            steps=steps,
            seconds=seconds,
            window=window,
            in_flight=in_flight,
            unauthorized=self.rotation_401s(window),
            outcomes={"runs": outcome},
            worker_exit_codes=exits,
            phases=[
                Step("set-up and runs before the rotation", started - begun),
                Step("rotation", seconds),
                Step("runs after it", ended - started - seconds),
                Step("read-back", time.monotonic() - ended),
            ],
        )

    def _cli(self, *args: str) -> float:
        return prefect_cli(self.topology, self.workdir, *args, self.pool)

    def _drain(self, client: SyncPrefectClient, ids: Sequence[uuid.UUID], timeout: float) -> float:
        return _wait(
            lambda: not any(self.states(client, ids)[t] for t in IN_FLIGHT),
            timeout,
            "end of the runs in flight",
        )

    def _wait_final(
        self,
        client: SyncPrefectClient,
        ids: Sequence[uuid.UUID],
        workers: list[ManagedProcess],
        timeout: float = 300,
    ) -> None:
        def final() -> bool:
            if not all(w.running for w in workers):
                raise RuntimeError("a worker exited after the rotation")
            states = self.states(client, ids)
            return sum(states.values()) == len(ids) and all(
                t in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for t in states
            )

        _wait(final, timeout, "final state of every run")


@dataclass
class UndrainedRotation(_Load):
    """The naive order: `roll_servers` while runs execute, no pause, no drain.

    Two groups of gated runs, each on a deployment of its own, all with the old string:
    `worker_runs` run by a process worker (as the Docker target and process pools run them,
    in a child process of the worker), `job_runs` each by its own ``prefect flow-run execute
    <id>`` process (as a Kubernetes pool runs a flow run, in a Job of its own that outlives its
    worker). Once every run is Running every server process is restarted with the new
    string, then the gate opens: a run still alive ends (and reports its end) only after the
    whole API holds the new string, as a run longer than the rollout does. `run` waits until
    the flow-run processes have exited and reads back.
    """

    worker_runs: int = 2
    job_runs: int = 2

    def run(self, new_auth: str) -> RotationReport:
        """Start the gated runs, roll the servers under them, open the gate, read back."""
        old_auth = self.topology.auth_string
        begun = time.monotonic()
        jobs: list[ManagedProcess] = []
        worker: ManagedProcess | None = None
        with self.client() as client:
            by_worker = self.deploy(client)
            as_jobs = self.deploy(client, f"{self.pool}-jobs")
            worker_created = self.schedule(client, by_worker, self.worker_runs, gated=True)
            job_created = self.schedule(client, as_jobs, self.job_runs, gated=True, lead=0.0)
            created = worker_created + job_created
            try:
                jobs += [self._execute(run_id) for run_id in job_created]
                worker = start_worker(self.topology, self.pool, self.workdir, f"naive-{self.tag}")
                _wait(
                    lambda: self.states(client, created)["RUNNING"] == len(created),
                    180,
                    "gated runs Running",
                )
                started, started_wall = time.monotonic(), time.time()
                steps = roll_servers(self.topology, new_auth)
                exits = [worker.popen.poll()]
                left = len(flow_run_processes(worker))
                self.gate.touch()
                steps.append(
                    Step(
                        "gate open: flow-run processes exited",
                        _wait(
                            lambda: (
                                not any(p.running for p in jobs) and not flow_run_processes(worker)
                            ),
                            120,
                            "end of the flow-run processes",
                        ),
                    )
                )
                seconds, window = time.monotonic() - started, (started_wall, time.time())
            finally:
                for process in [*jobs, *([worker] if worker else [])]:
                    process.stop()
        ended = time.monotonic()
        with self.client() as fresh:
            outcomes = {
                "run by the process worker": read_outcome(
                    fresh, by_worker, worker_created, self.ledger
                ),
                "run as Jobs (flow-run execute)": read_outcome(
                    fresh, as_jobs, job_created, self.ledger
                ),
            }
        return RotationReport(
            order="undrained",
            old_auth=old_auth,
            new_auth=new_auth,
            steps=steps,
            seconds=seconds,
            window=window,
            in_flight=len(created),
            unauthorized=self.rotation_401s(window),
            outcomes=outcomes,
            worker_exit_codes=exits,
            worker_processes_after_roll=left,
            phases=[
                Step("set-up", started - begun),
                Step("rotation", seconds),
                Step("read-back", time.monotonic() - ended),
            ],
        )

    def _execute(self, run_id: uuid.UUID) -> ManagedProcess:
        """``prefect flow-run execute <id>`` through the balancer with the auth string of now."""
        name = f"flow-run-{str(run_id)[:8]}"
        return ManagedProcess(
            f"execute[{name}]",
            [sys.executable, "-m", "prefect", "flow-run", "execute", str(run_id)],
            env={**os.environ, **self.topology.client_env(self.workdir / f"{name}-home")},
            log_path=self.workdir / f"{name}.log",
            cwd=self.workdir,
        )


def _route(path: str) -> str:
    """A request path with ids folded (``/api/flow_runs/*/set_state``)."""
    return "/".join("*" if len(part) > 20 else part for part in path.split("/"))
