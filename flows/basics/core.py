"""Flows and tasks: the core building blocks.

Demonstrates: `@flow` and `@task` on plain typed functions; each task call becomes a task run
of the flow run, visible in the UI/API. A tiny extract-transform-load over in-memory data.

Run it:
    python -m flows.basics.core
"""

from typing import TypedDict

from prefect import flow, task


class LoadSummary(TypedDict):
    """What `etl` reports."""

    rows: int
    total: int


@task
def extract(count: int) -> list[int]:
    """Produce `count` deterministic source rows."""
    return list(range(1, count + 1))


@task
def transform(rows: list[int]) -> list[int]:
    """Square every row."""
    return [row * row for row in rows]


@task
def load(rows: list[int]) -> LoadSummary:
    """Summarise what would be loaded."""
    return {"rows": len(rows), "total": sum(rows)}


@flow(name="etl")
def etl(count: int = 3) -> LoadSummary:
    """Extract, transform and load `count` rows."""
    return load(transform(extract(count)))


if __name__ == "__main__":
    print(etl())
