"""Databases: a prefect-sqlalchemy `SqlAlchemyConnector` block, real tables, task retries.

Demonstrates: the `sqlalchemy-connector` block the platform declares (its password a Pulumi
config secret) loaded by name; one task writes rows into a PostgreSQL table through it and
another reads them back. The write retries transient database errors only (a lock timeout, a
serialization failure, a deadlock: `retry_condition_fn`); a wrong URL or password fails the
run at once with `WarehouseUnavailable`, which names the block and shows its URL without the
password.

Run it:
    python -m flows.integrations.sql   # after saving the sqlalchemy-connector block "warehouse"
"""

from __future__ import annotations

import re
from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect_sqlalchemy import (  # type: ignore[import-untyped]
    ConnectionComponents,
    SqlAlchemyConnector,
)
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from typing_extensions import TypedDict

BLOCK_TYPE = "sqlalchemy-connector"
"""The block type slug of prefect-sqlalchemy's `SqlAlchemyConnector`."""

TRANSIENT_SQLSTATES = frozenset({"55P03", "40001", "40P01"})
"""PostgreSQL errors worth retrying: lock_not_available, serialization_failure, deadlock."""

TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, sensor text NOT NULL, "
    "reading double precision NOT NULL, written_at timestamptz NOT NULL DEFAULT now())"
)
"""The table the flow writes (created on first use)."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Reading(TypedDict):
    """One row of the readings table."""

    sensor: str
    reading: float


class SqlSummary(TypedDict):
    """What `warehouse_roundtrip` reports."""

    written: int
    rows: int
    total: float


class WarehouseUnavailable(RuntimeError):
    """The connector block's database refused the connection (wrong URL, password or host)."""


def block_url(connector: SqlAlchemyConnector) -> URL:
    """The block's SQLAlchemy URL (with its password: render it with `hide_password`)."""
    info = connector.connection_info
    if isinstance(info, ConnectionComponents):
        url: URL = info.create_url()
        return url
    return make_url(str(info))


def connect(block_name: str) -> SqlAlchemyConnector:
    """Load the connector block and open one connection, or raise `WarehouseUnavailable`.

    The error names the block and its URL with the password hidden; the driver's reason is
    kept (it never holds the password, which is masked anyway should a driver echo it).
    """
    connector = SqlAlchemyConnector.load(block_name)
    try:
        with connector.get_connection(begin=False) as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        url = block_url(connector)
        reason = " ".join(str(exc.orig).split())
        if url.password:
            reason = reason.replace(str(url.password), "***")
        connector.close()
        raise WarehouseUnavailable(
            f"the {BLOCK_TYPE} block {block_name!r} could not connect to "
            f"{url.render_as_string(hide_password=True)}: {reason}"
        ) from None
    return connector


def _table(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
    return name


def retry_transient_database_errors(
    task: Task[..., Any], task_run: TaskRun, state: State[Any]
) -> bool:
    """Retry a lock timeout, serialization failure or deadlock; nothing else."""
    try:
        state.result()
    except DBAPIError as exc:
        return getattr(exc.orig, "pgcode", None) in TRANSIENT_SQLSTATES
    except Exception:
        return False
    return False


@task(retries=3, retry_delay_seconds=1, retry_condition_fn=retry_transient_database_errors)
def write_rows(block_name: str, table: str, rows: list[Reading], lock_timeout_ms: int) -> int:
    """Insert `rows` in one transaction, waiting at most `lock_timeout_ms` for the table."""
    with connect(block_name) as connector, connector.get_connection(begin=True) as connection:
        connection.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
        connection.execute(text(TABLE_DDL.format(table=_table(table))))
        connection.execute(
            text(f"INSERT INTO {_table(table)} (sensor, reading) VALUES (:sensor, :reading)"),
            [dict(row) for row in rows],
        )
    get_run_logger().info("wrote %d rows into %s", len(rows), table)
    return len(rows)


@task
def read_rows(block_name: str, table: str) -> list[Reading]:
    """Every row of `table`, oldest first."""
    with connect(block_name) as connector:
        rows = connector.fetch_all(f"SELECT sensor, reading FROM {_table(table)} ORDER BY id")
    return [{"sensor": row.sensor, "reading": row.reading} for row in rows]


DEFAULT_READINGS: list[Reading] = [
    {"sensor": "north", "reading": 1.5},
    {"sensor": "south", "reading": 2.5},
    {"sensor": "east", "reading": 4.0},
]


@flow(name="warehouse-roundtrip")
def warehouse_roundtrip(
    block_name: str = "warehouse",
    table: str = "sensor_readings",
    readings: list[Reading] | None = None,
    lock_timeout_ms: int = 1000,
) -> SqlSummary:
    """Write `readings` into `table` through the connector block, then read the table back."""
    rows = readings if readings is not None else DEFAULT_READINGS
    written = write_rows(block_name, table, rows, lock_timeout_ms)
    stored = read_rows(block_name, table)
    return {
        "written": written,
        "rows": len(stored),
        "total": sum(row["reading"] for row in stored),
    }


if __name__ == "__main__":
    print(warehouse_roundtrip())
