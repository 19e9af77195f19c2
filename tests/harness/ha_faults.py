"""A fault run on the HA topology: flow runs under load while its processes are killed.

`FaultRun` deploys `tests/ha/ha_flows.py:ha_step` (from its local folder) to a process pool
served by real process workers talking through the balancer, schedules `runs` flow runs of
it spread over the fault window, and meanwhile kills and restarts processes of the topology
one after the other (`FAULTS`). Then it reads back what happened:

- every run: its final state, its state history (one Running, one Completed, in order), and
  how many times the flow body really ran (each execution appends a line to a ledger file
  named after the run);
- the deployment's runs: exactly the ones created (none lost, none duplicated);
- an automation (event ``ha.probe`` -> pause a marker deployment) fired before the faults,
  after each fault of the services or Redis, and after all of them;
- what clients saw: every request in the balancer's access log, 5xx answers (failures a
  client saw) and requests nginx retried on another API process.

Time to recover, per fault, from the SIGKILL: for an API process, until the restarted
process answers ``/api/health`` and the balancer sends it requests again (it keeps serving
from the other one meanwhile); for the services process and Redis, until an automation
fires again (an event posted after the restart has paused the marker deployment), which
needs the whole path API -> Redis -> triggers -> actions -> API; for Redis, also until every
API process answers requests that need Redis again (it reconnects after Redis is back).

Used by `tests/ha/test_faults.py` (CI size) and `benchmarks/ha_faults.py` (full size).
"""

from __future__ import annotations

import datetime
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from prefect.events.actions import PauseDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.states import Scheduled

from .ha import REDIS, SERVICES, AccessEntry, HaTopology, api_name, running_workers

FLOWS_DIR = Path(__file__).resolve().parent.parent / "ha"
"""The folder of `ha_flows.py`, which the deployment runs from (no pull from git)."""

FAULTS = (api_name(0), SERVICES, REDIS, api_name(1))
"""The processes killed and restarted, in order."""

REDIS_RECONNECT = 30.0
"""Seconds after a Redis restart during which a 500 still counts as the Redis fault's.

Measured (Prefect 3.9.1, docket): after Redis is back and every API process has answered
three Redis-bound requests, an API process still answers a worker's poll with 500 now and
then for some seconds: connections of its pools that broke with Redis fail once when next
used. The report prints how long after the restart the last one came.
"""

PROBE_EVENT = "ha.probe"
"""The event the probe automation reacts to."""


@dataclass
class Fault:
    """One process killed and restarted."""

    process: str
    killed_at: float
    """When the SIGKILL went out (seconds since the run started)."""
    down: float
    """Seconds the process was left dead before the restart."""
    restart: float
    """Seconds from the restart until the process was ready."""
    recovered: float
    """Seconds from the SIGKILL until the topology was whole again (see the module doc)."""
    window: tuple[float, float] = (0.0, 0.0)
    """Wall-clock (epoch) seconds from the SIGKILL until the restarted process was ready (an
    API process: back in the balancer)."""

    @property
    def grace(self) -> float:
        """Seconds after `window` that still count as this fault's (see `REDIS_RECONNECT`)."""
        return REDIS_RECONNECT if self.process == REDIS else 2.0

    def covers(self, entry: AccessEntry) -> bool:
        """Whether the balancer answered `entry` while this process was down (plus `grace`)."""
        return self.window[0] <= entry.time <= self.window[1] + self.grace

    def lag(self, entry: AccessEntry) -> float:
        """Seconds from the end of `window` (the process back) to `entry` (<= 0: during it)."""
        return entry.time - self.window[1]


@dataclass
class FaultReport:
    """What a fault run did and saw."""

    runs: int
    faults: list[Fault]
    final_states: Counter[str]
    duplicates: int
    """Runs of the deployment that were not created by the run (0 when none was duplicated)."""
    lost: int
    """Runs created but missing from the deployment."""
    bad_histories: dict[str, list[str]]
    """Run id -> state types, for every run whose history is not one Running then Completed."""
    executions: Counter[int]
    """How many runs executed their flow body 0, 1, 2... times."""
    automation_seconds: list[float]
    """Latency of each automation probe (event posted -> action done), in order."""
    requests: int
    failed_requests: list[AccessEntry]
    """Requests the balancer answered with a 5xx: failures a client saw."""
    retried_requests: int
    """Requests nginx sent to a second API process after the first failed."""
    seconds: float

    def owner(self, entry: AccessEntry) -> Fault | None:
        """The fault a 5xx belongs to: a Redis fault covering it first, else the first one."""
        covering = [fault for fault in self.faults if fault.covers(entry)]
        return next((f for f in covering if f.process == REDIS), covering[0] if covering else None)

    def failures_during(self, process: str) -> list[AccessEntry]:
        """The 5xx that belong to a fault of `process` (see `owner`)."""
        return [e for e in self.failed_requests if (o := self.owner(e)) and o.process == process]

    def failures_outside(self, processes: Sequence[str]) -> list[AccessEntry]:
        """The 5xx answered at any other time than while one of `processes` was down."""
        windows = [fault for fault in self.faults if fault.process in processes]
        return [e for e in self.failed_requests if not any(f.covers(e) for f in windows)]

    @property
    def max_recovery(self) -> float:
        """The longest time to recover of any fault."""
        return max((fault.recovered for fault in self.faults), default=0.0)

    def problems(self, tolerated: Sequence[str] = ()) -> list[str]:
        """What went wrong (empty: every run final exactly once, nothing lost, no 5xx).

        5xx answered while one of the `tolerated` processes was down are not counted here
        (`failures_during` lists them).
        """
        found: list[str] = []
        if self.final_states != Counter({"COMPLETED": self.runs}):
            found.append(f"final states {dict(self.final_states)}, expected {self.runs} COMPLETED")
        if self.duplicates or self.lost:
            found.append(f"{self.duplicates} duplicated and {self.lost} lost runs")
        if self.bad_histories:
            found.append(f"state histories not Running -> Completed once: {self.bad_histories}")
        if self.executions != Counter({1: self.runs}):
            found.append(f"flow bodies executed {dict(self.executions)} (times: runs)")
        failed = self.failures_outside(tolerated)
        if failed:
            found.append(f"clients saw {len(failed)} 5xx: {failed[:10]}")
        return found

    def lines(self) -> list[str]:
        """The report, as printed."""
        out = [
            f"flow runs: {self.runs} scheduled, final states {dict(self.final_states)}, "
            f"{self.duplicates} duplicated, {self.lost} lost, "
            f"{len(self.bad_histories)} with a wrong state history",
            f"flow bodies executed (times: runs): {dict(sorted(self.executions.items()))}",
            f"faults injected: {len(self.faults)}",
        ]
        for fault in self.faults:
            out.append(
                f"  t={fault.killed_at:6.1f}s  SIGKILL {fault.process:<9} down {fault.down:4.1f}s, "
                f"restart ready in {fault.restart:5.1f}s, recovered {fault.recovered:5.1f}s "
                "after the kill"
            )
        out += [
            f"max time to recover: {self.max_recovery:.1f}s",
            "automation probes (event -> action): "
            + ", ".join(f"{s:.1f}s" for s in self.automation_seconds),
            f"client requests through the balancer: {self.requests}, failed (5xx): "
            f"{len(self.failed_requests)}, retried on another API process: "
            f"{self.retried_requests}",
        ]
        for process in dict.fromkeys(fault.process for fault in self.faults):
            during = self.failures_during(process)
            paths = Counter(f"{e.method} {_route(e.path)}" for e in during)
            after = [
                max(0.0, min(f.lag(e) for f in self.faults if f.process == process and f.covers(e)))
                for e in during
            ]
            late = f", the last {max(after):.1f}s after it was back" if any(after) else ""
            out.append(
                f"  5xx while {process} was down or reconnecting: {len(during)} "
                f"{dict(paths) or ''}{late}"
            )
        out += [
            f"wall time: {self.seconds:.0f}s",
        ]
        return out


@dataclass
class FaultRun:
    """Set up a deployment, a probe automation and workers on `topology`, then `run`."""

    topology: HaTopology
    workdir: Path
    runs: int
    workers: int = 2
    pool_limit: int = 4
    """Concurrency limit of the pool: flow-run processes at once (CPU on a small machine)."""
    flow_seconds: float = 1.0
    down_seconds: float = 3.0
    """How long each killed process stays dead before its restart."""
    pace: float = 1.5
    """Seconds between two scheduled start times."""
    _tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def _pool(self) -> str:
        return f"ha-pool-{self._tag}"

    def run(self, faults: Sequence[str] = FAULTS) -> FaultReport:
        """Schedule the runs, inject `faults` while they run, wait for all, read back."""
        started = time.monotonic()
        ledger = self.workdir / "ledger"
        ledger.mkdir(parents=True, exist_ok=True)
        pool = self._pool
        with self._client() as client:
            client.create_work_pool(
                WorkPoolCreate(name=pool, type="process", concurrency_limit=self.pool_limit)
            )
            deployment, marker = self._deploy(client, pool)
            self._automate(client, marker)
            probes = [self._probe(client, marker, timeout=120)]
            first = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
            created = {
                client.create_flow_run_from_deployment(
                    deployment,
                    parameters={"index": i, "ledger": str(ledger), "seconds": self.flow_seconds},
                    state=Scheduled(
                        scheduled_time=first + datetime.timedelta(seconds=i * self.pace)
                    ),
                ).id
                for i in range(self.runs)
            }
            done: list[Fault] = []
            with running_workers(self.topology, pool, self.workdir, self.workers):
                time.sleep(5)
                for process in faults:
                    fault, probe = self._inject(client, process, marker, started)
                    done.append(fault)
                    probes += probe
                    time.sleep(5)
                self._wait_final(client, created, timeout=max(180.0, self.runs * 3.0))
            probes.append(self._probe(client, marker, timeout=120))
            return self._read_back(client, deployment, created, ledger, done, probes, started)

    def _client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.topology.api_url, auth_string=self.topology.auth_string)

    def _deploy(self, client: SyncPrefectClient, pool: str) -> tuple[uuid.UUID, uuid.UUID]:
        flow_id = client.create_flow_from_name("ha-step")
        common = {
            "flow_id": flow_id,
            "entrypoint": "ha_flows.py:ha_step",
            "work_pool_name": pool,
            "pull_steps": [
                {"prefect.deployments.steps.set_working_directory": {"directory": str(FLOWS_DIR)}}
            ],
            "job_variables": {"command": f"{sys.executable} -m prefect.engine"},
        }
        deployment = client.create_deployment(name=f"ha-runs-{self._tag}", **common)  # type: ignore[arg-type]
        marker = client.create_deployment(name=f"ha-marker-{self._tag}", **common)  # type: ignore[arg-type]
        return deployment, marker

    def _automate(self, client: SyncPrefectClient, marker: uuid.UUID) -> None:
        client.create_automation(
            AutomationCore(
                name=f"ha-probe-{self._tag}",
                trigger=EventTrigger(
                    expect={PROBE_EVENT},
                    match={"prefect.resource.id": f"ha.probe.{self._tag}.*"},
                    posture=Posture.Reactive,
                    threshold=1,
                ),
                actions=[PauseDeployment(source="selected", deployment_id=marker)],
            )
        )

    def _probe(self, client: SyncPrefectClient, marker: uuid.UUID, timeout: float) -> float:
        """Post a probe event until the automation pauses the marker deployment; the latency.

        One event per 10 s: the first after the automation is created (or after a restart)
        may come before the triggers service has loaded it.
        """
        client.resume_deployment(marker)
        started = time.monotonic()
        posted = 0.0
        while time.monotonic() - started < timeout:
            if time.monotonic() - posted > 10:
                posted = time.monotonic()
                self._post_probe()
            if client.read_deployment(marker).paused:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"the probe automation did not fire within {timeout:.0f}s")

    def _post_probe(self) -> None:
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.datetime.now(datetime.UTC).isoformat(),
            "event": PROBE_EVENT,
            "resource": {"prefect.resource.id": f"ha.probe.{self._tag}.{uuid.uuid4().hex[:8]}"},
        }
        for _ in range(10):
            try:
                response = httpx.post(
                    f"{self.topology.api_url}/events",
                    json=[event],
                    auth=self.topology.auth,
                    timeout=10,
                )
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 204:
                return
            time.sleep(1)
        raise RuntimeError(f"could not post a probe event: {response and response.text}")

    def _wait_until_apis_reach_redis(self, timeout: float = 120) -> None:
        """Wait until every API process answers a request that needs Redis, three times in a row.

        A worker's poll (``get_scheduled_flow_runs``) queues Docket tasks in Redis: it answers
        500 until the process has reconnected, which takes longer than Redis's own restart.
        Asked of each API process directly, so these requests are not in the balancer's log.
        """
        deadline = time.monotonic() + timeout
        for port in self.topology.api_ports:
            url = f"http://127.0.0.1:{port}/api/work_pools/{self._pool}/get_scheduled_flow_runs"
            streak = 0
            while streak < 3:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"API on {port} did not reach Redis within {timeout:.0f}s")
                try:
                    ok = httpx.post(url, json={}, auth=self.topology.auth, timeout=10).is_success
                except httpx.HTTPError:
                    ok = False
                streak = streak + 1 if ok else 0
                time.sleep(0.2)

    def _inject(
        self, client: SyncPrefectClient, process: str, marker: uuid.UUID, started: float
    ) -> tuple[Fault, list[float]]:
        killed, killed_wall = time.monotonic(), time.time()
        self.topology.kill(process)
        time.sleep(self.down_seconds)
        restart = self.topology.restart(process)
        probes: list[float] = []
        if process in self.topology.api_names:
            self.topology.wait_until_balanced(process)
        if process == REDIS:
            self._wait_until_apis_reach_redis()
        ready_wall = time.time()
        if process in (SERVICES, REDIS):
            probes.append(self._probe(client, marker, timeout=180))
        fault = Fault(
            process=process,
            killed_at=killed - started,
            down=self.down_seconds,
            restart=restart,
            recovered=time.monotonic() - killed,
            window=(killed_wall, ready_wall),
        )
        return fault, probes

    def _wait_final(self, client: SyncPrefectClient, ids: set[uuid.UUID], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = read_all(
                client, flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids)))
            )
            if len(runs) == len(ids) and all(run.state and run.state.is_final() for run in runs):
                return
            time.sleep(2)

    def _read_back(
        self,
        client: SyncPrefectClient,
        deployment: uuid.UUID,
        created: set[uuid.UUID],
        ledger: Path,
        faults: list[Fault],
        probes: list[float],
        started: float,
    ) -> FaultReport:
        runs = read_all(
            client, deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
        )
        seen = {run.id for run in runs}
        final = Counter(
            run.state.type.value if run.state else "NONE" for run in runs if run.id in created
        )
        histories = {
            str(run.id): [
                s.type.value for s in sorted(client.read_flow_run_states(run.id), key=state_time)
            ]
            for run in runs
            if run.id in created
        }
        bad = {run_id: types for run_id, types in histories.items() if not one_run(types)}
        executions = Counter(executions_in(ledger / str(run_id)) for run_id in created)
        entries = self.topology.access_entries()
        return FaultReport(
            runs=len(created),
            faults=faults,
            final_states=final,
            duplicates=len(seen - created),
            lost=len(created - seen),
            bad_histories=bad,
            executions=executions,
            automation_seconds=probes,
            requests=len(entries),
            failed_requests=[entry for entry in entries if entry.status >= 500],
            retried_requests=sum(entry.retried for entry in entries),
            seconds=time.monotonic() - started,
        )


PAGE = 200
"""The server's largest page (`PREFECT_API_DEFAULT_LIMIT`)."""


def read_all(client: SyncPrefectClient, **filters: Any) -> list[FlowRun]:
    """Every flow run matching the filters, page by page."""
    runs: list[FlowRun] = []
    while True:
        page = client.read_flow_runs(**filters, limit=PAGE, offset=len(runs))
        runs += page
        if len(page) < PAGE:
            return runs


def state_time(state: object) -> datetime.datetime:
    """When a state was set (for sorting a run's history)."""
    stamp = getattr(state, "timestamp", None)
    assert isinstance(stamp, datetime.datetime)
    return stamp


def one_run(types: list[str]) -> bool:
    """One Running, then one Completed, and Completed last."""
    return (
        types.count("RUNNING") == 1
        and types.count("COMPLETED") == 1
        and types[-1] == "COMPLETED"
        and types.index("RUNNING") < types.index("COMPLETED")
    )


def _route(path: str) -> str:
    """A request path with its ids and names folded, to count requests by route."""
    parts = path.split("/")
    return "/".join(
        "*" if len(part) > 20 or (i == 3 and len(parts) > 4) else part
        for i, part in enumerate(parts)
    )


def executions_in(path: Path) -> int:
    """How many times a run's body executed: the lines of its ledger file."""
    return len(path.read_text().splitlines()) if path.exists() else 0
