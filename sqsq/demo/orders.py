"""The tasks behind the web example (:mod:`sqsq.demo.web`): price an order in a worker.

Run a worker for them with ``sqsq worker sqsq.demo.orders:app`` (queues ``orders-default``, table
``orders-results``; ``sqsq local sqsq.demo.orders:app`` provisions them on the local AWS).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

import sqsq

app = sqsq.App("orders")


class Line(BaseModel):
    """One line of an order: a product, how many, and the price of one."""

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1000)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


class Order(BaseModel):
    """An order as the web service receives it and the task gets it."""

    customer: str = Field(min_length=1, max_length=128)
    lines: list[Line] = Field(min_length=1, max_length=100)


class Receipt(BaseModel):
    """What :func:`price` returns: the total, exact (a Decimal travels as its JSON string)."""

    customer: str
    items: int
    total: Decimal


@app.task(name="orders.price", max_retries=0)
def price(order: Order) -> Receipt:
    """Add up an order.

    Raises:
        PermissionError: the customer is ``"blocked"`` (recorded as the task's FAILURE, no retry).
    """
    if order.customer == "blocked":
        raise PermissionError(f"customer {order.customer!r} may not order")
    total = sum((line.quantity * line.unit_price for line in order.lines), Decimal("0.00"))
    return Receipt(customer=order.customer, items=sum(line.quantity for line in order.lines), total=total)
