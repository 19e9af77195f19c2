"""Custom run names: templates and callables.

Demonstrates: `flow_run_name` as a template filled from parameters, and `task_run_name` as a
template and as a callable reading `prefect.runtime`, so runs are recognisable in the UI.

Run it:
    python -m flows.basics.naming
"""

from prefect import flow, task
from prefect.runtime import task_run


def _batch_task_name() -> str:
    """Name a `process_batch` run after its parameters (a callable run name)."""
    parameters = task_run.parameters
    return f"batch-{parameters['batch']:03d}-of-{parameters['total']}"


@task(task_run_name="fetch-{source}")
def fetch(source: str) -> int:
    """Pretend to fetch one source; named by a template."""
    return len(source)


@task(task_run_name=_batch_task_name)
def process_batch(batch: int, total: int) -> int:
    """Process one batch; named by a callable."""
    return batch * total


@flow(name="named-runs", flow_run_name="nightly-{region}-{day}")
def named_runs(region: str = "emea", day: str = "2026-01-01", batches: int = 2) -> int:
    """Run tasks whose names come from templates and callables."""
    result = fetch(region)
    for batch in range(1, batches + 1):
        result += process_batch(batch, batches)
    return result


if __name__ == "__main__":
    print(named_runs())
