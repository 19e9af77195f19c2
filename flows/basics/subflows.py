"""Subflows: a flow that calls other flows.

Demonstrates: calling an `@flow` from inside another flow creates a child flow run whose
`parent_task_run_id` links it to the parent run (the UI shows it nested).

Run it:
    python -m flows.basics.subflows
"""

from prefect import flow, task


@task
def fetch(region: str) -> list[int]:
    """Deterministic sales figures for a region."""
    return [len(region) * step for step in (1, 2, 3)]


@flow(name="region-report")
def region_report(region: str) -> int:
    """Child flow: total the sales of one region."""
    return sum(fetch(region))


@flow(name="company-report")
def company_report(regions: list[str] | None = None) -> dict[str, int]:
    """Parent flow: one child flow run per region."""
    selected = regions or ["north", "south"]
    return {region: region_report(region) for region in selected}


if __name__ == "__main__":
    print(company_report())
