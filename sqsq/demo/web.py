"""Sending from a web app: a FastAPI service that queues orders and reads their results.

``POST /orders`` validates the order (FastAPI, with the task's own pydantic model), sends
:func:`sqsq.demo.orders.price` and answers ``202 {"task_id": ...}`` at once; ``GET /tasks/{task_id}`` reads the
result record: ``{"task_id", "state", "result", "error"}`` with ``state`` PENDING, STARTED, RETRY, SUCCESS or
FAILURE. A worker (``sqsq worker sqsq.demo.orders:app``) does the work.

Run it (``pip install "sqsq[web]"``) with ``uvicorn sqsq.demo.web:api``, in a shell with the settings the app
needs (``AWS_ENDPOINT_URL`` and the rest: the ``export`` lines ``sqsq local sqsq.demo.orders:app`` prints).

The endpoints are plain ``def``: sending and reading call boto3, which blocks, so FastAPI runs them in its
thread pool instead of on the event loop. The sqsq App is module-level and opens its AWS clients on first use.
"""

from __future__ import annotations

from sqsq.extras import require

require("sqsq.demo.web", "fastapi")

from fastapi import FastAPI, HTTPException, status  # noqa: E402  (after the extra's check)
from pydantic import BaseModel  # noqa: E402

import sqsq  # noqa: E402
from sqsq.demo.orders import Order, Receipt, app, price  # noqa: E402
from sqsq.results import Status  # noqa: E402

api = FastAPI(title="sqsq orders example", summary="Queue an order, then read its result.")


class Accepted(BaseModel):
    """The answer to ``POST /orders``: the id to poll."""

    task_id: str


class TaskState(BaseModel):
    """The answer to ``GET /tasks/{task_id}``."""

    task_id: str
    state: Status
    result: Receipt | None = None
    error: str | None = None


@api.post("/orders", status_code=status.HTTP_202_ACCEPTED)
def create_order(order: Order) -> Accepted:
    """Queue an order for pricing; 503 when the queue cannot be reached."""
    try:
        handle = sqsq.send(price, order)
    except sqsq.ValidationError as exc:  # FastAPI validated it already; JSON could not carry it as it is
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except sqsq.SqsqError as exc:  # AWS unreachable, queue missing, throttled...
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return Accepted(task_id=handle.id)


@api.get("/tasks/{task_id}")
def read_task(task_id: str) -> TaskState:
    """The state of an order's task; an unknown or expired id is PENDING (as in Celery)."""
    try:
        record = sqsq.AsyncResult(task_id, app=app, task=price).record()
    except sqsq.SqsqError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    if record is None:
        return TaskState(task_id=task_id, state=Status.PENDING)
    if record.task_name != price.name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"task {task_id} is not an order")
    state = TaskState(task_id=task_id, state=record.status)
    if record.status is Status.SUCCESS and record.result_json is not None:
        state.result = price.load_result(record.result_json)
    elif record.status in (Status.FAILURE, Status.RETRY):
        state.error = f"{record.error_type}: {record.error_message}"
    return state
