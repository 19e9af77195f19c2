"""Upgrade a populated Prefect server database from the previous minor release to this one.

The path of docs/operations.md#upgrades, on real processes: the previous release's server
(`PREVIOUS_PREFECT`, from a venv of the tests' own) makes and fills a PostgreSQL database; while
it still serves, `prefect server database upgrade -y` of this release migrates the database
once, as one process (the prefect-server chart's pre-upgrade migration Job, which runs before
the Deployment rolls), and the old server still reads everything; it stops; the migration runs
again and changes nothing; then two API replicas of this release, with migration on start off
and `--no-services` (as the chart runs them beside that Job), serve everything the old one
held, and new runs are made on them.

PostgreSQL pass only (`make test-postgres`, CI): every target of the platform runs PostgreSQL.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import prefect
import pytest

from tests.backup import server_content as content
from tests.backup.conftest import libpq
from tests.harness.live_server import (
    DATABASE_URL_ENV,
    LiveServer,
    _create_database,
    _with_database,
    psql,
    serve_database,
)
from tests.upgrade import extra_content as extra
from tests.upgrade.previous_release import PREVIOUS_PREFECT, ensure_previous_prefect
from tests.upgrade.steps import (
    alembic_revision,
    migrate,
    migrations_head,
    row_counts,
    run_demo_flow,
    server_content,
    server_version,
)

SKIP_REASON = "the upgrade test runs in the PostgreSQL pass (make test-postgres)"
pytestmark = pytest.mark.skipif(not os.environ.get(DATABASE_URL_ENV), reason=SKIP_REASON)

CONTENT_TABLES = (
    "flow",
    "flow_run",
    "flow_run_state",
    "log",
    "deployment",
    "work_pool",
    "variable",
    "block_document",
    "artifact",
    "concurrency_limit",
    "concurrency_limit_v2",
    "automation",
)
"""Tables of what the test made (not of what background services write, such as events)."""

NO_LATE_RUNS = {"PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false"}
"""The scheduled run must stay Scheduled across the upgrade, not turn Late in between."""

API_REPLICA = {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false", **NO_LATE_RUNS}
"""What the chart sets on API pods beside its migration Job (`backgroundServices.envVars`)."""


def content_counts(sql_url: str) -> dict[str, int]:
    """Rows of each of `CONTENT_TABLES`."""
    counts = row_counts(sql_url)
    return {table: counts[table] for table in CONTENT_TABLES}


@pytest.fixture(scope="module")
def previous_python() -> str:
    """The python of the cached venv with the previous release (installed on first use)."""
    python, seconds = ensure_previous_prefect()
    how = f"installed in {seconds:.1f} s" if seconds else "cached"
    print(f"prefect {PREVIOUS_PREFECT} venv: {how}")
    return str(python)


@pytest.fixture
def database() -> Iterator[tuple[str, str]]:
    """A fresh database on the PostgreSQL server of the pass: (name, SQLAlchemy URL)."""
    server_url = os.environ[DATABASE_URL_ENV]
    name, admin_url = _create_database(server_url)
    try:
        yield name, _with_database(server_url, name)
    finally:
        psql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.timeout(900)
def test_upgrade_from_previous_minor_keeps_objects_and_history(
    previous_python: str,
    database: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, url = database
    sql_url = libpq(url)
    timings: dict[str, float] = {}
    started = time.monotonic()

    # 1. The previous release makes the database (it migrates on start, as it always did) and
    #    its own client fills it: deployments, runs in final states with logs, variable, block,
    #    concurrency limits, an automation.
    old = serve_database(tmp_path / "old", url, name, settings=NO_LATE_RUNS, python=previous_python)
    timings["previous server up"] = time.monotonic() - started
    try:
        assert server_version(old) == PREVIOUS_PREFECT
        server_content(old, "populate", previous_python)
        with extra.api_client(old.api_url, old.auth) as api:
            extra.populate(api)
            extra_before = extra.snapshot(api)
        before = server_content(old, "snapshot", previous_python)
        timings["populated"] = time.monotonic() - started

        # What was made is there (so the comparisons below mean something).
        assert [d[0] for d in before["deployments"]] == [content.DEPLOYMENT]
        assert before["variables"] == {content.VARIABLE: {"rows": 42, "source": "backup test"}}
        assert before["secret"] == content.SECRET_VALUE
        assert sorted(run["state"] for run in before["flow_runs"]) == sorted(
            ["COMPLETED"] * (content.RUNS - 1) + ["FAILED", "SCHEDULED"]
        )
        assert len(before["logs"]) == content.RUNS
        assert extra_before["global_limit"]["limit"] == 3
        assert extra_before["tag_limit"]["concurrency_limit"] == 2
        assert [a["name"] for a in extra_before["automations"]] == [extra.AUTOMATION]

        # 2. The database is at the previous release's newest migration; this one has newer.
        old_head, new_head = migrations_head(previous_python), migrations_head(sys.executable)
        assert old_head != new_head, f"{PREVIOUS_PREFECT} has this schema: nothing to test"
        assert alembic_revision(sql_url) == old_head
        counts_before = content_counts(sql_url)
        tables_before = set(row_counts(sql_url))

        # 3. One migration, by one process of this release, while the previous release still
        #    serves: the chart's pre-upgrade hook Job runs before the Deployment rolls.
        first_seconds, output = migrate(url, tmp_path / "migrate")
        assert alembic_revision(sql_url) == new_head, output
        assert content_counts(sql_url) == counts_before
        timings["migrated"] = time.monotonic() - started

        # Until the rollout replaces them, the old pods serve the migrated schema.
        assert server_content(old, "snapshot", previous_python) == before
        with extra.api_client(old.api_url, old.auth) as api:
            assert extra.snapshot(api) == extra_before
    finally:
        old.stop()
    timings["previous server read and stopped"] = time.monotonic() - started

    # 4. Run again (a re-run Job, the next `up`, a restarting container): nothing changes.
    tables = set(row_counts(sql_url))
    second_seconds, output = migrate(url, tmp_path / "migrate-again")
    assert alembic_revision(sql_url) == new_head, output
    assert content_counts(sql_url) == counts_before
    assert set(row_counts(sql_url)) == tables
    timings["migrated again"] = time.monotonic() - started

    # 5. This release's API replicas, migration on start off, serve it all.
    with ExitStack() as replicas:
        api_servers: list[LiveServer] = []
        for index in range(2):
            server = serve_database(
                tmp_path / f"api-{index}",
                url,
                name,
                settings=API_REPLICA,
                extra_args=["--no-services"],
            )
            replicas.callback(server.stop)
            api_servers.append(server)
        timings["replicas up"] = time.monotonic() - started
        first, second = api_servers
        assert server_version(first) == server_version(second) == prefect.__version__

        assert server_content(first, "snapshot") == before
        with extra.api_client(second.api_url, second.auth) as api:
            assert extra.snapshot(api) == extra_before
            deployment_id = before["deployments"][0][3]
            created = api.post(
                f"/deployments/{deployment_id}/create_flow_run", json={"name": "after-upgrade"}
            )
            assert created.status_code == 201, created.text
            assert created.json()["state"]["type"] == "SCHEDULED"
        run_demo_flow(second, 1)
        after = server_content(first, "snapshot")
        timings["read back, new runs"] = time.monotonic() - started
    assert alembic_revision(sql_url) == new_head
    new_tables = sorted(tables - tables_before)

    old_ids = {run["id"] for run in before["flow_runs"]}
    new_runs = [run for run in after["flow_runs"] if run["id"] not in old_ids]
    assert sorted(run["state"] for run in new_runs) == ["COMPLETED", "SCHEDULED"]
    scheduled = next(run for run in new_runs if run["state"] == "SCHEDULED")
    assert scheduled["name"] == "after-upgrade"
    completed = next(run for run in new_runs if run["state"] == "COMPLETED")
    assert completed["states"] == ["PENDING", "RUNNING", "COMPLETED"]
    assert [completed["id"], "backup demo run 1"] in after["logs"]
    assert [run for run in after["flow_runs"] if run["id"] in old_ids] == before["flow_runs"]

    with capsys.disabled():
        steps = ", ".join(f"{step} at {seconds:.1f} s" for step, seconds in timings.items())
        print(
            f"\nupgrade {PREVIOUS_PREFECT} -> {prefect.__version__}: alembic {old_head} -> "
            f"{new_head} (new tables: {', '.join(new_tables) or 'none'}); "
            f"migration {first_seconds:.1f} s, re-run {second_seconds:.1f} s; {steps}"
        )
