"""Benchmark: a signed GitHub delivery to the webhook gateway → the flow run it causes Completed,
and the gateway's sustained rate on loopback at a bounded concurrency.

Everything is real and local, from `tests.harness`: a Prefect server (SQLite), a process worker
polling every second, and `python -m infra.gateway` as its image runs it, serving the
repository's `webhooks/github-push.yaml`. An automation runs a deployment (a flow that prints
and returns the pushed commit, from a local folder) on `github.push` about one repository.

Part 1, `--runs` rounds, one at a time: POST a signed push with a new commit, then wait until
the run of that commit is Completed. Per round: the gateway's answer (202), the automation
creating the run (the run's `created`), and Completed (its state's timestamp), each from the
moment the request was sent. The first delivery waits for the triggers service to load the
automation, so a warm-up round runs first and is not counted.

Part 2, `--seconds` of load: `--concurrency` clients POST signed pushes about a repository no
automation matches (each is checked, rendered and emitted, nothing runs) as fast as answers
come back. Reported: requests a second, answer latency p50/p99, status counts. The load
generator, the gateway and the Prefect server share this machine's CPUs.

Usage (from the repository root):

    uv run --frozen python -m benchmarks.webhooks                  # 10 rounds, 8 clients, 15 s
    uv run --frozen python -m benchmarks.webhooks --runs 5 --concurrency 4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun

from tests.harness.live_server import LiveServer, start_prefect_server
from tests.harness.processes import environment
from tests.harness.worker import running_worker
from tests.webhooks.gateway import (
    deploy_on_push,
    gateway_process,
    github_headers,
    push_automation,
    push_body,
    repo_webhooks,
)

POOL = "bench-webhooks"
REPOSITORY = "bench-target"
"""The automation runs the deployment on pushes to this repository."""
LOAD_REPOSITORY = "bench-load"
"""Part 2 pushes here: no automation matches, nothing runs."""


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


def _run_of(client: SyncPrefectClient, deployment: uuid.UUID, commit: str) -> FlowRun | None:
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment]))
    )
    matching = [run for run in runs if run.parameters.get("commit") == commit]
    return matching[0] if matching else None


def deliver_until_completed(
    url: str, secret: str, client: SyncPrefectClient, deployment: uuid.UUID, timeout: float
) -> tuple[float, float, float]:
    """One signed push; seconds from sending it to (202, run created, run Completed)."""
    commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
    body = push_body(REPOSITORY, after=commit)
    headers = github_headers(secret, body)
    sent_wall, sent = time.time(), time.monotonic()
    answer = httpx.post(f"{url}/hooks/github-push", content=body, headers=headers, timeout=30)
    answered = time.monotonic() - sent
    if answer.status_code != 202:
        raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text}")
    deadline = sent + timeout
    while time.monotonic() < deadline:
        run = _run_of(client, deployment, commit)
        if run is not None and run.state is not None and run.state.is_final():
            if not run.state.is_completed():
                raise RuntimeError(f"run {run.id} ended {run.state.type}")
            assert run.created is not None
            created = run.created.timestamp() - sent_wall
            return answered, created, run.state.timestamp.timestamp() - sent_wall
        time.sleep(0.05)
    raise TimeoutError(f"no Completed run of commit {commit} after {timeout:.0f} s")


async def _load(
    url: str, secret: str, concurrency: int, seconds: float
) -> tuple[list[float], Counter[int], float]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        started = time.monotonic()
        stop = started + seconds

        async def client() -> None:
            while time.monotonic() < stop:
                body = push_body(LOAD_REPOSITORY, after=uuid.uuid4().hex)
                headers = github_headers(secret, body)
                begin = time.monotonic()
                answer = await http.post(f"{url}/hooks/github-push", content=body, headers=headers)
                latencies.append(time.monotonic() - begin)
                statuses[answer.status_code] += 1

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return latencies, statuses, elapsed


def main() -> int:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="measured deliveries (part 1)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once (part 2)")
    parser.add_argument("--seconds", type=float, default=15, help="load duration (part 2)")
    arguments = parser.parse_args()

    github = repo_webhooks()["github-push"]
    limits = github.limits.model_copy(update={"requests_per_minute": 10**7, "burst": 10**6})
    endpoint = github.endpoint().model_copy(update={"limits": limits})
    secret = secrets.token_hex(20)
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        workdir = Path(folder)
        server: LiveServer = start_prefect_server(workdir / "server")
        try:
            with environment(server.client_env()):
                from prefect.context import refresh_global_settings_context

                refresh_global_settings_context()  # this process's client: the new server
                with (
                    get_client(sync_client=True) as client,
                    running_worker(server, POOL, workdir),
                    gateway_process([endpoint], {"github-push": secret}, server, workdir) as (
                        url,
                        _,
                    ),
                ):
                    (workdir / "flow").mkdir()
                    deployment = deploy_on_push(workdir / "flow", POOL)
                    client.create_automation(push_automation(REPOSITORY, deployment))
                    _part_one(url, secret, client, deployment, arguments.runs)
                    _part_two(url, secret, arguments.concurrency, arguments.seconds)
        finally:
            server.stop()
    return 0


def _part_one(
    url: str, secret: str, client: SyncPrefectClient, deployment: uuid.UUID, runs: int
) -> None:
    warm_deadline = time.monotonic() + 90
    while True:  # until the triggers service has loaded the automation
        try:
            deliver_until_completed(url, secret, client, deployment, 15)
            break
        except TimeoutError:
            if time.monotonic() > warm_deadline:
                raise
    rounds = []
    for index in range(runs):
        rounds.append(deliver_until_completed(url, secret, client, deployment, 120))
        print(f"round {index + 1}: " + ", ".join(f"{t:.3f} s" for t in rounds[-1]), flush=True)
    print(f"\nsigned request -> flow run Completed ({runs} rounds, seconds from sending):\n")
    print("| step | median | p90 | min | max |")
    print("|---|---|---|---|---|")
    for index, step in enumerate(("gateway answered 202", "run created", "run Completed")):
        values = [round_[index] for round_ in rounds]
        print(
            f"| {step} | {statistics.median(values):.3f} | {percentile(values, 0.9):.3f} | "
            f"{min(values):.3f} | {max(values):.3f} |"
        )


def _part_two(url: str, secret: str, concurrency: int, seconds: float) -> None:
    latencies, statuses, elapsed = asyncio.run(_load(url, secret, concurrency, seconds))
    total = sum(statuses.values())
    print(f"\nsustained load: {concurrency} clients for {elapsed:.1f} s on loopback\n")
    print("| requests | requests/s | p50 | p99 | max | statuses |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {total} | {total / elapsed:.1f} | {percentile(latencies, 0.5) * 1000:.1f} ms | "
        f"{percentile(latencies, 0.99) * 1000:.1f} ms | {max(latencies) * 1000:.1f} ms | "
        f"{dict(sorted(statuses.items()))} |"
    )
    print(f"(cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    sys.exit(main())
