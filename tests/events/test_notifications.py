"""A notification block declared in blocks/ delivers an automation's message (live server).

tests/events/repo/blocks/events-alerts.yaml declares Prefect's `custom-webhook` block with its
URL and bearer token taken from the stack's config secrets; the program applies it with the
block provider, and automations/events-notify.yaml's `send-notification` action names it. The
server's actions service renders the subject and body from the event and the block posts them
to the test's HTTP sink.
"""

from __future__ import annotations

import uuid
from typing import cast

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock

from tests.events.conftest import ALERTS_TOKEN, EventsStack
from tests.events.helpers import emit
from tests.harness.api import wait_for
from tests.harness.http_sink import HttpSink, Received

pytestmark = pytest.mark.usefixtures("armed")


def test_a_send_notification_action_delivers_the_rendered_message_through_a_declared_block(
    notification_sink: HttpSink,
) -> None:
    resource = f"events.alert.{uuid.uuid4().hex[:8]}"
    emit("events.alert.raised", resource)

    def delivered() -> Received | None:
        return next((r for r in notification_sink.received if resource in r.body.decode()), None)

    request = wait_for(delivered, 60, "the notification at the HTTP sink")
    assert request.path == "/alerts"
    assert request.headers["authorization"] == f"Bearer {ALERTS_TOKEN}"
    assert request.json() == {
        "title": f"Alert {resource}",
        "text": f"events.alert.raised on {resource}",
    }


def test_the_declared_blocks_secrets_are_stored_as_secrets(events_stack: EventsStack) -> None:
    block = cast(
        CustomWebhookNotificationBlock, CustomWebhookNotificationBlock.load("events-alerts")
    )
    assert block.url.endswith("/alerts")
    assert block.secrets.get_secret_value() == {"token": ALERTS_TOKEN}
    state = repr(events_stack.mocks.state)
    assert ALERTS_TOKEN not in state, "the token is in the engine's state in plain text"
