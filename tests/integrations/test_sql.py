"""prefect-sqlalchemy: the connector block writes and reads real PostgreSQL tables.

Each test runs `flows/integrations/sql.py` against the live Prefect server and a fresh
PostgreSQL database (`tests/integrations/conftest.py`), then reads back through the API what
a user would see: the flow's result, the task runs' state histories, the run's logs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2  # type: ignore[import-untyped]

from flows.integrations.sql import TABLE_DDL, warehouse_roundtrip
from tests.harness.api import Api
from tests.integrations.conftest import ConnectorBlocks, Warehouse


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def test_rows_written_through_the_block_are_read_back_from_postgresql(
    api: Api, connector_blocks: ConnectorBlocks, warehouse: Warehouse
) -> None:
    block = connector_blocks.save()
    readings = [{"sensor": "a", "reading": 1.25}, {"sensor": "b", "reading": 2.0}]

    state = warehouse_roundtrip(
        block_name=block, table="roundtrip_readings", readings=readings, return_state=True
    )

    assert state.is_completed(), state
    assert state.result() == {"written": 2, "rows": 2, "total": 3.25}
    assert warehouse.sql("SELECT sensor, reading FROM roundtrip_readings ORDER BY id") == (
        "a|1.25\nb|2\n"
    )
    names = [run.name.rsplit("-", 1)[0] for run in api.task_runs(_flow_run_id(state))]
    assert names == ["write_rows", "read_rows"]
    messages = api.messages(_flow_run_id(state))
    assert not any(connector_blocks.password in message for message in messages)


@contextmanager
def _locked_until_one_waiter_gave_up(warehouse: Warehouse, table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on `table` until one statement waited for it and left.

    A background thread watches `pg_locks` for an ungranted lock on the table (the flow's
    insert waiting), then for that wait to end (its `lock_timeout` fired), then releases.
    """
    holder = psycopg2.connect(warehouse.url)
    watcher = psycopg2.connect(warehouse.url)
    watcher.autocommit = True
    holder.cursor().execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    waiting_sql = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = %s AND NOT l.granted"
    )
    seen: list[str] = []

    def release_after_one_timeout() -> None:
        deadline = time.monotonic() + 60
        cursor = watcher.cursor()
        while time.monotonic() < deadline:
            cursor.execute(waiting_sql, (table,))
            waiting = cursor.fetchone()[0] > 0
            if waiting and not seen:
                seen.append("waited")
            elif not waiting and seen:
                seen.append("gave up")
                break
            time.sleep(0.05)
        holder.rollback()

    thread = threading.Thread(target=release_after_one_timeout, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(65)
        holder.close()
        watcher.close()
    assert seen == ["waited", "gave up"], seen


def test_a_lock_timeout_is_retried_by_the_task_and_shows_in_its_state_history(
    api: Api, connector_blocks: ConnectorBlocks, warehouse: Warehouse
) -> None:
    block, table = connector_blocks.save(), "locked_readings"
    warehouse.sql(TABLE_DDL.format(table=table))

    with _locked_until_one_waiter_gave_up(warehouse, table):
        state = warehouse_roundtrip(
            block_name=block, table=table, lock_timeout_ms=500, return_state=True
        )

    assert state.is_completed(), state
    assert state.result()["rows"] == 3
    [write] = api.task_runs_named(_flow_run_id(state), "write_rows")
    history = api.history(write.id)
    assert history.count("AwaitingRetry") == history.count("Retrying") == 1, history
    assert history[-1] == "Completed" and write.run_count == 2, history
    messages = api.messages(_flow_run_id(state))
    assert any("canceling statement due to lock timeout" in message for message in messages)


def test_a_wrong_database_url_fails_naming_the_block_without_the_password(
    api: Api, connector_blocks: ConnectorBlocks
) -> None:
    block = connector_blocks.save(database="no_such_database")

    state = warehouse_roundtrip(block_name=block, return_state=True)

    assert state.is_failed(), state
    message = state.message or ""
    assert f"sqlalchemy-connector block '{block}' could not connect" in message
    assert 'database "no_such_database" does not exist' in message
    assert connector_blocks.password not in message
    [write] = api.task_runs_named(_flow_run_id(state), "write_rows")
    history = api.history(write.id)
    assert "Retrying" not in history and history[-1] == "Failed", history
    messages = api.wait_for_log(_flow_run_id(state), "could not connect")
    assert not any(connector_blocks.password in line for line in messages)
