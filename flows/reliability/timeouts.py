"""Timeouts on tasks and flows.

Demonstrates: `timeout_seconds` on a task ends that task run `TimedOut`; on a flow it ends the
whole flow run `TimedOut`. Both are Failed states, so retries and hooks treat them as failures.

Run it:
    python -m flows.reliability.timeouts
"""

import time

from prefect import flow, task


def _work(seconds: float) -> None:
    """Stand-in for slow work, in short steps so a timeout can interrupt it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


@task(timeout_seconds=1)
def slow_step(seconds: float) -> str:
    """A task that must finish within one second."""
    _work(seconds)
    return "done"


@flow(name="task-timeout")
def task_timeout(seconds: float = 3.0) -> str:
    """Run a task that overruns its timeout."""
    return slow_step(seconds)


@flow(name="flow-timeout", timeout_seconds=1)
def flow_timeout(seconds: float = 3.0) -> str:
    """A flow that overruns its own timeout."""
    _work(seconds)
    return "done"


if __name__ == "__main__":
    print(task_timeout(seconds=0.1), flow_timeout(seconds=0.1))
