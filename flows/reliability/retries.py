"""Retries: delay lists, jitter and a retry condition function.

Demonstrates: `retries=3` with `retry_delay_seconds=[...]` (a different wait before each
retry) and `retry_jitter_factor` (randomised waits, so many clients do not retry in step);
`retry_condition_fn` retries only transient errors, so bad data fails at once.

Run it:
    python -m flows.reliability.retries
"""

from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.runtime import task_run


def retry_transient_only(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry connection problems; never retry bad data."""
    try:
        state.result()
    except ConnectionError:
        return True
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=[0.2, 1.5, 3.0], retry_jitter_factor=0.5)
def flaky_fetch(failures: int) -> str:
    """Fail with a connection error on the first `failures` attempts, then succeed."""
    attempt: int = task_run.run_count
    if attempt <= failures:
        raise ConnectionError(f"upstream unavailable on attempt {attempt}")
    get_run_logger().info("fetched on attempt %d", attempt)
    return f"attempt {attempt}"


@task(retries=3, retry_delay_seconds=0.2, retry_condition_fn=retry_transient_only)
def parse(payload: str) -> int:
    """Parse a number; a ValueError is bad data and is not retried."""
    return int(payload)


@flow(name="retrying-fetch")
def retrying_fetch(failures: int = 2, payload: str = "42") -> str:
    """Fetch through transient failures, then parse the payload."""
    fetched = flaky_fetch(failures)
    return f"{fetched}: {parse(payload)}"


if __name__ == "__main__":
    print(retrying_fetch())
