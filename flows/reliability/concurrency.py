"""Concurrency limits with the `concurrency()` context manager.

Demonstrates: threads of one flow run ask for a slot of a named concurrency limit before
using a shared resource; with a limit of 1, the critical sections run one after another even
though the task runner runs the tasks in parallel. The limit lives on the server
(`prefect gcl create warehouse --limit 1`, or the platform's declarations); its name is a
parameter.

Run it:
    prefect gcl create warehouse --limit 1
    python -m flows.reliability.concurrency
"""

import time
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.concurrency.sync import concurrency
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

# Prefect's TaskRunner generic is invariant in its future type (see basics/task_runners.py).
RUNNER = cast(TaskRunner[PrefectFuture[Any]], ThreadPoolTaskRunner(max_workers=4))


@task
def use_warehouse(limit_name: str, item: int, seconds: float) -> tuple[float, float]:
    """Hold one slot of `limit_name` while using the shared resource."""
    with concurrency(limit_name, occupy=1, strict=True):
        started = time.time()
        time.sleep(seconds)
        ended = time.time()
    get_run_logger().info("item %d held the slot from %.3f to %.3f", item, started, ended)
    return started, ended


@flow(name="throttled-loads", task_runner=RUNNER)
def throttled_loads(
    limit_name: str = "warehouse", items: int = 3, seconds: float = 0.5
) -> list[tuple[float, float]]:
    """Run `items` parallel tasks that share one limited resource."""
    futures = [use_warehouse.submit(limit_name, item, seconds) for item in range(items)]
    return [future.result() for future in futures]


if __name__ == "__main__":
    print(throttled_loads())
