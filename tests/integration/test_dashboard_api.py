"""The dashboard's JSON API, pages, /metrics and security on the local AWS (in-process, FastAPI's TestClient)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sqsq.cli import main
from sqsq.dashboard import create_app
from sqsq.dashboard.security import check_bind
from sqsq.errors import ConfigError
from sqsq.message import Envelope, new_task_id
from sqsq.monitoring import Monitor
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from sqsq.workflows.ids import TREE_TASK_NAME, WORKFLOW_TASK_NAME
from tests.conftest import Deployed

LOOPBACK = "http://127.0.0.1:8642"  # the dashboard serves loopback Host names only (DNS rebinding)

TOKEN = "t" * 24


def _seed(shop: Deployed) -> dict[str, str]:
    """One record per state, plus one dead letter (with a secret-looking argument) and its FAILURE record."""
    app, ids = shop.app, {}
    now = time.time() - 20  # written in the past: a listing ends at its request's now
    for i, status in enumerate((Status.STARTED, Status.RETRY, Status.SUCCESS, Status.FAILURE)):
        task_id = new_task_id()
        ids[status.value] = task_id
        name = "tests.add" if status is Status.SUCCESS else "tests.apps.shop.boom"
        app.results.put(ResultRecord(task_id, status, name, attempts=1, runtime_seconds=0.25,
                                     error_type=None if status is Status.SUCCESS else "RuntimeError",
                                     result_json="3" if status is Status.SUCCESS else None).stamped(3600, now=now + i))
    env = Envelope(id=new_task_id(), task="tests.apps.shop.boom", args={"message": "m", "api_token": "hunter2"})
    app.results.put(ResultRecord(env.id, Status.FAILURE, env.task, error_type="RuntimeError", error_message="seeded",
                                 traceback="Traceback: boom", attempts=3, sent_at=env.sent_at).stamped(3600, now=now + 10))
    assert app.transport.send_batch(app.settings.dlq_name("default"), [OutgoingMessage("0", env.to_body())]) == []
    ids["dead"] = env.id
    return ids


@pytest.fixture
def client(shop: Deployed) -> Iterator[TestClient]:
    with TestClient(create_app(Monitor(shop.app, read_oldest_age=False)), base_url=LOOPBACK) as c:
        yield c


def _csrf(client: TestClient, path: str = "/failures") -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def test_queue_counts_match_sqsq_queues_json(shop: Deployed, client: TestClient) -> None:
    _seed(shop)
    cli = CliRunner().invoke(main, ["queues", "tests.apps.shop:app", "--json"], env=shop.env, catch_exceptions=False)
    expected = json.loads(cli.output)
    got = client.get("/api/queues").json()["queues"]
    depths = ("queue", "visible", "in_flight", "delayed", "dlq", "dlq_visible")  # what both show
    assert [{k: q[k] for k in depths} for q in got] == [{k: q[k] for k in depths} for q in expected]
    assert any(q["dlq_visible"] == 1 for q in got)
    assert len(client.get("/api/queues").json()["throughput"]["succeeded"]) == 60


def test_tasks_are_filtered_by_state_and_name_and_every_state_is_listed(shop: Deployed, client: TestClient) -> None:
    ids = _seed(shop)
    everything = {t["task_id"]: t["status"] for t in client.get("/api/tasks").json()["tasks"]}
    assert {everything[ids[s]] for s in ("STARTED", "RETRY", "SUCCESS", "FAILURE")} == {
        "STARTED", "RETRY", "SUCCESS", "FAILURE"}
    failed = client.get("/api/tasks", params={"state": "FAILURE"}).json()["tasks"]
    assert {t["task_id"] for t in failed} == {ids["FAILURE"], ids["dead"]}
    added = client.get("/api/tasks", params={"name": "tests.add", "minutes": "60"}).json()["tasks"]
    assert [t["task_id"] for t in added] == [ids["SUCCESS"]]
    assert client.get("/api/tasks", params={"state": "NOPE"}).status_code == 400
    page = client.get("/tasks", params={"state": "RETRY"}).text
    assert ids["RETRY"] in page and ids["SUCCESS"] not in page


def test_task_page_shows_the_error_and_masks_secret_arguments(shop: Deployed, client: TestClient) -> None:
    ids = _seed(shop)
    detail = client.get(f"/api/tasks/{ids['dead']}").json()
    assert detail["args"] == {"message": "m", "api_token": "**********"}
    assert detail["traceback"] == "Traceback: boom" and detail["status"] == "FAILURE"
    for path in (f"/tasks/{ids['dead']}", "/failures", "/api/failures"):
        assert "hunter2" not in client.get(path).text
    assert client.get(f"/api/tasks/{ids['SUCCESS']}").json()["result"] == 3


def test_retry_is_a_post_that_needs_the_csrf_token(shop: Deployed, client: TestClient) -> None:
    ids = _seed(shop)
    data = {"task_id": ids["dead"]}
    assert client.post("/api/failures/retry", data=data).status_code == 403
    assert client.post("/api/failures/retry", data={**data, "csrf": "forged"}).status_code == 403
    answer = client.post("/api/failures/retry", data={**data, "csrf": _csrf(client)},
                         headers={"accept": "application/json"})
    assert answer.status_code == 200 and answer.json()["moved"] == 1
    assert shop.app.transport.depth(shop.queue()).visible == 1


def test_read_only_hides_and_refuses_actions(shop: Deployed) -> None:
    ids = _seed(shop)
    with TestClient(create_app(Monitor(shop.app, read_oldest_age=False), read_only=True), base_url=LOOPBACK) as c:
        page = c.get("/failures").text
        assert ids["dead"] in page and "retry</button>" not in page and 'name="csrf"' not in page
        assert c.post("/api/failures/retry", data={"task_id": ids["dead"]}).status_code == 403


def test_a_token_is_required_off_loopback_and_checked_on_every_request(shop: Deployed) -> None:
    check_bind("127.0.0.1", None)
    with pytest.raises(ConfigError, match="token"):
        check_bind("0.0.0.0", None)
    with TestClient(create_app(Monitor(shop.app, read_oldest_age=False), token=TOKEN), base_url=LOOPBACK) as c:
        assert c.get("/api/queues").status_code == 401
        assert c.get("/login", params={"token": "wrong"}).status_code == 401
        assert c.get("/api/queues", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert c.get("/login", params={"token": TOKEN}).status_code == 200  # redirected to / with a session
        assert c.get("/api/workers").status_code == 200
        assert c.get("/healthz").status_code == 200


def test_metrics_parse_with_the_prometheus_parser(shop: Deployed, client: TestClient) -> None:
    _seed(shop)
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    depths = {(s.labels["queue"], s.labels["state"]): s.value for s in families["sqsq_queue_messages"].samples}
    assert (shop.queue(), "visible") in depths
    assert {s.labels["queue"]: s.value for s in families["sqsq_dlq_messages"].samples}[shop.queue()] == 1
    tasks = {(s.labels["task"], s.labels["outcome"]): s.value for s in families["sqsq_tasks"].samples}
    assert tasks[("tests.add", "SUCCESS")] == 1 and tasks[("tests.apps.shop.boom", "FAILURE")] == 2
    runtime = {(s.name, s.labels["task"], s.labels["outcome"]): s.value
               for s in families["sqsq_task_runtime_seconds"].samples}
    assert runtime[("sqsq_task_runtime_seconds_sum", "tests.add", "SUCCESS")] == 0.25


def test_no_dashboard_path_scans_the_table(shop: Deployed, client: TestClient) -> None:
    ids = _seed(shop)
    before = shop.server.request_counts()
    for path in ("/", "/api/queues", "/tasks", "/api/tasks?state=FAILURE&name=tests.add", f"/tasks/{ids['dead']}",
                 "/failures", "/api/failures", "/workers", "/api/workers", "/metrics"):
        assert client.get(path).status_code == 200, path
    after = shop.server.request_counts()
    assert after.get("dynamodb:Scan", 0) == before.get("dynamodb:Scan", 0)
    assert after.get("dynamodb:Query", 0) > before.get("dynamodb:Query", 0)


def test_live_refresh_gets_only_the_live_part(shop: Deployed, client: TestClient) -> None:
    _seed(shop)
    full = client.get("/tasks").text
    part = client.get("/tasks", headers={"X-Sqsq-Fragment": "1"}).text
    assert "<nav>" in full and "<nav>" not in part and '<table id="tasks">' in part


def _seed_scheduled_revoked_and_workflow(shop: Deployed) -> dict[str, str]:
    """A SCHEDULED record (due in an hour), a REVOKED one, and a workflow's own record and shape record."""
    app, now, ids = shop.app, time.time() - 20, {}
    for i, (key, status, name) in enumerate((("SCHEDULED", Status.SCHEDULED, "tests.add"),
                                             ("REVOKED", Status.REVOKED, "tests.add"),
                                             ("workflow", Status.SUCCESS, WORKFLOW_TASK_NAME),
                                             ("tree", Status.SUCCESS, TREE_TASK_NAME))):
        ids[key] = new_task_id()
        app.results.put(ResultRecord(ids[key], status, name, result_json="[]" if key == "tree" else None,
                                     due_at=now + 3600 if status is Status.SCHEDULED else None,
                                     runtime_seconds=0.0004 if key == "workflow" else None).stamped(3600, now=now + i))
    return ids


def test_scheduled_and_revoked_tasks_are_listed_and_a_scheduled_tasks_page_shows_its_due_time(
    shop: Deployed, client: TestClient
) -> None:
    ids = _seed_scheduled_revoked_and_workflow(shop)
    for state in ("SCHEDULED", "REVOKED"):
        got = client.get("/api/tasks", params={"state": state})
        assert got.status_code == 200, got.text
        assert [t["task_id"] for t in got.json()["tasks"]] == [ids[state]]
    assert {ids["SCHEDULED"], ids["REVOKED"]} <= {t["task_id"] for t in client.get("/api/tasks").json()["tasks"]}
    detail = client.get(f"/api/tasks/{ids['SCHEDULED']}").json()
    assert detail["due_at"] == pytest.approx(time.time() - 20 + 3600, abs=5)
    assert "<th>due</th>" in client.get(f"/tasks/{ids['SCHEDULED']}").text
    assert "SCHEDULED" in client.get("/tasks").text and "REVOKED" in client.get("/tasks").text


def test_workflow_records_are_not_tasks_in_listings_metrics_or_throughput(
    shop: Deployed, client: TestClient
) -> None:
    ids = _seed_scheduled_revoked_and_workflow(shop)
    listed = {t["task_id"] for t in client.get("/api/tasks").json()["tasks"]}
    assert ids["workflow"] not in listed and ids["tree"] not in listed
    assert ids["workflow"] not in client.get("/tasks").text
    named = client.get("/api/tasks", params={"name": WORKFLOW_TASK_NAME}).json()["tasks"]
    assert [t["task_id"] for t in named] == [ids["workflow"]]  # asked for by name: listed
    assert WORKFLOW_TASK_NAME not in client.get("/metrics").text
    assert sum(client.get("/api/queues").json()["throughput"]["succeeded"]) == 0
    top = CliRunner().invoke(main, ["top", "tests.apps.shop:app", "--once"], env=shop.env, catch_exceptions=False)
    assert top.exit_code == 0 and ids["workflow"] not in top.output and ids["REVOKED"] in top.output


def test_a_sub_millisecond_run_time_is_shown_in_microseconds_or_milliseconds_not_as_zero(
    shop: Deployed, client: TestClient
) -> None:
    task_id = new_task_id()
    shop.app.results.put(ResultRecord(task_id, Status.SUCCESS, "tests.add", result_json="3",
                                      runtime_seconds=0.0004).stamped(3600, now=time.time() - 20))
    assert "400 µs" in client.get("/tasks").text and "400 µs" in client.get(f"/tasks/{task_id}").text
    assert "0.000 s" not in client.get("/tasks").text
    from sqsq.monitoring.tasks import format_seconds

    assert format_seconds(0.0134) == "13.4 ms" and format_seconds(2.5) == "2.500 s" and format_seconds(None) == "-"
