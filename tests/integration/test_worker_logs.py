"""`sqsq worker` logging and Celery habits as real subprocesses on the local AWS: --log-format json, one INFO line
per finished task, -A APP, --loglevel, and --reload restarting the worker on a code change."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqsq.local.server import LocalAwsServer
from tests.conftest import ROOT, Deployed, deploy, stop_process

APP = "tests.apps.chatty:app"


@pytest.fixture
def chatty(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    from tests.apps.chatty import app

    deployed = deploy(app, local_aws, tmp_path)
    try:
        yield deployed
    finally:
        deployed.close()


def _json_lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line must parse


def test_json_log_lines_parse_and_carry_the_task_id_and_name_with_one_info_line_per_task(chatty: Deployed) -> None:
    from tests.apps.chatty import greet, refuse

    ok = chatty.app.send(greet, {"name": "ada"})
    bad = chatty.app.send(refuse, {"name": "bob"})
    done = chatty.cli("worker", APP, "--burst", "--wait-time-seconds", "1", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    lines = _json_lines(done.stderr)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)

    greeting = [line for line in lines if line["logger"] == "tests.chatty" and "ada" in str(line["message"])]
    assert [(line["task_id"], line["task_name"]) for line in greeting] == [(ok.id, "chatty.greet")]
    refusal = [line for line in lines if line["logger"] == "tests.chatty" and "bob" in str(line["message"])]
    assert [(line["task_id"], line["task_name"]) for line in refusal] == [(bad.id, "chatty.refuse")]

    finished = [line for line in lines if line["logger"] == "sqsq.task"]
    assert sorted((line["task_id"], line["task_name"], line["outcome"], line["level"]) for line in finished) == sorted(
        [(ok.id, "chatty.greet", "success", "INFO"), (bad.id, "chatty.refuse", "failure", "INFO")]
    )
    assert all(isinstance(line["duration_seconds"], float) for line in finished)
    # Lines logged outside any task carry no task fields.
    assert any(line["logger"] == "sqsq.worker" and "task_id" not in line for line in lines)


def test_text_log_has_one_info_line_per_finished_task(chatty: Deployed) -> None:
    from tests.apps.chatty import greet

    ok = chatty.app.send(greet, {"name": "ada"})
    done = chatty.cli("worker", APP, "--burst", "--wait-time-seconds", "1")
    assert done.returncode == 0, done.stderr
    finished = [line for line in done.stderr.splitlines() if " INFO sqsq.task: " in line]
    assert len(finished) == 1
    assert f"task chatty.greet[{ok.id}] success in " in finished[0]


def test_worker_takes_the_app_as_dash_a_and_the_level_as_loglevel(chatty: Deployed) -> None:
    from tests.apps.chatty import greet

    handle = chatty.app.send(greet, {"name": "ada"})
    done = chatty.cli("worker", "-A", APP, "--burst", "--wait-time-seconds", "1", "--loglevel", "WARNING")
    assert done.returncode == 0, done.stderr
    assert handle.get(timeout_seconds=10) == "hello ada"
    assert " INFO " not in done.stderr  # --loglevel WARNING on the worker holds back the INFO lines


def _wait_for(predicate: object, timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_reload_restarts_the_worker_when_a_python_file_changes(chatty: Deployed, tmp_path: Path) -> None:
    watched = tmp_path / "project"
    watched.mkdir()
    source = watched / "tasks_module.py"
    source.write_text("VERSION = 1\n")
    log_path = tmp_path / "reload.log"
    env = {**chatty.env, "PYTHONPATH": str(ROOT)}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sqsq.cli", "worker", APP, "--reload", "--wait-time-seconds", "1"],
            cwd=watched, env=env, stdout=out, stderr=out, start_new_session=True,
        )
    try:
        def starts() -> int:
            return log_path.read_text(errors="replace").count("sqsq.worker: worker: queues")

        assert _wait_for(lambda: starts() == 1, 60), log_path.read_text()
        time.sleep(0.5)  # let watchfiles settle before the change
        source.write_text("VERSION = 2\n")
        assert _wait_for(lambda: starts() == 2, 60), log_path.read_text()
        assert "tasks_module.py changed; restarting the worker" in log_path.read_text()
    finally:
        code = stop_process(proc, signal.SIGTERM, timeout_seconds=30)
    assert code == 0, log_path.read_text()
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # the reloader's child is gone too


def test_ctrl_c_on_a_reloading_worker_stops_it_gracefully_letting_the_running_task_finish(
    chatty: Deployed, tmp_path: Path
) -> None:
    from tests.apps.chatty import nap

    watched = tmp_path / "project"
    watched.mkdir()
    log_path = tmp_path / "reload.log"
    env = {**chatty.env, "PYTHONPATH": str(ROOT)}
    handle = chatty.app.send(nap, {"seconds": 2.0})
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(  # the default --processes (2) is given: the reload child must still be one process
            [sys.executable, "-m", "sqsq.cli", "worker", APP, "--reload", "--wait-time-seconds", "1",
             "--processes", "2"],
            cwd=watched, env=env, stdout=out, stderr=out, start_new_session=True,
        )
    try:
        assert _wait_for(lambda: "napping" in log_path.read_text(errors="replace"), 60), log_path.read_text()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole group, so the worker also gets watchfiles' copy
        proc.wait(timeout=60)
    finally:
        code = stop_process(proc, signal.SIGKILL, timeout_seconds=10)
    text = log_path.read_text(errors="replace")
    assert code == 0, text
    assert "second signal" not in text
    assert f"task chatty.nap[{handle.id}] success in " in text
    assert "worker stopped:" in text
    assert handle.get(timeout_seconds=10) == "rested"


def test_a_worker_whose_first_task_kills_it_has_still_written_how_it_started(local_aws: LocalAwsServer,
                                                                              tmp_path: Path) -> None:
    # INFO lines are written in batches (sqsq.log_buffer); a task calling os._exit is no orderly exit, so nothing
    # kept is written then. The start-up lines are written when the start-up ends: a worker in a crash loop on a
    # poison task still shows its settings line each time.
    from tests.apps import chaos

    d = deploy(chaos.app, local_aws, tmp_path)
    try:
        d.app.send(chaos.poison, {"tag": "first"})
        done = d.cli("worker", "tests.apps.chaos:app", "--burst", "--wait-time-seconds", "1")
        assert done.returncode == 13, done.stderr
        assert "worker: " in done.stderr and "queues " in done.stderr, done.stderr
    finally:
        d.close()
