"""The web example (sqsq.demo.web) end to end: FastAPI's TestClient sends orders to the local AWS, a real worker
process prices them, and the service reads the results back."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sqsq.demo import orders
from sqsq.demo.web import api
from sqsq.local.server import LocalAwsServer
from tests.conftest import Deployed, deploy, stop_process

FINAL = ("SUCCESS", "FAILURE")


@pytest.fixture
def service(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[tuple[TestClient, Deployed]]:
    """The orders app on fresh resources, a worker process for it (stopped by its PID), and a client for the API."""
    deployed = deploy(orders.app, local_aws, tmp_path)
    worker = deployed.spawn("worker", "sqsq.demo.orders:app", "--wait-time-seconds", "1")
    try:
        with TestClient(api) as client:
            yield client, deployed
    finally:
        stop_process(worker, signal.SIGTERM)
        deployed.close()


def _wait_final(client: TestClient, task_id: str, timeout_seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        answer = client.get(f"/tasks/{task_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["state"] in FINAL or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_posted_order_is_priced_by_the_worker_and_read_back(service: tuple[TestClient, Deployed]) -> None:
    client, _ = service
    order = {"customer": "ada", "lines": [{"sku": "tea", "quantity": 2, "unit_price": "3.50"},
                                          {"sku": "cake", "quantity": 1, "unit_price": "0.25"}]}
    posted = client.post("/orders", json=order)
    assert posted.status_code == 202, posted.text
    task_id = posted.json()["task_id"]
    done = _wait_final(client, task_id)
    assert done == {"task_id": task_id, "state": "SUCCESS", "error": None,
                    "result": {"customer": "ada", "items": 3, "total": "7.25"}}


def test_failed_order_task_shows_its_error(service: tuple[TestClient, Deployed]) -> None:
    client, _ = service
    posted = client.post("/orders", json={"customer": "blocked", "lines": [{"sku": "x", "quantity": 1, "unit_price": "1"}]})
    done = _wait_final(client, posted.json()["task_id"])
    assert done["state"] == "FAILURE" and done["result"] is None
    assert done["error"] == "PermissionError: customer 'blocked' may not order"


def test_invalid_order_is_refused_before_anything_is_sent(service: tuple[TestClient, Deployed]) -> None:
    client, deployed = service
    refused = client.post("/orders", json={"customer": "ada", "lines": [{"sku": "tea", "quantity": 0, "unit_price": "1"}]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "lines", 0, "quantity"]
    depth = deployed.app.transport.depth(deployed.queue())
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)


def test_unknown_task_id_is_pending(service: tuple[TestClient, Deployed]) -> None:
    client, _ = service
    assert client.get("/tasks/no-such-task").json() == {"task_id": "no-such-task", "state": "PENDING",
                                                          "result": None, "error": None}
