"""The pytest plugin as a user meets it: the app from a fixture, the ini option or neither; the local-AWS fixtures
(fresh resources per test on the session's server, a server started and stopped by PID when nobody overrides it,
a missing ``local`` extra reported as an error, never a skip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

import sqsq
from sqsq.local.server import LocalAwsServer
from sqsq.testing import LocalAwsEnv, local_aws
from sqsq.worker import Worker
from tests.integration.test_readme_testing_example import clean_environment

app = sqsq.App("tla")


@app.task(name="tla.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="tla.fail", retry_on=())
def fail() -> None:
    raise ValueError("no")


@app.task(name="tla.size")
def size(blob: str) -> int:
    return len(blob)


@pytest.fixture
def sqsq_app() -> sqsq.App:
    return app


def test_local_aws_fixture_gives_the_app_fresh_queues_with_dlqs_and_a_table(sqsq_local_aws: LocalAwsEnv) -> None:
    assert app.settings.endpoint_url == sqsq_local_aws.server.endpoint_url
    queue = app.queue_name("default")
    assert queue.startswith("tla-t") and queue in sqsq_local_aws.provisioned.queue_urls
    assert app.transport.queue_info(queue).max_receive_count == app.settings.max_receive_count
    ok, bad = sqsq.send(add, {"x": 2, "y": 3}), sqsq.send(fail, {})
    Worker(app, burst=True, wait_time_seconds=1, dlq_sweep_interval_seconds=0).run()
    assert ok.get(timeout_seconds=10) == 5
    with pytest.raises(sqsq.TaskFailed, match="no"):
        bad.get(timeout_seconds=10)
    env = sqsq_local_aws.client_environment()
    assert env["AWS_ENDPOINT_URL"] == sqsq_local_aws.server.endpoint_url and env["SQSQ_QUEUE_PREFIX"] in queue


def test_local_aws_fixture_gives_a_payload_bucket_so_a_2_mib_argument_round_trips(
    sqsq_local_aws: LocalAwsEnv,
) -> None:
    payloads = sqsq_local_aws.payloads
    assert payloads is not None and payloads.bucket == app.settings.payload_bucket
    assert payloads.bucket.startswith("tla-t") and payloads.bucket == sqsq_local_aws.provisioned.payload_bucket
    assert sqsq_local_aws.client_environment()["SQSQ_PAYLOAD_BUCKET"] == payloads.bucket
    handle = sqsq.send(size, {"blob": "x" * 2 * 1024 * 1024})
    Worker(app, burst=True, wait_time_seconds=1, dlq_sweep_interval_seconds=0).run()
    assert handle.get(timeout_seconds=10) == 2 * 1024 * 1024
    s3 = boto3.client("s3", endpoint_url=sqsq_local_aws.server.endpoint_url, region_name=app.settings.region)
    assert s3.list_objects_v2(Bucket=payloads.bucket).get("KeyCount") == 0  # the worker deleted the object


def test_local_aws_env_reads_depth_records_and_dead_letters_like_the_other_modes(sqsq_local_aws: LocalAwsEnv) -> None:
    env = sqsq_local_aws
    ok, bad = sqsq.send(add, {"x": 2, "y": 3}), sqsq.send(fail, {})
    assert env.depth().visible == 2 and env.depth("default").visible == 2
    assert env.record(ok.id) is None and env.dead_letters() == []
    Worker(app, burst=True, wait_time_seconds=1, dlq_sweep_interval_seconds=0).run()
    assert env.depth().visible == 0
    record = env.record(ok.id)
    assert record is not None and record.status is sqsq.Status.SUCCESS
    (letter,) = env.dead_letters()
    assert (letter.task_id, letter.error_type, letter.error_message) == (bad.id, "ValueError", "no")
    assert [e.task_id for e in env.dead_letters("default")] == [bad.id]  # read, not consumed


def test_local_aws_blocks_get_their_own_queues_and_restore_the_app_and_environment(
    sqsq_local_aws_server: LocalAwsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "the-real-one")
    own = sqsq.App("tlb", queue_prefix="before-")
    before = own.settings
    prefixes = []
    for _ in range(2):
        with local_aws(own, sqsq_local_aws_server) as env:
            assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"  # moto's dummy key, never the real one
            prefixes.append(own.settings.queue_prefix)
            assert list(env.provisioned.queue_urls) == [own.queue_name("default")]
    assert prefixes[0] != prefixes[1]
    assert own.settings is before and own.settings.queue_prefix == "before-"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "the-real-one"


PLUGIN_TEST = '''
import pytest, sqsq

app = sqsq.App("tlp")

@app.task(name="tlp.add")
def add(x: int, y: int) -> int:
    return x + y

@pytest.fixture
def sqsq_app():
    return app

def test_send_and_run_on_local_aws(sqsq_local_aws, sqsq_local_aws_server):
    from sqsq.worker import Worker
    open("server.pid", "w").write(str(sqsq_local_aws_server.pid))
    handle = sqsq.send(add, {"x": 1, "y": 2})
    Worker(app, burst=True, wait_time_seconds=1, dlq_sweep_interval_seconds=0).run()
    assert handle.get(timeout_seconds=10) == 3
'''


def _run_pytest(
    tmp_path: Path, test_code: str, conftest: str = "", ini: str = "[pytest]\n"
) -> subprocess.CompletedProcess[str]:
    """pytest in ``tmp_path`` (its own rootdir) on ``test_it.py``, with the sqsq plugin loaded by its entry point."""
    (tmp_path / "pytest.ini").write_text(ini)
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "test_it.py").write_text(test_code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=clean_environment(), capture_output=True, text=True, timeout=240,
    )


def test_plugin_server_fixture_starts_the_local_aws_and_stops_it_by_pid(tmp_path: Path) -> None:
    done = _run_pytest(tmp_path, PLUGIN_TEST)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]
    pid = int((tmp_path / "server.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_local_aws_fixture_without_the_local_extra_errors_with_the_pip_install_line(tmp_path: Path) -> None:
    blocked = "import sys\nsys.modules['moto'] = None  # as if sqsq[local] were not installed\n"
    done = _run_pytest(tmp_path, PLUGIN_TEST, conftest=blocked)
    assert done.returncode == 1, done.stdout[-4000:]
    assert "1 error" in done.stdout and "skipped" not in done.stdout, done.stdout[-4000:]
    assert 'MissingExtra: the local AWS (sqsq.local.server.LocalAwsServer) needs moto[server]: pip install "sqsq[local]"' in (
        done.stdout
    ), done.stdout[-4000:]


EAGER_TEST = '''
import sqsq
import tasks

def test_eager(sqsq_eager):
    assert sqsq.send(tasks.add, {"x": 1, "y": 2}).get() == 3
'''
TASKS = '''
import sqsq

app = sqsq.App("tli")

@app.task(name="tli.add")
def add(x: int, y: int) -> int:
    return x + y
'''


def test_plugin_takes_the_app_from_the_sqsq_app_ini_option(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(TASKS)
    done = _run_pytest(tmp_path, EAGER_TEST, ini="[pytest]\nsqsq_app = tasks:app\n")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def test_plugin_without_an_app_fails_the_test_saying_how_to_name_one(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(TASKS)
    done = _run_pytest(tmp_path, EAGER_TEST)
    assert done.returncode == 1 and "1 error" in done.stdout, done.stdout[-4000:]
    assert "no sqsq app for the sqsq_* fixtures: define a `sqsq_app` fixture" in done.stdout, done.stdout[-4000:]
