"""Reliability features, checked through the API: retries, caching, timeouts, hooks,
allow_failure, transactions and concurrency limits."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from flows.reliability.caching import cached_lookups
from flows.reliability.concurrency import throttled_loads
from flows.reliability.failure_handling import load_with_cleanup
from flows.reliability.hooks import billing_run
from flows.reliability.retries import retrying_fetch
from flows.reliability.timeouts import flow_timeout, task_timeout
from flows.reliability.transactions import staged_publish
from tests.harness.api import Api, unique


def _flow_run_id(state: Any) -> Any:
    return state.state_details.flow_run_id


def test_retries_follow_the_delay_list_and_show_in_the_state_history(api: Api) -> None:
    state = retrying_fetch(failures=2, payload="42", return_state=True)

    run_id = _flow_run_id(state)
    [fetch] = api.task_runs_named(run_id, "flaky_fetch")
    assert fetch.run_count == 3
    history = api.history(fetch.id)
    assert history.count("Retrying") == 2, history
    assert history[-1] == "Completed"
    # Each AwaitingRetry state is scheduled by the delay list ([0.2, 1.5, ...] s), with jitter
    # (factor 0.5: between about 0.63x and 1.5x of each delay).
    delays = [
        (state.state_details.scheduled_time - state.timestamp).total_seconds()  # type: ignore[operator]
        for state in api.states(fetch.id)
        if state.name == "AwaitingRetry"
    ]
    assert len(delays) == 2
    assert 0.1 <= delays[0] <= 0.31, delays
    assert 0.9 <= delays[1] <= 2.26, delays
    assert api.flow_run(run_id).state.is_completed()  # type: ignore[union-attr]
    assert state.result() == "attempt 3: 42"


def test_retry_condition_does_not_retry_bad_data(api: Api) -> None:
    state = retrying_fetch(failures=0, payload="not-a-number", return_state=True)

    run_id = _flow_run_id(state)
    [parse] = api.task_runs_named(run_id, "parse")
    assert parse.run_count == 1  # retries=3, but the condition said no
    assert "Retrying" not in api.history(parse.id)
    assert parse.state is not None and parse.state.is_failed()
    assert api.flow_run(run_id).state.is_failed()  # type: ignore[union-attr]


def test_second_call_is_cached_and_expired_entries_run_again(api: Api) -> None:
    key = unique("lookup")
    customer = unique("customer")
    state = cached_lookups(key=key, customer_id=customer, pause=2.5, return_state=True)

    run_id = _flow_run_id(state)
    lookups = api.task_runs_named(run_id, "expensive_lookup")
    assert [t.state.name for t in lookups] == ["Completed", "Cached"]  # type: ignore[union-attr]
    profiles = api.task_runs_named(run_id, "customer_profile")
    assert [t.state.name for t in profiles] == ["Completed", "Cached"]  # type: ignore[union-attr]
    rates = api.task_runs_named(run_id, "exchange_rate")
    assert [t.state.name for t in rates] == ["Completed", "Cached", "Completed"]  # type: ignore[union-attr]

    # The body ran only in the runs that were not Cached: their logs say so.
    logs = api.logs(run_id)
    assert [log.task_run_id for log in logs if f"computing lookup {key}" in log.message] == [
        lookups[0].id
    ]
    assert [log.task_run_id for log in logs if f"building profile {customer}" in log.message] == [
        profiles[0].id
    ]
    assert [log.task_run_id for log in logs if f"fetching rate {key}" in log.message] == [
        rates[0].id,
        rates[2].id,
    ]


def test_changed_task_source_misses_the_cache(api: Api) -> None:
    from prefect import task
    from prefect.cache_policies import INPUTS, TASK_SOURCE

    key = unique("source")

    @task(cache_policy=INPUTS + TASK_SOURCE)
    def lookup(value: str) -> str:
        return value.upper()

    @task(cache_policy=INPUTS + TASK_SOURCE)
    def lookup_v2(value: str) -> str:  # same inputs, different source code
        return value.lower()

    from prefect import flow

    @flow
    def twice(value: str) -> None:
        lookup(value)
        lookup(value)
        lookup_v2.with_options(name="lookup")(value)

    state = twice(key, return_state=True)
    names = [t.state.name for t in api.task_runs(_flow_run_id(state))]  # type: ignore[union-attr]
    assert names == ["Completed", "Cached", "Completed"]


def test_task_timeout_ends_the_task_run_timed_out(api: Api) -> None:
    state = task_timeout(seconds=5, return_state=True)

    run_id = _flow_run_id(state)
    [slow] = api.task_runs(run_id)
    assert slow.state is not None and slow.state.name == "TimedOut"
    assert slow.state.is_failed()
    assert api.flow_run(run_id).state.is_failed()  # type: ignore[union-attr]


def test_flow_timeout_ends_the_flow_run_timed_out(api: Api) -> None:
    state = flow_timeout(seconds=5, return_state=True)

    run = api.flow_run(_flow_run_id(state))
    assert run.state is not None and run.state.name == "TimedOut"
    assert run.total_run_time.total_seconds() < 4


def test_failure_hooks_escalate_and_completion_hooks_log(api: Api) -> None:
    variable = unique("escalation")
    failed = billing_run(amount=-5, escalation_variable=variable, return_state=True)
    ok = billing_run(amount=5, escalation_variable=variable + "-ok", return_state=True)

    failed_run = api.flow_run(_flow_run_id(failed))
    assert failed_run.state is not None and failed_run.state.is_failed()
    escalation = api.client.read_variable_by_name(variable)
    assert escalation is not None
    escalated = cast("dict[str, Any]", escalation.value)  # the hook stores a JSON object
    assert escalated["flow_run"] == failed_run.name
    assert escalated["state"] == "Failed"
    assert "negative amount" in escalated["message"]
    messages = api.wait_for_log(failed_run.id, "escalated failure")
    assert any(re.match(r"task hook: charge-\w+ failed", m) for m in messages), messages
    assert not any("completion hook" in m for m in messages)

    ok_run_id = _flow_run_id(ok)
    api.wait_for_log(ok_run_id, "completion hook")
    assert api.client.read_variable_by_name(variable + "-ok") is None


def test_allow_failure_lets_downstream_run_after_a_failure(api: Api) -> None:
    state = load_with_cleanup(fail_primary=True, return_state=True)

    run_id = _flow_run_id(state)
    [primary] = api.task_runs_named(run_id, "load_primary")
    [cleanup] = api.task_runs_named(run_id, "release_lock")
    assert primary.state is not None and primary.state.is_failed()
    assert cleanup.state is not None and cleanup.state.is_completed()
    assert cleanup.start_time >= primary.end_time  # type: ignore[operator]
    assert state.result() == "lock released; primary failed"


def test_transaction_rolls_back_on_failure_and_commits_on_success(api: Api, tmp_path: Path) -> None:
    failed = staged_publish(
        staging_dir=str(tmp_path), name="bad.csv", fail_validation=True, return_state=True
    )
    ok = staged_publish(staging_dir=str(tmp_path), name="good.csv", return_state=True)

    assert not (tmp_path / "bad.csv").exists()
    assert (tmp_path / "good.csv").read_text().startswith("id,value")
    failed_logs = api.wait_for_log(_flow_run_id(failed), "rollback hook")
    assert not any("commit hook" in m for m in failed_logs)
    ok_logs = api.wait_for_log(_flow_run_id(ok), "commit hook")
    assert not any("rollback hook" in m for m in ok_logs)
    assert api.flow_run(_flow_run_id(failed)).state.is_failed()  # type: ignore[union-attr]


def test_concurrency_limit_serialises_the_critical_sections(api: Api) -> None:
    limit = unique("warehouse")
    api.client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=limit, limit=1))

    state = throttled_loads(limit_name=limit, items=3, seconds=0.5, return_state=True)

    messages = api.wait_for_log(_flow_run_id(state), "held the slot")
    windows = sorted(
        (float(m.group(1)), float(m.group(2)))
        for line in messages
        if (m := re.search(r"held the slot from ([\d.]+) to ([\d.]+)", line))
    )
    assert len(windows) == 3
    assert all(windows[i][1] <= windows[i + 1][0] for i in range(2)), windows
    task_runs = api.task_runs(_flow_run_id(state))
    starts = sorted(cast(datetime, t.start_time) for t in task_runs)  # every one has started
    # The tasks started together (serialised tasks would start >= 1 s apart); only the
    # limited sections inside them queued.
    assert (starts[-1] - starts[0]).total_seconds() < 0.9
    assert api.client.read_global_concurrency_limit_by_name(limit).active_slots == 0
