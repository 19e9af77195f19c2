"""Core building blocks, checked through the API: flows/tasks, subflows, fan-out, params."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast
from uuid import UUID

import httpx
import pytest
from prefect import tags
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentTaskRunId
from prefect.client.schemas.objects import State, TaskRun
from prefect.deployments.runner import RunnerDeployment

from flows.basics.async_flows import async_crawl
from flows.basics.core import etl
from flows.basics.fan_out import fan_out
from flows.basics.models import Order, invoice_orders
from flows.basics.naming import named_runs
from flows.basics.parameters import parameterized_report
from flows.basics.subflows import company_report
from flows.basics.tags import tagged_load
from flows.basics.task_runners import threaded_batch
from tests.harness.api import Api, unique


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def test_flow_and_tasks_are_recorded_as_runs(api: Api) -> None:
    state = etl(count=4, return_state=True)

    run = api.flow_run(_flow_run_id(state))
    assert run.state is not None and run.state.is_completed()
    assert run.parameters == {"count": 4}
    task_runs = api.task_runs(run.id)
    assert [t.task_key.split("-")[0] for t in task_runs] == ["extract", "transform", "load"]
    assert all(t.state is not None and t.state.is_completed() for t in task_runs)
    assert state.result() == {"rows": 4, "total": 1 + 4 + 9 + 16}


def test_subflows_are_child_runs_of_the_parent(api: Api) -> None:
    state = company_report(regions=["north", "west", "east"], return_state=True)

    parent = api.flow_run(_flow_run_id(state))
    parent_task_runs = {t.id for t in api.task_runs(parent.id)}
    children = api.client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_task_run_id=FlowRunFilterParentTaskRunId(any_=list(parent_task_runs))
        )
    )
    assert sorted(child.parameters["region"] for child in children) == ["east", "north", "west"]
    assert all(child.state is not None and child.state.is_completed() for child in children)
    assert {api.client.read_flow(child.flow_id).name for child in children} == {"region-report"}


def test_map_makes_one_task_run_per_element_and_submit_orders_work(api: Api) -> None:
    state = fan_out(values=[2, 3, 5, 7, 11], return_state=True)

    runs = api.task_runs(_flow_run_id(state))
    squares = [t for t in runs if t.name.startswith("square")]
    assert len(squares) == 5
    assert all(t.state is not None and t.state.is_completed() for t in runs)
    adds = [t for t in runs if t.name.startswith("add")]
    assert len(adds) == 6  # five running sums and the checkpoint
    publish = next(t for t in runs if t.name.startswith("publish"))
    # publish waited for the checkpoint (the last add) through wait_for, not through data.
    waited_on = [ref.id for ref in publish.task_inputs["wait_for"]]  # type: ignore[union-attr]
    assert waited_on == [adds[-1].id]
    assert state.result() == f"total={4 + 9 + 25 + 49 + 121}"


def test_parameters_are_coerced_and_overridden_at_run_time(api: Api) -> None:
    state = parameterized_report(region="apac", days="30", return_state=True)

    run = api.flow_run(_flow_run_id(state))
    assert run.parameters["region"] == "apac"
    assert state.result() == {
        "region": "apac",
        "days": 30,
        "start": "2026-01-01",
        "dry_run": True,
    }
    assert any("report for apac, 30 days from 2026-01-01" in m for m in api.messages(run.id))


def test_deployment_parameter_defaults_are_overridden_per_run(api: Api) -> None:
    # Prefect's sync_compatible methods return the value itself when called from sync code.
    deployment = cast(
        RunnerDeployment,
        parameterized_report.to_deployment(
            name=unique("params"), parameters={"region": "amer", "days": 14}
        ),
    )
    deployment_id = cast(UUID, deployment.apply())
    run = api.client.create_flow_run_from_deployment(deployment_id, parameters={"days": 3})

    assert api.client.read_deployment(deployment_id).parameters == {"region": "amer", "days": 14}
    assert run.parameters == {"region": "amer", "days": 3}
    schema = cast(
        "dict[str, Any]", api.client.read_deployment(deployment_id).parameter_openapi_schema
    )
    assert schema["properties"]["days"]["type"] == "integer"
    assert schema["properties"]["start"]["format"] == "date"


def test_pydantic_models_validate_parameters_before_the_body_runs(api: Api) -> None:
    good = invoice_orders(
        orders=[
            Order(sku="abc-1", quantity=2, unit_price=9.5),
            {"sku": "xyz", "quantity": 1, "unit_price": 1},
        ],
        return_state=True,
    )
    bad = invoice_orders(
        orders=[{"sku": "abc-1", "quantity": 0, "unit_price": 1}],
        return_state=True,
    )

    assert api.flow_run(_flow_run_id(good)).state.is_completed()  # type: ignore[union-attr]
    assert good.result().model_dump() == {"lines": 2, "total": 20.0}
    bad_run = api.flow_run(_flow_run_id(bad))
    assert bad_run.state is not None and bad_run.state.is_failed()
    assert "quantity" in (bad_run.state.message or "")
    assert api.task_runs(bad_run.id) == []  # the body never ran


def test_enforced_schema_makes_the_server_refuse_bad_parameters(api: Api) -> None:
    deployment = cast(RunnerDeployment, invoice_orders.to_deployment(name=unique("models")))
    deployment.enforce_parameter_schema = True
    deployment_id = cast(UUID, deployment.apply())

    with pytest.raises(httpx.HTTPStatusError, match="409") as refused:
        bad_order = {"sku": "abc", "quantity": "many", "unit_price": 1}
        api.client.create_flow_run_from_deployment(
            deployment_id, parameters={"orders": [bad_order]}
        )
    assert "quantity" in refused.value.response.text
    ok = api.client.create_flow_run_from_deployment(
        deployment_id, parameters={"orders": [{"sku": "abc", "quantity": 1, "unit_price": 2}]}
    )
    assert ok.state is not None and ok.state.is_scheduled()


def test_run_names_come_from_templates_and_callables(api: Api) -> None:
    state = named_runs(region="apac", day="2026-03-01", batches=3, return_state=True)

    run = api.flow_run(_flow_run_id(state))
    assert run.name == "nightly-apac-2026-03-01"
    names = sorted(t.name for t in api.task_runs(run.id))
    assert names == ["batch-001-of-3", "batch-002-of-3", "batch-003-of-3", "fetch-apac"]


def test_tags_from_decorator_and_context_manager(api: Api) -> None:
    with tags("nightly"):
        state = tagged_load(rows=5, return_state=True)

    run = api.flow_run(_flow_run_id(state))
    assert "nightly" in run.tags
    by_task = {t.name.split("-")[0]: set(t.tags) for t in api.task_runs(run.id)}
    assert {"io", "warehouse", "nightly"} <= by_task["write_rows"]
    assert {"audit", "nightly"} <= by_task["audit"]
    assert "io" not in by_task["audit"]


def _overlapping(runs: list[TaskRun]) -> bool:
    windows = sorted((t.start_time, t.end_time) for t in runs)
    assert all(start and end for start, end in windows)
    return all(windows[i + 1][0] < windows[i][1] for i in range(len(windows) - 1))  # type: ignore[operator]


def test_async_tasks_run_concurrently_with_gather(api: Api) -> None:
    # With return_state=True an async flow's call is typed Awaitable; it is a coroutine.
    state = asyncio.run(
        cast(
            "Coroutine[Any, Any, State[list[int]]]",
            async_crawl(pages=3, delay=1.0, return_state=True),
        )
    )

    run = api.flow_run(_flow_run_id(state))
    pages = api.task_runs(run.id)
    assert len(pages) == 3 and all(t.state and t.state.is_completed() for t in pages)
    assert _overlapping(pages)
    assert run.total_run_time.total_seconds() < 2.8  # one after another would take 3 s


def test_thread_pool_task_runner_runs_tasks_in_parallel(api: Api) -> None:
    state = threaded_batch(items=4, seconds=1.0, return_state=True)

    run = api.flow_run(_flow_run_id(state))
    runs = api.task_runs(run.id)
    assert len(runs) == 4 and all(t.state and t.state.is_completed() for t in runs)
    assert _overlapping(runs)
    assert run.total_run_time.total_seconds() < 3.5  # one after another would take 4 s
    assert state.result() == [0, 2, 4, 6]
