"""Schedules: cron, interval and rrule on one deployment.

Demonstrates: the three schedule types Prefect understands, each with a time zone, attached
to one deployment; the server's scheduler turns them into scheduled flow runs.

Run it:
    python -m flows.orchestration.schedules   # registers deployment "scheduled-report/calendar"
"""

from datetime import UTC, datetime, timedelta
from typing import cast

from prefect import flow, get_run_logger
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval, RRule, Schedule


def calendar() -> list[Schedule]:
    """Every morning at 06:00 Oslo time, every six hours, and Mon/Wed/Fri at 07:30 UTC."""
    return [
        Cron("0 6 * * *", timezone="Europe/Oslo", slug="daily-oslo"),
        Interval(
            timedelta(hours=6),
            anchor_date=datetime(2026, 1, 1, tzinfo=UTC),
            timezone="UTC",
            slug="six-hourly",
        ),
        RRule(
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=7;BYMINUTE=30;BYSECOND=0",
            timezone="UTC",
            slug="mon-wed-fri",
        ),
    ]


@flow(name="scheduled-report")
def scheduled_report(kind: str = "daily") -> str:
    """The report the schedules run."""
    get_run_logger().info("running the %s report", kind)
    return kind


def register(name: str = "calendar") -> str:
    """Create or update the deployment with its three schedules; return its id."""
    # to_deployment/apply dispatch sync/async; called synchronously they return the values.
    deployment = cast(
        RunnerDeployment, scheduled_report.to_deployment(name=name, schedules=calendar())
    )
    return str(deployment.apply())


if __name__ == "__main__":
    print(register())
