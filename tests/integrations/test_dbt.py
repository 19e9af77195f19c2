"""prefect-dbt: the repository's dbt project built against PostgreSQL, nodes seen in Prefect.

`flows/integrations/dbt_run.py` runs `dbt build` through `PrefectDbtRunner` on a copy of
`flows/integrations/dbt_project/` (dbt writes `target/` and `logs/` beside the project), with
the profile made from a `sqlalchemy-connector` block on the session's fresh database.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from flows.integrations.dbt_run import PROJECT_DIR, dbt_build
from tests.harness.api import Api, wait_for
from tests.integrations.conftest import ConnectorBlocks, Warehouse


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repository's dbt project (without `target/` or `logs/`)."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def test_dbt_build_runs_the_seed_models_and_tests_as_task_runs(
    api: Api, connector_blocks: ConnectorBlocks, warehouse: Warehouse, project: Path
) -> None:
    block = connector_blocks.save()

    state = dbt_build(
        block_name=block, target_schema="shop", project_dir=str(project), return_state=True
    )

    assert state.is_completed(), state
    summary = state.result()
    assert summary["success"] is True
    assert summary["nodes"]["seed.platform_shop.raw_orders"] == "success"
    assert summary["nodes"]["model.platform_shop.customer_totals"] == "success"
    assert summary["nodes"]["test.platform_shop.order_amounts_within_limit"] == "pass"
    assert warehouse.sql(
        "SELECT customer, orders, total_amount FROM shop.customer_totals ORDER BY customer"
    ) == ("ada|2|200.50\ngrace|2|319.99\n")
    task_runs = {run.name: run for run in api.task_runs(_flow_run_id(state))}
    for node in ("seed raw_orders", "model stg_orders", "model customer_totals"):
        assert task_runs[node].state_name == "Completed", sorted(task_runs)
    tests = [name for name in task_runs if name.startswith("test ")]
    assert "test order_amounts_within_limit" in tests and len(tests) == 6, tests
    assets = f"postgres://{warehouse.database}/shop/"
    expected = {f"{assets}{name}" for name in ("raw_orders", "stg_orders", "customer_totals")}

    def materialized() -> set[str] | None:
        events = api.events("prefect.asset.materialization.succeeded", assets)
        ids = {event["resource"]["prefect.resource.id"] for event in events}
        return ids if expected <= ids else None

    wait_for(materialized, 30, "an asset materialization event per seed and model")
    messages = api.messages(_flow_run_id(state))
    assert not any(connector_blocks.password in message for message in messages)


def test_a_failing_dbt_test_fails_the_flow_run_and_stops_what_depends_on_it(
    api: Api, connector_blocks: ConnectorBlocks, warehouse: Warehouse, project: Path
) -> None:
    block = connector_blocks.save()

    state = dbt_build(
        block_name=block,
        target_schema="shop_limit",
        max_order_amount=100,
        project_dir=str(project),
        return_state=True,
    )

    assert state.is_failed(), state
    assert "Test order_amounts_within_limit failed" in (state.message or ""), state.message
    assert "Got 2 results, configured to fail if != 0" in (state.message or "")
    task_runs = {run.name: run for run in api.task_runs(_flow_run_id(state))}
    assert task_runs["test order_amounts_within_limit"].state_name == "Failed"
    assert task_runs["model stg_orders"].state_name == "Completed"
    # dbt skipped the model downstream of the failed test: the table was never built (whether
    # prefect-dbt shows a task run for a skipped node depends on its event order).
    assert warehouse.sql("SELECT to_regclass('shop_limit.customer_totals')") == "\n"


def test_a_model_sql_error_fails_the_flow_run_with_dbts_message(
    connector_blocks: ConnectorBlocks, project: Path
) -> None:
    block = connector_blocks.save()
    (project / "models" / "broken_model.sql").write_text(
        "select no_such_column from {{ ref('stg_orders') }}\n"
    )

    state = dbt_build(
        block_name=block, target_schema="shop_broken", project_dir=str(project), return_state=True
    )

    assert state.is_failed(), state
    message = state.message or ""
    assert "Model broken_model errored" in message, message
    assert 'column "no_such_column" does not exist' in message
