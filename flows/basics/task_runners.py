"""`ThreadPoolTaskRunner`: submitted tasks run in parallel threads.

Demonstrates: a flow with `task_runner=ThreadPoolTaskRunner(max_workers=4)` runs submitted
blocking tasks side by side; the task runs' start and end times in the API overlap.

Run it:
    python -m flows.basics.task_runners
"""

import time
from typing import Any, cast

from prefect import flow, task
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner


@task
def blocking_io(item: int, seconds: float) -> int:
    """Block for `seconds` (standing in for a blocking client call)."""
    time.sleep(seconds)
    return item * 2


# Prefect's TaskRunner generic is invariant in its future type, so the decorator's
# annotation does not accept the subclass without a cast.
RUNNER = cast(TaskRunner[PrefectFuture[Any]], ThreadPoolTaskRunner(max_workers=4))


@flow(name="threaded-batch", task_runner=RUNNER)
def threaded_batch(items: int = 4, seconds: float = 1.0) -> list[int]:
    """Run `items` blocking tasks on four threads."""
    futures = [blocking_io.submit(item, seconds) for item in range(items)]
    return [future.result() for future in futures]


if __name__ == "__main__":
    print(threaded_batch())
