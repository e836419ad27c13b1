"""`sqsq dashboard` and `sqsq top` as commands, the worker registry in a running worker, and the EMF lines."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

from click.testing import CliRunner

from sqsq.cli import EXIT_CONFIG, main
from sqsq.results.workers import live_workers
from sqsq.worker import Worker
from sqsq.worker.emf import EmfEmitter
from sqsq.worker.stats import WorkerStats
from tests.conftest import ROOT, Deployed
from tests.integration.test_missing_extras import RUN_WITHOUT

APP = "tests.apps.shop:app"


def test_dashboard_without_its_extra_names_the_pip_install(shop: Deployed) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, "jinja2,prometheus_client", "sqsq.cli", "dashboard", APP, "--port", "0"],
        cwd=ROOT, env=shop.env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip() == 'error: sqsq dashboard needs Jinja2 and prometheus-client: pip install "sqsq[dashboard]"'


def test_dashboard_refuses_a_public_bind_without_a_token(shop: Deployed) -> None:
    result = CliRunner().invoke(main, ["dashboard", APP, "--host", "0.0.0.0"], env={**shop.env,
                                                                                  "SQSQ_DASHBOARD_TOKEN": ""})
    assert result.exit_code == EXIT_CONFIG
    assert "give it a token" in result.output


def test_top_once_prints_queues_and_recent_tasks(shop: Deployed) -> None:
    handle = shop.app.get_task("tests.add").delay(x=1, y=2)  # type: ignore[attr-defined]
    worker = Worker(shop.app, ["default"], burst=True, wait_time_seconds=1, registry_interval_seconds=0)
    worker.run()
    result = CliRunner().invoke(main, ["top", APP, "--once"], env=shop.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert shop.queue() in result.output and handle.id in result.output and "SUCCESS" in result.output


def test_a_running_worker_reports_itself_and_leaves_the_registry_when_it_stops(shop: Deployed) -> None:
    worker = Worker(shop.app, ["default"], concurrency=3, wait_time_seconds=1, registry_interval_seconds=1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    store = shop.app.results
    try:
        deadline = time.monotonic() + 30
        while not (seen := live_workers(store.clients, store.table_name)):  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "the worker never reported"
            time.sleep(0.2)
        assert seen[0].queues == [shop.queue()] and seen[0].concurrency == 3 and seen[0].interval_seconds == 1
    finally:
        worker.stop()
        thread.join(timeout=60)
    assert live_workers(store.clients, store.table_name) == []  # type: ignore[attr-defined]


def test_emf_lines_follow_the_embedded_metric_format() -> None:
    stats, out = WorkerStats(), io.StringIO()
    emitter = EmfEmitter("sqsq", "shop", stats, out)
    stats.succeeded, stats.retried = 5, 1
    emitter.emit(in_flight=2)
    stats.succeeded = 7
    doc = json.loads(emitter.emit(in_flight=0))
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "sqsq" and directive["Dimensions"] == [["service"]]
    assert {m["Name"] for m in directive["Metrics"]} <= set(doc)
    assert (doc["service"], doc["TasksSucceeded"], doc["TasksRetried"], doc["MessagesInFlight"]) == ("shop", 2, 0, 0)
    assert isinstance(doc["_aws"]["Timestamp"], int) and len(out.getvalue().splitlines()) == 2
