"""Flows the scheduling tests deploy: pushed to a harness git remote, run by real workers.

This file is not imported by the tests: its text is committed to a git remote of their own
and each flow run clones it (as a deployment of `prefect.yaml` clones the repository), so it
imports nothing but Prefect. None of these flows sets a result option: what a run keeps is
the pool's business (`pools/*.yaml`).
"""

from __future__ import annotations

import time
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.concurrency.sync import rate_limit
from prefect.futures import PrefectFuture, wait
from prefect.runtime import flow_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

# Prefect's TaskRunner generic is invariant in its future type (see flows/basics/task_runners.py).
THREADS = cast(TaskRunner[PrefectFuture[Any]], ThreadPoolTaskRunner(max_workers=4))


@task
def add(amounts: list[int]) -> int:
    """Sum the amounts (a task, so the run keeps a task result too)."""
    return sum(amounts)


@flow(name="sched-totals")
def totals(day: str, amounts: list[int]) -> dict[str, Any]:
    """Return a small summary; no `persist_result`, no `result_storage`."""
    return {"day": day, "count": len(amounts), "total": add(amounts)}


@flow(name="sched-hold")
def hold(seconds: float = 1.0) -> float:
    """Occupy a slot of the pool (and of the run's queue) for `seconds`."""
    time.sleep(seconds)
    return seconds


@flow(name="sched-flaky", retries=2, retry_delay_seconds=0)
def flaky(succeed_on: int = 3) -> int:
    """Fail until the run's `succeed_on`-th attempt (Prefect counts them in `run_count`)."""
    attempt = int(flow_run.run_count)
    get_run_logger().info("attempt %d", attempt)
    if attempt < succeed_on:
        raise RuntimeError(f"attempt {attempt} fails on purpose")
    return attempt


@task
def hold_tagged(seconds: float) -> None:
    """Hold the shared resource for `seconds` (the caller gives the task its tag)."""
    time.sleep(seconds)


@flow(name="sched-tagged", task_runner=THREADS)
def tagged(tag: str, items: int = 3, seconds: float = 1.0) -> None:
    """Submit `items` tasks tagged `tag` at once; the tag's limit decides how many run."""
    futures = [hold_tagged.with_options(tags=[tag]).submit(seconds) for _ in range(items)]
    wait(futures)
    for future in futures:
        future.result()


@flow(name="sched-rate-limited")
def rate_limited(limit_name: str, calls: int = 4) -> None:
    """Call a rate-limited API `calls` times, logging when each call was let through."""
    logger = get_run_logger()
    for call in range(calls):
        rate_limit(limit_name, occupy=1, strict=True)
        logger.info("call %d let through at %.6f", call, time.time())
