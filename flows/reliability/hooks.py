"""State hooks: `on_completion`, `on_failure`, `on_cancellation`, `on_crashed`, and escalation.

Demonstrates: hooks on a task and on a flow run when the run reaches a final state; the flow's
failure hook escalates by recording the failure in a Prefect variable (which an automation, a
dashboard or an on-call tool can read) and logging it on the run. `long_job` runs until it is
stopped: cancelled (from the UI, the API or an automation's `cancel-flow-run`) it runs its
`on_cancellation` hook; killed under its worker (a crash) it runs its `on_crashed` hook; both
record what happened in a Prefect variable.

Run it:
    python -m flows.reliability.hooks
"""

import time
from typing import Any

from prefect import Flow, Task, flow, task
from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.logging.loggers import flow_run_logger, task_run_logger
from prefect.variables import Variable


def log_task_failure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> None:
    """Task hook: say which task run failed and why."""
    task_run_logger(task_run, task).error("task hook: %s failed: %s", task_run.name, state.message)


def log_completion(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: note a successful run."""
    flow_run_logger(flow_run, flow).info("completion hook: %s ended %s", flow_run.name, state.name)


def escalate(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: record the failure where on-call tooling looks for it."""
    name = str(flow_run.parameters["escalation_variable"])
    record = {"flow_run": flow_run.name, "state": state.name, "message": state.message or ""}
    Variable.set(name, record, overwrite=True)
    flow_run_logger(flow_run, flow).warning(
        "escalated failure of %s to variable %s", flow_run.name, name
    )


def _record_stop(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any], hook: str) -> None:
    name = str(flow_run.parameters["report_variable"])
    record = {"hook": hook, "flow_run": flow_run.name, "state": state.name}
    Variable.set(name, record, overwrite=True)
    flow_run_logger(flow_run, flow).warning("%s hook: %s is %s", hook, flow_run.name, state.name)


def record_cancellation(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the run was cancelled; say so where on-call tooling looks."""
    _record_stop(flow, flow_run, state, "on_cancellation")


def record_crash(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook: the run's process died under it; say so where on-call tooling looks."""
    _record_stop(flow, flow_run, state, "on_crashed")


@task(on_failure=[log_task_failure])
def charge(amount: int) -> int:
    """Charge an amount; a negative amount is an error."""
    if amount < 0:
        raise ValueError(f"cannot charge a negative amount: {amount}")
    return amount


@flow(name="billing-run", on_completion=[log_completion], on_failure=[escalate])
def billing_run(amount: int = 10, escalation_variable: str = "billing-escalation") -> int:
    """Charge `amount`; on failure the run escalates to `escalation_variable`."""
    return charge(amount)


@flow(name="long-job", on_cancellation=[record_cancellation], on_crashed=[record_crash])
def long_job(seconds: int = 600, report_variable: str = "long-job-stopped") -> int:
    """Work for `seconds`, one second at a time; a cancelled or crashed run reports itself."""
    for _ in range(seconds):
        time.sleep(1)
    return seconds


if __name__ == "__main__":
    print(billing_run())
