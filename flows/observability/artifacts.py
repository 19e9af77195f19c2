"""Artifacts: markdown, table, link and progress.

Demonstrates: a run publishes a markdown report, a table, a link and a progress bar that it
updates as it goes; all are stored on the server against the run (and keyed ones are
versioned across runs).

Run it:
    python -m flows.observability.artifacts
"""

from typing import cast
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)


@task
def measure(region: str) -> dict[str, str | int]:
    """Deterministic metrics for a region."""
    return {"region": region, "orders": len(region) * 10}


@flow(name="artifact-report")
def artifact_report(regions: list[str] | None = None, key_prefix: str = "sales") -> int:
    """Measure each region and publish the results as artifacts."""
    selected = regions or ["north", "south", "east"]
    # The create_* helpers dispatch sync/async; in a sync flow they return the id itself.
    progress = cast(UUID, create_progress_artifact(progress=0.0, description="regions measured"))
    rows = []
    for done, region in enumerate(selected, start=1):
        rows.append(measure(region))
        update_progress_artifact(progress, progress=100.0 * done / len(selected))
    total = sum(int(row["orders"]) for row in rows)
    create_table_artifact(key=f"{key_prefix}-table", table=rows, description="orders by region")
    create_markdown_artifact(
        key=f"{key_prefix}-summary",
        markdown=f"# Sales\n\n**{total}** orders across {len(rows)} regions.",
        description="summary",
    )
    create_link_artifact(
        key=f"{key_prefix}-dashboard",
        link="http://127.0.0.1:4200/dashboard",
        link_text="Sales dashboard",
    )
    return total


if __name__ == "__main__":
    print(artifact_report())
