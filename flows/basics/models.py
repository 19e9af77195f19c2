"""Pydantic models as flow parameters and task results, validated at the flow's boundary.

Demonstrates: a pydantic model parameter is validated before the flow body runs (a bad value
fails the run with a message naming the field), tasks pass models to each other, and a
deployment with `enforce_parameter_schema` makes the server refuse bad parameters.

Run it:
    python -m flows.basics.models
"""

from prefect import flow, task
from pydantic import BaseModel, ConfigDict, Field


class Order(BaseModel):
    """One order line, as a caller submits it."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(description="Stock-keeping unit", min_length=3)
    quantity: int = Field(description="Units ordered", gt=0)
    unit_price: float = Field(description="Price per unit", ge=0)


class Invoice(BaseModel):
    """What the flow computes for a batch of orders."""

    model_config = ConfigDict(extra="forbid")

    lines: int = Field(description="Number of order lines")
    total: float = Field(description="Sum of quantity * unit price")


@task
def price(orders: list[Order]) -> Invoice:
    """Total a batch of validated orders."""
    total = sum(order.quantity * order.unit_price for order in orders)
    return Invoice(lines=len(orders), total=round(total, 2))


@flow(name="invoice-orders")
def invoice_orders(orders: list[Order]) -> Invoice:
    """Validate `orders` (by type) and invoice them."""
    return price(orders)


if __name__ == "__main__":
    print(invoice_orders([Order(sku="abc-1", quantity=2, unit_price=9.5)]))
