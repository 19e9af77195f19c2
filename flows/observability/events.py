"""Events: `emit_event()` from inside a flow.

Demonstrates: a flow emits a custom event about a business object (a resource with an id,
a related resource, and a payload); the server stores it, automations can trigger on it, and
the UI's event feed shows it.

Run it:
    python -m flows.observability.events
"""

from prefect import flow, task
from prefect.events import emit_event


@task
def process_order(order_id: str, amount: int) -> int:
    """Process an order and announce it."""
    emit_event(
        event="platform.order.processed",
        resource={"prefect.resource.id": f"platform.order.{order_id}", "region": "emea"},
        related=[
            {"prefect.resource.id": "platform.customer.c-42", "prefect.resource.role": "buyer"}
        ],
        payload={"amount": amount},
    )
    return amount


@flow(name="order-events")
def order_events(order_ids: list[str] | None = None, amount: int = 5) -> int:
    """Process orders, emitting one event each."""
    selected = order_ids or ["o-1", "o-2"]
    return sum(process_order(order_id, amount) for order_id in selected)


if __name__ == "__main__":
    print(order_events())
