"""Declared automations fire for real on a live OSS server (tests/events/repo/).

Each automation in tests/events/repo/automations/ runs `smoke/events-target` (a deployment
on a pool no worker serves) with `name` rendered from the event that fired it, so the runs
read back through the API say which events fired the automation, and how often. Events are
emitted one at a time, in order; the first event that must not fire is followed by one that
fires only if the first was counted, so a negative result cannot come from an event the
server never looked at.
"""

from __future__ import annotations

import uuid

import pytest

from flows.observability.events import order_events
from tests.events.conftest import EventsStack
from tests.events.helpers import client, deployment_id, emit, runs_naming, stays
from tests.harness.api import wait_for

pytestmark = pytest.mark.usefixtures("armed")


def tag() -> str:
    """A fresh part of a resource id, so a test reads only the runs its own events caused."""
    return uuid.uuid4().hex[:8]


def test_compound_trigger_requiring_all_parts_fires_once_every_part_came() -> None:
    target, run = deployment_id("smoke/events-target"), tag()
    emit("events.compound.a", f"events.all.{run}-1")
    emit("events.compound.a", f"events.all.{run}-2")  # the same part twice is not "all"
    emit("events.compound.b", f"events.all.{run}-3")

    runs = runs_naming(target, f"events.all.{run}")
    expected = [f"events.compound.b events.all.{run}-3"]
    assert wait_for(runs, 30, "the compound run") == expected
    stays(runs, expected)


def test_compound_trigger_requiring_two_of_three_parts_fires_on_the_second() -> None:
    target, run = deployment_id("smoke/events-target"), tag()
    emit("events.compound.x", f"events.two.{run}-1")
    emit("events.compound.y", f"events.two.{run}-2")  # two of three: fires
    runs = runs_naming(target, f"events.two.{run}")
    wait_for(runs, 30, "the run of the first pair")
    emit("events.compound.z", f"events.two.{run}-3")  # one part after firing: not yet
    emit("events.compound.x", f"events.two.{run}-4")  # the second part: fires again

    expected = [f"events.compound.y events.two.{run}-2", f"events.compound.x events.two.{run}-4"]
    wait_for(lambda: len(runs()) >= 2, 30, "the second run")
    assert runs() == expected
    stays(runs, expected)


def test_sequence_trigger_fires_in_order_and_not_out_of_order() -> None:
    target, run = deployment_id("smoke/events-target"), tag()
    emit("events.sequence.second", f"events.sequence.{run}-1")
    emit("events.sequence.first", f"events.sequence.{run}-2")  # second then first: no
    emit("events.sequence.second", f"events.sequence.{run}-3")  # first then second: yes

    runs = runs_naming(target, f"events.sequence.{run}")
    expected = [f"events.sequence.second events.sequence.{run}-3"]
    assert wait_for(runs, 30, "the sequence run") == expected
    stays(runs, expected)


@pytest.fixture(scope="module", autouse=True)
def jobs(armed: None) -> str:
    """Two jobs start (`events.job.started`), one finishes (`events.job.finished`).

    Emitted before this module's first test, so the proactive trigger's 10 s windows close
    while the other tests run.
    """
    run = tag()
    emit("events.job.started", f"events.job.{run}-late")
    emit("events.job.started", f"events.job.{run}-done")
    emit("events.job.finished", f"events.job.{run}-done")
    return run


def test_proactive_trigger_fires_when_the_expected_event_does_not_come(jobs: str) -> None:
    target = deployment_id("smoke/events-target")

    # Both windows (10 s) close together; the server checks proactive triggers every 5 s.
    overdue = runs_naming(target, f"overdue events.job.{jobs}")
    assert wait_for(overdue, 45, "the proactive run") == [f"overdue events.job.{jobs}-late"]
    stays(overdue, [f"overdue events.job.{jobs}-late"])


def test_an_event_a_flow_emits_fires_an_automation() -> None:
    target, order = deployment_id("smoke/events-target"), f"ord-{tag()}"

    assert order_events(order_ids=[order], amount=3) == 3  # emits platform.order.processed

    expected = [f"platform.order.processed platform.order.{order}"]
    found = runs_naming(target, f"platform.order.processed platform.order.{order}")
    assert wait_for(found, 30, "the run the flow's event caused") == expected


def test_deployment_trigger_in_prefect_yaml_is_an_automation_that_runs_its_deployment() -> None:
    deployment = deployment_id("smoke/events-triggered")
    with client() as api:
        automation = next(
            a for a in api.read_automations() if a.name == "smoke:events-triggered:trigger-1"
        )
    action = automation.actions[0]
    assert action.type == "run-deployment"
    assert action.deployment_id == deployment  # type: ignore[union-attr]
    assert automation.trigger.expect == {"events.deploy.requested"}  # type: ignore[union-attr]
    run = tag()

    emit("events.deploy.requested", f"events.deploy.{run}")

    assert wait_for(runs_naming(deployment, f"events.deploy.{run}"), 30, "the triggered run") == [
        f"events.deploy.{run}"
    ]


def test_removing_a_deployment_deletes_its_trigger_automation(events_stack: EventsStack) -> None:
    prefect_yaml = events_stack.root / "prefect.yaml"
    text = prefect_yaml.read_text()
    start = text.index("  # A deployment trigger")
    prefect_yaml.write_text(text[:start] + text[text.index("  # Long jobs:") :])

    ops = events_stack.up()

    assert ops.deleted == [
        "automation-smoke:events-triggered:trigger-1",
        "deployment-smoke-events-triggered",
    ]
    assert ops.created == ops.replaced == [] and ops.updated == {}
    with client() as api:
        assert "smoke:events-triggered:trigger-1" not in {a.name for a in api.read_automations()}
        names = {run.name for run in api.read_deployments()}
    assert "events-triggered" not in names and "events-target" in names
