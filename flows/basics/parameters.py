"""Typed parameters with defaults, overridden at run time.

Demonstrates: a flow's type hints and defaults become the deployment's parameter schema;
a run (or a deployment run) overrides some of them; Prefect coerces the values to the
declared types (the string "3" becomes the int 3).

Run it:
    python -m flows.basics.parameters
"""

from datetime import date
from typing import TypedDict

from prefect import flow, get_run_logger


class ReportRequest(TypedDict):
    """The parameters a run actually received, after coercion."""

    region: str
    days: int
    start: str
    dry_run: bool


@flow(name="parameterized-report")
def parameterized_report(
    region: str = "emea", days: int = 7, start: date = date(2026, 1, 1), dry_run: bool = True
) -> ReportRequest:
    """Log and return the (coerced) parameters of this run."""
    get_run_logger().info("report for %s, %d days from %s", region, days, start.isoformat())
    return {"region": region, "days": days, "start": start.isoformat(), "dry_run": dry_run}


if __name__ == "__main__":
    print(parameterized_report(region="apac", days=30))
