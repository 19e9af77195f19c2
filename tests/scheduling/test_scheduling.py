"""Scheduling behaviour users rely on, with real process workers running deployments from git.

Each test deploys flows of `remote_flows.py` (on this package's git remote) to a pool of its
own, lets a real `prefect worker start` run them, and reads back through the API what
happened: when each run (or task run) was Running, from its state history; how often a flow
ran; what it logged.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, WorkPoolCreate

from tests.harness.api import Api, unique
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer
from tests.harness.worker import running_worker
from tests.scheduling.conftest import Runs, Window, most_at_once


@contextmanager
def pool_with_worker(
    runs: Runs,
    server: LiveServer,
    workdir: Path,
    concurrency_limit: int | None = None,
    queues: Mapping[str, tuple[int, int | None]] | None = None,
) -> Iterator[str]:
    """A process pool (limit, queues as name -> (priority, limit)) served by a real worker."""
    pool = unique("sched")
    runs.client.create_work_pool(
        WorkPoolCreate(name=pool, type="process", concurrency_limit=concurrency_limit)
    )
    try:
        for name, (priority, limit) in (queues or {}).items():
            runs.client.create_work_queue(
                name, priority=priority, concurrency_limit=limit, work_pool_name=pool
            )
        with running_worker(server, pool, workdir) as worker:
            yield pool
            assert worker.running, "the worker died"
            # Every run of the pool is final: nothing for the worker's graceful stop (about
            # 5 s) to wait for, so it is killed, with any process it left in its group.
            os.killpg(worker.popen.pid, signal.SIGKILL)
            worker.popen.wait(10)
    finally:
        runs.delete_deployments()
        runs.client.delete_work_pool(pool)


@pytest.fixture(scope="module")
def shared_pool(
    prefect_server: LiveServer, remote: GitRemote, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A process pool without limits and its worker, for the tests that need nothing more."""
    with get_client(sync_client=True) as client:
        runs = Runs(client, remote, Api(client))
        with pool_with_worker(runs, prefect_server, tmp_path_factory.mktemp("shared")) as pool:
            yield pool


def test_a_higher_priority_queue_starts_first_when_the_pool_is_saturated(
    runs: Runs, prefect_server: LiveServer, tmp_path: Path
) -> None:
    queues = {"urgent": (1, None), "routine": (2, None)}
    with pool_with_worker(runs, prefect_server, tmp_path, 1, queues) as pool:
        urgent = runs.deploy("sched-hold", pool, "urgent")
        routine = runs.deploy("sched-hold", pool, "routine")
        blocker = runs.start(routine, seconds=3.0)
        runs.wait(blocker, {"RUNNING"})
        # The pool's only slot is taken: a routine run is scheduled first, then an urgent one.
        late_routine = runs.start(routine, seconds=0.2)
        late_urgent = runs.start(urgent, seconds=0.2)
        finished = runs.finish(blocker, late_routine, late_urgent)

    scheduled = {run.id: run.expected_start_time for run in finished}
    assert scheduled[late_routine] < scheduled[late_urgent]  # type: ignore[operator]
    windows = {run_id: runs.running_window(run_id) for run_id in scheduled}
    assert windows[blocker][1] <= windows[late_urgent][0] < windows[late_routine][0]
    assert most_at_once(list(windows.values())) == 1


@dataclass
class LimitedRuns:
    """Windows (Running, from state histories) of runs in a limited pool and queue."""

    narrow: list[Window]
    """Runs of the `narrow` queue (limit 1, served first)."""
    other: list[Window]
    """Runs of the pool's `default` queue (no queue limit)."""


@pytest.fixture(scope="module")
def limited_runs(
    prefect_server: LiveServer, remote: GitRemote, tmp_path_factory: pytest.TempPathFactory
) -> LimitedRuns:
    """Two runs in each of two queues of a pool limited to 2, `narrow` limited to 1.

    Without the queue limit the first two slots would both go to `narrow` (it comes first);
    without the pool limit all four would run at once. Each run holds its slot for 2 s.
    """
    with get_client(sync_client=True) as client:
        runs = Runs(client, remote, Api(client))
        workdir = tmp_path_factory.mktemp("limits")
        queues = {"narrow": (1, 1)}
        with pool_with_worker(runs, prefect_server, workdir, 2, queues) as pool:
            narrow = runs.deploy("sched-hold", pool, "narrow")
            other = runs.deploy("sched-hold", pool, "default")
            in_narrow = [runs.start(narrow, seconds=2.0) for _ in range(2)]
            in_other = [runs.start(other, seconds=2.0) for _ in range(2)]
            runs.finish(*in_narrow, *in_other)
        return LimitedRuns(
            narrow=[runs.running_window(run_id) for run_id in in_narrow],
            other=[runs.running_window(run_id) for run_id in in_other],
        )


def test_a_pool_concurrency_limit_holds(limited_runs: LimitedRuns) -> None:
    windows = [*limited_runs.narrow, *limited_runs.other]
    # Two at a time, never more: the limit was reached, and held.
    assert most_at_once(windows) == 2, limited_runs


def test_a_queue_concurrency_limit_holds(limited_runs: LimitedRuns) -> None:
    # One narrow run at a time, although the pool had a second slot (taken by the other queue).
    assert most_at_once(limited_runs.narrow) == 1, limited_runs
    assert most_at_once([*limited_runs.narrow, *limited_runs.other]) == 2, limited_runs


def test_flow_retries_rerun_a_failing_flow_until_it_succeeds(runs: Runs, shared_pool: str) -> None:
    deployment = runs.deploy("sched-flaky", shared_pool)
    (run,) = runs.finish(runs.start(deployment, succeed_on=3))

    assert run.run_count == 3
    names = [state.name for state in runs.states(run.id)]
    assert names.count("AwaitingRetry") == 2, names
    assert names[-1] == "Completed", names
    messages = runs.api.wait_for_log(run.id, "attempt 3")
    assert [m for m in messages if m.startswith("attempt ")] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]


def test_a_tag_concurrency_limit_lets_one_tagged_task_run_at_a_time(
    runs: Runs, shared_pool: str
) -> None:
    tag = unique("warehouse-tag")
    runs.client.create_concurrency_limit(tag=tag, concurrency_limit=1)
    try:
        deployment = runs.deploy("sched-tagged", shared_pool)
        (run,) = runs.finish(runs.start(deployment, tag=tag, items=3, seconds=1.0))
    finally:
        runs.client.delete_concurrency_limit_by_tag(tag)

    task_runs = runs.api.task_runs_named(run.id, "hold_tagged")
    assert len(task_runs) == 3 and all(tag in t.tags for t in task_runs)
    windows: list[Window] = []
    for task_run in task_runs:
        states = runs.api.states(task_run.id)
        index = next(i for i, s in enumerate(states) if s.type.value == "RUNNING")
        windows.append((states[index].timestamp, states[index + 1].timestamp))
    assert most_at_once(windows) == 1


def test_rate_limit_spaces_calls_by_the_limits_slot_decay(runs: Runs, shared_pool: str) -> None:
    name = unique("rate")
    # One slot, freed at 2 per second: one call per half second.
    limit = GlobalConcurrencyLimitCreate(name=name, limit=1, slot_decay_per_second=2.0)
    runs.client.create_global_concurrency_limit(limit)
    try:
        deployment = runs.deploy("sched-rate-limited", shared_pool)
        (run,) = runs.finish(runs.start(deployment, limit_name=name, calls=4))
    finally:
        runs.client.delete_global_concurrency_limit_by_name(name)

    messages = runs.api.wait_for_log(run.id, "call 3 let through")
    times = [
        float(match.group(1))
        for message in messages
        if (match := re.fullmatch(r"call \d let through at ([\d.]+)", message))
    ]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) >= 0.45, gaps
