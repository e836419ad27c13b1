"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against the local AWS with
tasks in every state, a dashboard server and a worker as subprocesses (all stopped by PID)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqsq.message import Envelope, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed, stop_process

APP = "tests.apps.shop:app"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The README's screenshot is refreshed only on request (SQSQ_UPDATE_SCREENSHOT=1): a test run leaves the tree clean.
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"

if os.environ.get("CI"):  # CI installs playwright (dev group) and chromium (.ci/run): their absence is a failure there
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout_seconds: float = 30) -> None:
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.2)


def _seed(shop: Deployed) -> dict[str, str]:
    """A record in every state, and a dead letter of tests.add (which succeeds when retried)."""
    app, ids, now = shop.app, {}, time.time() - 30
    for i, status in enumerate((Status.STARTED, Status.RETRY, Status.SUCCESS, Status.FAILURE)):
        ids[status.value] = new_task_id()
        app.results.put(ResultRecord(ids[status.value], status, "tests.apps.shop.boom", attempts=1,
                                     error_type=None if status is Status.SUCCESS else "RuntimeError",
                                     error_message=None if status is Status.SUCCESS else "seeded").stamped(3600, now=now + i))
    env = Envelope(id=new_task_id(), task="tests.add", args={"x": 2, "y": 3})
    app.results.put(ResultRecord(env.id, Status.FAILURE, env.task, error_type="RuntimeError", error_message="flaky",
                                 attempts=3, sent_at=env.sent_at).stamped(3600, now=now + 10))
    assert app.transport.send_batch(app.settings.dlq_name("default"), [OutgoingMessage("0", env.to_body())]) == []
    ids["dead"] = env.id
    return ids


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()  # Playwright ends the browser process it started


def test_dashboard_in_chromium_counts_filters_live_refresh_and_retry(
    shop: Deployed, browser: object, tmp_path: Path
) -> None:
    ids = _seed(shop)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = shop.spawn("dashboard", APP, "--port", str(port), "--refresh-seconds", "1")
    worker = None
    try:
        _wait_http(f"{base}/healthz")
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        # queues: the counts on the page are sqsq queues --json's
        page.goto(f"{base}/")
        expected = json.loads(shop.cli("queues", APP, "--json").stdout)
        for row in expected:
            cells = page.locator(f'tr[data-queue="{row["queue"]}"]')
            for key in ("visible", "in_flight", "delayed", "dlq_visible"):
                shown = cells.locator(f"td.{key}").inner_text()
                assert shown == ("-" if row[key] is None else str(row[key])), (row["queue"], key)
        # filters: state FAILURE lists only failures
        page.goto(f"{base}/tasks")
        page.select_option("select[name=state]", "FAILURE")
        page.click("#filters button")
        page.wait_for_url("**state=FAILURE**")
        states = page.locator("#tasks td.state").all_inner_texts()
        assert states and set(states) == {"FAILURE"}
        shown = set(page.locator("#tasks tr[data-task-id]").evaluate_all("rs => rs.map(r => r.dataset.taskId)"))
        assert {ids["FAILURE"], ids["dead"]} <= shown and ids["SUCCESS"] not in shown
        # live refresh: a new task appears without a reload
        page.goto(f"{base}/tasks")
        page.evaluate("window.__noReload = true")
        fresh = new_task_id()
        shop.app.results.put(ResultRecord(fresh, Status.SUCCESS, "tests.add", attempts=1, result_json="1").stamped(
            3600, now=time.time() - 1))
        page.wait_for_selector(f'#tasks tr[data-task-id="{fresh}"]', timeout=15_000)
        assert page.evaluate("window.__noReload") is True
        shot = README_SCREENSHOT if os.environ.get("SQSQ_UPDATE_SCREENSHOT") == "1" else tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000  # a rendered page, not an empty image
        # retry a dead letter: with a worker running, the task ends SUCCESS
        worker = shop.spawn("worker", APP, "--wait-time-seconds", "1", "--registry-interval-seconds", "1")
        page.goto(f"{base}/failures")
        page.click(f'#dead tr[data-task-id="{ids["dead"]}"] form.retry button')
        page.wait_for_url("**/failures?done=**")
        assert "retried 1" in page.locator("#done").inner_text()
        page.goto(f"{base}/tasks/{ids['dead']}")
        page.wait_for_selector("#task td.state.SUCCESS", timeout=30_000)
        page.goto(f"{base}/workers")
        page.wait_for_selector("#workers tr[data-worker]", timeout=15_000)
    finally:
        for proc in (worker, server):
            if proc is not None:
                stop_process(proc, signal.SIGTERM, timeout_seconds=15)
