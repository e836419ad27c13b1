"""The `sqsq` command as a user runs it: a real subprocess against moto server, and errors as one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqsq.cli import EXIT_CONFIG, EXIT_TASK_FAILED, EXIT_USAGE, main
from tests.conftest import ROOT, Deployed, stop_process

APP = "tests.apps.shop:app"


def test_send_with_wait_prints_the_id_and_the_result(shop: Deployed) -> None:
    worker = shop.spawn("worker", APP, "--wait-time-seconds", "1")
    sent = shop.cli("send", APP, "tests.add", '{"x": 20, "y": 22}', "--wait", "--timeout-seconds", "60")
    stop_process(worker)
    assert sent.returncode == 0, sent.stderr
    task_id, value = sent.stdout.split()
    assert json.loads(value) == 42
    shown = shop.cli("result", task_id, "--app", APP, "--json")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert record["status"] == "SUCCESS" and record["attempts"] == 1


def test_result_of_a_failed_task_exits_with_task_failed(shop: Deployed) -> None:
    sent = shop.cli("send", APP, "tests.apps.shop.boom", '{"message": "nope"}')
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    worker = shop.cli("worker", APP, "--burst", "--wait-time-seconds", "1")
    assert worker.returncode == 0, worker.stderr
    shown = shop.cli("result", task_id, "--app", APP)
    assert shown.returncode == EXIT_TASK_FAILED
    assert "FAILURE" in shown.stdout and "RuntimeError: nope" in shown.stdout


def test_queues_lists_depth_in_flight_delayed_and_dlq(shop: Deployed) -> None:
    shop.cli("send", APP, "tests.add", '{"x": 1, "y": 1}', "--delay-seconds", "60")
    shop.cli("send", APP, "tests.add", '{"x": 1, "y": 2}')
    listed = shop.cli("queues", APP, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["queue"]: r for r in json.loads(listed.stdout)}
    default = rows[shop.queue("default")]
    assert (default["visible"], default["delayed"], default["dlq_visible"]) == (1, 1, 0)
    assert default["dlq"] == shop.app.settings.dlq_name("default") and default["max_receive_count"] == 3
    table = shop.cli("queues", APP)
    assert shop.queue("images") in table.stdout


def test_invalid_arguments_are_one_line_and_nothing_is_sent(shop: Deployed) -> None:
    bad = shop.cli("send", APP, "tests.add", '{"x": "one"}')
    assert bad.returncode == EXIT_CONFIG
    assert bad.stderr.startswith("error: invalid arguments for task 'tests.add'")
    assert "Traceback" not in bad.stderr
    assert shop.app.transport.depth(shop.queue()).visible == 0
    unknown = shop.cli("send", APP, "no.such.task", "{}")
    assert unknown.returncode == EXIT_CONFIG and "no task named 'no.such.task'" in unknown.stderr
    not_json = shop.cli("send", APP, "tests.add", "{x: 1")
    assert not_json.returncode == 2 and "JSON" in not_json.stderr


def test_missing_queue_says_what_to_run(shop: Deployed) -> None:
    result = shop.cli("worker", APP, "--burst", extra_env={"SQSQ_QUEUE_PREFIX": "never-provisioned-"})
    assert result.returncode == EXIT_CONFIG
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "does not exist" in lines[0] and "sqsq provision" in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_endpoint_is_one_clear_line(shop: Deployed) -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "SQSQ_QUEUE_PREFIX": "x-"}
    result = shop.cli("send", APP, "tests.add", '{"x": 1, "y": 1}', extra_env=env, timeout_seconds=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "cannot reach" in result.stderr and "sqsq local" in result.stderr


def test_bad_app_spec_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["worker", "not-a-spec"])
    assert result.exit_code == EXIT_CONFIG
    assert "module:attribute" in result.output


def test_provision_is_idempotent(shop: Deployed) -> None:
    first = shop.cli("provision", APP)
    second = shop.cli("provision", APP)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    assert f"table {shop.app.settings.table_name}" in first.stdout


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_local_starts_provisions_prints_exports_and_stops_without_leaving_a_server(stop_signal: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("SQSQ_") and k != "AWS_ENDPOINT_URL"}
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sqsq.cli", "local", APP, "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while not any(line.startswith("export AWS_ENDPOINT_URL") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            lines.append(proc.stdout.readline().strip())
        assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in lines
        assert any("shop-default" in line and "shop-results" in line for line in lines)
    finally:
        os.kill(proc.pid, stop_signal)  # the CLI process only: it must stop its own server child
        proc.wait(timeout=30)
    with socket.socket() as s:  # the server process is gone: the port is free again
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "-1"])
@pytest.mark.parametrize(
    "command", [["result", "some-id", "--wait"], ["send", APP, "tests.add", '{"x": 1, "y": 1}', "--wait"]]
)
def test_timeout_that_is_not_a_finite_non_negative_number_is_a_usage_error(command: list[str], value: str) -> None:
    # NaN used to wait forever: every comparison with it is false.
    result = CliRunner().invoke(main, [*command, "--timeout-seconds", value])
    assert result.exit_code == EXIT_USAGE
    (line,) = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert "--timeout-seconds" in line and ("not a finite number" in line or "not in the range x>=0" in line)


def test_negative_shutdown_grace_is_a_usage_error_not_a_traceback() -> None:
    result = CliRunner().invoke(main, ["worker", APP, "--burst", "--shutdown-grace-seconds", "-1"])
    assert result.exit_code == EXIT_USAGE and "--shutdown-grace-seconds" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_local_port_outside_0_to_65535_is_a_usage_error(port: str) -> None:
    result = CliRunner().invoke(main, ["local", APP, "--port", port])
    assert result.exit_code == EXIT_USAGE and "0<=x<=65535" in result.output


def test_template_written_where_it_cannot_be_is_one_line_with_exit_3(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "dir" / "template.yaml"
    result = CliRunner().invoke(main, ["template", APP, "-o", str(target)])
    assert result.exit_code == EXIT_CONFIG
    assert result.stderr.splitlines() == [
        f"error: folder {target.parent} does not exist: create it, or write the template elsewhere"
    ]


@pytest.mark.parametrize("endpoint", ["not-a-url", "http://"])
@pytest.mark.parametrize("command", [["send", APP, "tests.add", '{"x": 1, "y": 1}'], ["result", "some-id"]])
def test_endpoint_url_that_is_not_a_url_is_one_config_error_line(endpoint: str, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "sqsq.cli", *command], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == EXIT_CONFIG, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: AWS_ENDPOINT_URL (endpoint_url) {endpoint!r} is not a valid URL")
    assert "http://127.0.0.1:4566" in line


def test_missing_credentials_is_one_line_saying_where_to_set_them(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQSQ_"))}
    env.update(PYTHONPATH=str(ROOT), AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_REGION="us-east-1",
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true")  # no instance-metadata lookup on machines that have one
    done = subprocess.run([sys.executable, "-m", "sqsq.cli", "send", APP, "tests.add", '{"x": 1, "y": 1}'],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4
    assert "no AWS credentials found" in done.stderr and "Traceback" not in done.stderr


def _run_into_closed_pipe(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sqsq ARGS`` with stdout a pipe whose reader is already gone (as after ``| head -1`` has read its line)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "sqsq.cli", *args], cwd=ROOT, env=env, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)


def test_a_reader_that_closes_stdout_early_ends_the_command_quietly(shop: Deployed) -> None:
    schema = _run_into_closed_pipe(["schema", APP], env=shop.env)
    assert (schema.returncode, schema.stderr) == (0, "")
    handle = shop.app.send("tests.add", {"x": 1, "y": 2})
    result = _run_into_closed_pipe(["result", handle.id, "--app", APP], env=shop.env)
    assert (result.returncode, result.stderr) == (0, "")
