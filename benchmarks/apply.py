"""Apply benchmark: the kit's providers vs Prefect's CLI vs a plain client script.

Each contender gets a FRESH Prefect server (the test harness's, SQLite or a new
PostgreSQL database) and creates the same objects: pools, deployments (one
cron schedule each), automations (pause a named pool when a run fails) and
global concurrency limits. Then:

- kit: every object through its provider's ``check`` + ``create``, in
  parallel as Pulumi's engine would (pools first: the rest depends on them);
  then the unchanged re-apply the engine does (``check`` + ``diff`` for each
  resource, no writes) and, for reference, a full ``read`` of every object
  (what ``pulumi refresh`` costs);
- cli: ``prefect work-pool create``, ``prefect gcl create``, ``prefect
  automation create --from-file`` (one file per automation, as in
  ``automations/``) and ``prefect --no-prompt deploy --all`` on a generated
  prefect.yaml, then that ``deploy --all`` again unchanged;
- plain: one process with Prefect's async client creating everything as fast
  as the server allows (same concurrency as the kit).

Requests are counted in the client processes (``request_log``); a write is any
PUT/PATCH/DELETE or a POST that is not a query (``/filter``, ``/count``...).

Run: ``.venv/bin/python -m benchmarks.apply [--database-url URL] [--cli-scale 0.2]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.request_log import install, summarize
from infra.providers import (
    AutomationProvider,
    DeploymentProvider,
    GlobalConcurrencyLimitProvider,
    WorkPoolProvider,
)
from infra.providers._base import PrefectProvider
from infra.providers.client import Connection
from tests.harness.live_server import LiveServer, start_prefect_server

ROOT = Path(__file__).resolve().parent.parent
FLOWS = 10
TRIGGER = {
    "type": "event",
    "posture": "Reactive",
    "expect": ["prefect.flow-run.Failed"],
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "threshold": 1,
    "within": 0,
}
PULL_STEPS = [
    {
        "prefect.deployments.steps.git_clone": {
            "repository": "https://github.com/example/platform.git",
            "branch": "main",
        }
    }
]
PARAMETER_SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {"name": {"default": "world", "position": 0, "title": "name", "type": "string"}},
}


@dataclass(frozen=True)
class Workload:
    """How many objects of each kind to apply."""

    pools: int
    deployments: int
    automations: int
    limits: int

    def scaled(self, factor: float) -> Workload:
        """The same mix, `factor` times as many (at least one of each)."""
        return Workload(
            *(
                max(1, round(n * factor))
                for n in (self.pools, self.deployments, self.automations, self.limits)
            )
        )

    @property
    def total(self) -> int:
        """Objects in all."""
        return self.pools + self.deployments + self.automations + self.limits

    def pool_inputs(self) -> list[dict[str, Any]]:
        """Work pools as the declarations loader passes them."""
        from prefect.workers.process import ProcessWorker

        template = ProcessWorker.get_default_base_job_template()
        return [
            {
                "name": f"bench-pool-{i}",
                "type": "process",
                "description": f"pool {i}",
                "concurrency_limit": 10,
                "paused": False,
                "base_job_template": template,
            }
            for i in range(self.pools)
        ]

    def deployment_inputs(self) -> list[dict[str, Any]]:
        """Deployments spread over the pools and FLOWS flows, one cron schedule each."""
        return [
            {
                "name": f"bench-{i}",
                "flow_name": f"bench-flow-{i % FLOWS}",
                "entrypoint": f"bench_flows.py:bench_flow_{i % FLOWS}",
                "work_pool_name": f"bench-pool-{i % self.pools}",
                "work_queue_name": None,
                "description": f"deployment {i}",
                "version": None,
                "tags": ["bench"],
                "parameters": {"name": f"run-{i}"},
                "job_variables": {"env": {"BENCH": str(i)}},
                "parameter_openapi_schema": PARAMETER_SCHEMA,
                "enforce_parameter_schema": True,
                "paused": False,
                "concurrency_limit": None,
                "schedules": [
                    {
                        "schedule": {
                            "cron": f"{i % 60} 3 * * *",
                            "timezone": "UTC",
                            "day_or": True,
                        },
                        "active": True,
                        "slug": None,
                        "parameters": {},
                    }
                ],
                "pull_steps": PULL_STEPS,
            }
            for i in range(self.deployments)
        ]

    def automation_inputs(self) -> list[dict[str, Any]]:
        """Automations pausing a pool (named) when a flow run fails."""
        return [
            {
                "name": f"bench-automation-{i}",
                "description": "pause the pool on failure",
                "enabled": True,
                "trigger": TRIGGER,
                "actions": [
                    {
                        "type": "pause-work-pool",
                        "source": "selected",
                        "work_pool": f"bench-pool-{i % self.pools}",
                    }
                ],
                "actions_on_trigger": [],
                "actions_on_resolve": [],
            }
            for i in range(self.automations)
        ]

    def limit_inputs(self) -> list[dict[str, Any]]:
        """Global concurrency limits (every other one a rate limit)."""
        return [
            {
                "name": f"bench-limit-{i}",
                "limit": 5,
                "active": True,
                "slot_decay_per_second": 0.5 if i % 2 else 0.0,
            }
            for i in range(self.limits)
        ]


#: The default mix: 320 objects (also the proportions `benchmarks/scale.py` scales up).
DEFAULT_WORKLOAD = Workload(pools=20, deployments=200, automations=50, limits=50)


@dataclass
class Result:
    """One contender's figures."""

    name: str
    objects: int
    apply_seconds: float
    apply_writes: int
    apply_requests: int
    writes_by_method: dict[str, int]
    again_seconds: float | None = None
    again_writes: int | None = None
    notes: list[str] = field(default_factory=list)


@contextmanager
def fresh_server(database_url: str | None) -> Iterator[LiveServer]:
    """A new Prefect server (and, for PostgreSQL, a new database) for one contender."""
    with tempfile.TemporaryDirectory(prefix="bench-server-") as workdir:
        server = start_prefect_server(Path(workdir), database_url)
        try:
            yield server
        finally:
            server.stop()


class Counter:
    """Counts this process's requests to one server, phase by phase."""

    def __init__(self, workdir: Path, api_url: str) -> None:
        self.path = workdir / "requests.log"
        install(self.path, api_url)

    def take(self) -> tuple[int, int, dict[str, int]]:
        """(requests, writes, writes by method) since the last call."""
        counts = summarize(self.path)
        self.path.unlink(missing_ok=True)
        return counts


# -- the kit ------------------------------------------------------------------------------


def run_kit(server: LiveServer, workload: Workload, workers: int, workdir: Path) -> Result:
    """Apply through the providers as Pulumi's engine would; then re-apply unchanged."""
    connection = Connection(api_url=server.api_url, auth_string=server.auth_string)
    counter = Counter(workdir, server.api_url)
    pools = [(WorkPoolProvider(connection), p) for p in workload.pool_inputs()]
    rest: list[tuple[PrefectProvider[Any], dict[str, Any]]] = [
        *((DeploymentProvider(connection), d) for d in workload.deployment_inputs()),
        *((GlobalConcurrencyLimitProvider(connection), g) for g in workload.limit_inputs()),
        *((AutomationProvider(connection), a) for a in workload.automation_inputs()),
    ]

    def create(item: tuple[PrefectProvider[Any], dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        provider, inputs = item
        news = {**inputs, "connection": connection}
        failures = provider.check({}, news).failures
        if failures:
            raise ValueError(f"{provider.describe(news)}: {failures[0].reason}")
        created = provider.create(news)
        return created.id, created.outs or {}

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        states = list(pool.map(create, pools))  # the rest depends on the pools
        states += list(pool.map(create, rest))
    apply_seconds = time.perf_counter() - started
    requests, writes, by_method = counter.take()

    started = time.perf_counter()
    changed = 0
    for (provider, inputs), (id_, outs) in zip([*pools, *rest], states, strict=True):
        news = {**inputs, "connection": connection}
        provider.check(outs, news)
        changed += bool(provider.diff(id_, outs, news).changes)
    again_seconds = time.perf_counter() - started
    _, again_writes, _ = counter.take()

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        drift = sum(
            read.outs != outs
            for read, (_, outs) in zip(
                pool.map(
                    lambda i: i[0][0].read(i[1][0], i[1][1]),
                    zip([*pools, *rest], states, strict=True),
                ),
                states,
                strict=True,
            )
        )
    refresh_seconds = time.perf_counter() - started
    refresh_requests, refresh_writes, _ = counter.take()
    return Result(
        "kit (providers)",
        workload.total,
        apply_seconds,
        writes,
        requests,
        by_method,
        again_seconds,
        again_writes,
        [
            f"{workers} in flight",
            f"re-apply: {changed} resources reported a change",
            f"refresh (read all): {refresh_seconds:.1f} s, {refresh_requests} requests, "
            f"{refresh_writes} writes, {drift} drifted",
        ],
    )


# -- the plain client ---------------------------------------------------------------------


async def _plain(server: LiveServer, workload: Workload, workers: int) -> None:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import (
        DeploymentScheduleCreate,
        GlobalConcurrencyLimitCreate,
        WorkPoolCreate,
    )
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.events.schemas.automations import AutomationCore

    gate = asyncio.Semaphore(workers)
    async with PrefectClient(server.api_url, auth_string=server.auth_string) as client:

        async def gated(job: Awaitable[Any]) -> Any:
            async with gate:
                return await job

        pool_ids = {}
        for item, created in zip(
            workload.pool_inputs(),
            await asyncio.gather(
                *(
                    gated(
                        client.create_work_pool(
                            WorkPoolCreate(
                                name=p["name"],
                                type=p["type"],
                                description=p["description"],
                                concurrency_limit=p["concurrency_limit"],
                                base_job_template=p["base_job_template"],
                            )
                        )
                    )
                    for p in workload.pool_inputs()
                )
            ),
            strict=True,
        ):
            pool_ids[item["name"]] = created.id
        flow_ids = dict(
            zip(
                [f"bench-flow-{i}" for i in range(FLOWS)],
                await asyncio.gather(
                    *(gated(client.create_flow_from_name(f"bench-flow-{i}")) for i in range(FLOWS))
                ),
                strict=True,
            )
        )

        def deployment(d: dict[str, Any]) -> Any:
            schedule = d["schedules"][0]["schedule"]
            return client.create_deployment(
                flow_id=flow_ids[d["flow_name"]],
                name=d["name"],
                entrypoint=d["entrypoint"],
                work_pool_name=d["work_pool_name"],
                description=d["description"],
                tags=d["tags"],
                parameters=d["parameters"],
                job_variables=d["job_variables"],
                parameter_openapi_schema=d["parameter_openapi_schema"],
                enforce_parameter_schema=True,
                pull_steps=d["pull_steps"],
                schedules=[
                    DeploymentScheduleCreate(
                        schedule=CronSchedule(cron=schedule["cron"], timezone="UTC"), active=True
                    )
                ],
            )

        def automation(a: dict[str, Any]) -> Any:
            action = {
                "type": "pause-work-pool",
                "source": "selected",
                "work_pool_id": str(pool_ids[a["actions"][0]["work_pool"]]),
            }
            return client.create_automation(
                AutomationCore.model_validate({**a, "actions": [action]})
            )

        await asyncio.gather(
            *(gated(deployment(d)) for d in workload.deployment_inputs()),
            *(
                gated(client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(**g)))
                for g in workload.limit_inputs()
            ),
            *(gated(automation(a)) for a in workload.automation_inputs()),
        )


def run_plain(server: LiveServer, workload: Workload, workers: int, workdir: Path) -> Result:
    """Create everything with Prefect's async client in this process."""
    counter = Counter(workdir, server.api_url)
    started = time.perf_counter()
    asyncio.run(_plain(server, workload, workers))
    seconds = time.perf_counter() - started
    requests, writes, by_method = counter.take()
    return Result(
        "plain client",
        workload.total,
        seconds,
        writes,
        requests,
        by_method,
        notes=[f"{workers} in flight", "creates only (not idempotent)"],
    )


# -- Prefect's CLI ------------------------------------------------------------------------


def _cli_project(workdir: Path, workload: Workload) -> None:
    """prefect.yaml, the flows it points at, and one automation file per automation."""
    flows = "\n".join(
        textwrap.dedent(
            f"""
            @flow(name="bench-flow-{i}")
            def bench_flow_{i}(name: str = "world") -> str:
                return name
            """
        )
        for i in range(FLOWS)
    )
    (workdir / "bench_flows.py").write_text(f"from prefect import flow\n{flows}")
    deployments = [
        {
            "name": d["name"],
            "entrypoint": d["entrypoint"],
            "description": d["description"],
            "tags": d["tags"],
            "parameters": d["parameters"],
            "work_pool": {"name": d["work_pool_name"], "job_variables": d["job_variables"]},
            "schedules": [{"cron": d["schedules"][0]["schedule"]["cron"], "timezone": "UTC"}],
        }
        for d in workload.deployment_inputs()
    ]
    project = {
        "name": "bench",
        "build": None,
        "push": None,
        "pull": PULL_STEPS,
        "deployments": deployments,
    }
    (workdir / "prefect.yaml").write_text(yaml.safe_dump(project, sort_keys=False))


def run_cli(server: LiveServer, workload: Workload, workdir: Path) -> Result:
    """Prefect's own commands, one after another, as a user (or a CI job) runs them."""
    _cli_project(workdir, workload)
    log = workdir / "cli-requests.log"
    env = {
        **os.environ,
        **server.client_env(workdir / "cli-home"),
        "PYTHONPATH": f"{ROOT / 'benchmarks' / '_hook'}{os.pathsep}{ROOT}",
        "BENCH_REQUEST_LOG": str(log),
        "BENCH_API_URL": server.api_url,
        "PREFECT_CLI_PROMPT": "false",
    }
    prefect = [sys.executable, "-m", "prefect"]

    def run(*args: str) -> None:
        done = subprocess.run(
            [*prefect, *args], cwd=workdir, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"prefect {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    started = time.perf_counter()
    for p in workload.pool_inputs():
        run("work-pool", "create", p["name"], "--type", "process")
    for g in workload.limit_inputs():
        run(
            "gcl",
            "create",
            g["name"],
            "--limit",
            str(g["limit"]),
            "--slot-decay-per-second",
            str(g["slot_decay_per_second"]),
        )
    automation_files_started = time.perf_counter()
    pool_ids = _pool_ids(server)  # the CLI needs ids: looked up, not timed
    lookup = time.perf_counter() - automation_files_started
    for a in workload.automation_inputs():
        action = {
            "type": "pause-work-pool",
            "source": "selected",
            "work_pool_id": pool_ids[a["actions"][0]["work_pool"]],
        }
        path = workdir / f"{a['name']}.yaml"
        path.write_text(yaml.safe_dump({**a, "actions": [action]}))
        run("automation", "create", "--from-file", str(path))
    run("--no-prompt", "deploy", "--all")
    seconds = time.perf_counter() - started - lookup
    requests, writes, by_method = summarize(log)
    log.unlink()

    started = time.perf_counter()
    run("--no-prompt", "deploy", "--all")
    again = time.perf_counter() - started
    _, again_writes, _ = summarize(log)
    return Result(
        "Prefect CLI",
        workload.total,
        seconds,
        writes,
        requests,
        by_method,
        again,
        again_writes,
        ["one command per pool/limit/automation, then deploy --all"],
    )


def _pool_ids(server: LiveServer) -> dict[str, str]:
    import httpx

    pools = httpx.post(f"{server.api_url}/work_pools/filter", json={}, auth=server.auth)
    return {p["name"]: p["id"] for p in pools.json()}


# -- report -------------------------------------------------------------------------------


def _print(results: dict[str, Result], scale: float, database: str) -> None:
    print(f"\n== apply benchmark on {database} ==")
    for result in results.values():
        print(
            f"{result.name}: {result.objects} objects in {result.apply_seconds:.1f} s, "
            f"{result.apply_writes} writes {result.writes_by_method} "
            f"({result.apply_requests} requests)"
        )
        if result.again_seconds is not None:
            print(
                f"  unchanged re-apply: {result.again_seconds:.2f} s, {result.again_writes} writes"
            )
        for note in result.notes:
            print(f"  {note}")
    kit, plain, cli = (results.get(k) for k in ("kit", "plain", "cli"))
    if kit and plain:
        print(f"kit/plain: {kit.apply_seconds / plain.apply_seconds:.2f}x (target <= 1.5x)")
    if kit and cli:
        cli_full = cli.apply_seconds / scale
        print(
            f"kit/CLI: {kit.apply_seconds / cli_full:.3f}x (target <= 0.15x)"
            + (
                f"; CLI measured at {scale:g} of the objects ({cli.objects}) and scaled "
                f"linearly to {cli_full:.0f} s"
                if scale != 1
                else ""
            )
        )
        if cli.again_seconds is not None:
            print(
                f"CLI unchanged deploy --all: {cli.again_seconds:.1f} s, "
                f"{cli.again_writes} writes (at {scale:g} scale)"
            )
    if kit:
        ok = kit.again_writes == 0 and (kit.again_seconds or 0) < 2
        print(
            f"kit unchanged re-apply: {kit.again_writes} writes, "
            f"{kit.again_seconds:.2f} s (target 0 writes, < 2 s): {'met' if ok else 'MISSED'}"
        )


def main(argv: list[str] | None = None) -> None:
    """Run the contenders named on the command line and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: SQLite)")
    parser.add_argument("--contenders", default="kit,plain,cli")
    parser.add_argument("--deployments", type=int, default=DEFAULT_WORKLOAD.deployments)
    parser.add_argument("--pools", type=int, default=DEFAULT_WORKLOAD.pools)
    parser.add_argument("--automations", type=int, default=DEFAULT_WORKLOAD.automations)
    parser.add_argument("--limits", type=int, default=DEFAULT_WORKLOAD.limits)
    parser.add_argument("--workers", type=int, help="requests in flight (default: per database)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run kit and plain this many times; show the median"
    )
    parser.add_argument(
        "--cli-scale",
        type=float,
        default=1.0,
        help="run the CLI on this fraction of the objects and scale its time",
    )
    args = parser.parse_args(argv)
    postgres = bool(args.database_url)
    # SQLite takes one writer at a time: more in flight only queues on its lock
    # (seconds per request at 8). PostgreSQL serves concurrent writes.
    workers = args.workers or (8 if postgres else 2)
    workload = Workload(args.pools, args.deployments, args.automations, args.limits)
    results: dict[str, Result] = {}
    for contender in args.contenders.split(","):
        if contender not in ("kit", "plain", "cli"):
            parser.error(f"unknown contender {contender!r}")
        runs: list[Result] = []
        for _ in range(1 if contender == "cli" else args.repeat):
            with (
                tempfile.TemporaryDirectory(prefix=f"bench-{contender}-") as tmp,
                fresh_server(args.database_url) as server,
            ):
                workdir = Path(tmp)
                if contender == "kit":
                    runs.append(run_kit(server, workload, workers, workdir))
                elif contender == "plain":
                    runs.append(run_plain(server, workload, workers, workdir))
                else:
                    runs.append(run_cli(server, workload.scaled(args.cli_scale), workdir))
            print(f"[{contender} run {len(runs)}: {runs[-1].apply_seconds:.1f} s]", flush=True)
        runs.sort(key=lambda run: run.apply_seconds)
        results[contender] = runs[len(runs) // 2]
        if len(runs) > 1:
            times = ", ".join(f"{run.apply_seconds:.1f}" for run in runs)
            results[contender].notes.append(
                f"{len(runs)} runs on fresh servers: {times} s (median shown)"
            )
    _print(results, args.cli_scale, "PostgreSQL" if postgres else "SQLite")


if __name__ == "__main__":
    main()
