"""Logs, artifacts and events a run leaves behind, read back through the API."""

from __future__ import annotations

import json
import logging
from typing import Any

from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.observability.artifacts import artifact_report
from flows.observability.events import order_events
from flows.observability.structured_logging import logged_run
from tests.harness.api import Api, unique


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def test_run_logger_and_captured_prints_are_stored_per_run(api: Api) -> None:
    state = logged_run(batches=[3, 0, 5], return_state=True)

    run_id = _flow_run_id(state)
    logs = api.logs(run_id)
    api.wait_for_log(run_id, "total rows: 8")
    logs = api.logs(run_id)
    by_message = {log.message: log for log in logs}
    assert by_message["processing 3 batches"].level == logging.INFO
    assert by_message["processing 3 batches"].task_run_id is None
    empty = by_message["batch is empty"]
    assert empty.level == logging.WARNING and empty.task_run_id is not None
    printed = [log for log in logs if log.message.startswith("checked ")]
    assert sorted(log.message for log in printed) == [
        "checked 0 rows",
        "checked 3 rows",
        "checked 5 rows",
    ]
    assert all(log.task_run_id is not None and log.level == logging.INFO for log in printed)
    assert by_message["total rows: 8"].task_run_id is None  # print() in the flow body


def test_markdown_table_link_and_progress_artifacts(api: Api) -> None:
    prefix = unique("sales")
    state = artifact_report(regions=["north", "west"], key_prefix=prefix, return_state=True)

    artifacts = api.client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[_flow_run_id(state)])
        )
    )
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert set(by_key) == {f"{prefix}-summary", f"{prefix}-table", f"{prefix}-dashboard", None}
    summary = by_key[f"{prefix}-summary"]
    assert summary.type == "markdown"
    assert "**90** orders across 2 regions" in str(summary.data)
    table = by_key[f"{prefix}-table"]
    assert table.type == "table"
    assert json.loads(str(table.data)) == [
        {"region": "north", "orders": 50},
        {"region": "west", "orders": 40},
    ]
    link = by_key[f"{prefix}-dashboard"]  # stored as markdown that renders a link
    assert "[Sales dashboard](http://127.0.0.1:4200/dashboard)" in str(link.data)
    progress = by_key[None]
    assert progress.type == "progress" and progress.data == 100.0


def test_emitted_events_are_stored_with_resource_and_payload(api: Api) -> None:
    orders = [unique("o"), unique("o")]
    order_events(order_ids=orders, amount=7)

    for order in orders:
        [event] = api.events("platform.order.processed", f"platform.order.{order}")
        assert event["resource"]["region"] == "emea"
        assert event["payload"] == {"amount": 7}
        roles = {r["prefect.resource.role"]: r["prefect.resource.id"] for r in event["related"]}
        assert roles["buyer"] == "platform.customer.c-42"
        assert "flow-run" in roles  # Prefect links the event to the run that emitted it
