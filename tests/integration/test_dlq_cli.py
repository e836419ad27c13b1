"""`sqsq dlq …` against the local AWS (moto server): workers and one CLI run as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import boto3
from click.testing import CliRunner, Result

from sqsq.cli import EXIT_PURGE_IN_PROGRESS, EXIT_USAGE, main
from sqsq.message import Envelope, body_size_bytes, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed, stop_process

APP = "tests.apps.shop:app"
KIB = 1024


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=stdin, catch_exceptions=False)


def dlq_name(shop: Deployed) -> str:
    return shop.app.settings.dlq_name("default")


def run_worker_until_drained(shop: Deployed) -> None:
    proc = shop.spawn("worker", APP, "--burst", "--wait-time-seconds", "1")
    try:
        proc.wait(timeout=60)
    finally:
        stop_process(proc, signal.SIGKILL, timeout_seconds=5)
    assert proc.returncode == 0, proc.stderr.read().decode() if proc.stderr else ""


def seed_dlq(shop: Deployed, n: int, task: str = "tests.apps.shop.boom", error_type: str = "RuntimeError",
             pad_bytes: int = 0) -> list[str]:
    """Put ``n`` failed tasks straight into the default queue's DLQ, each with its FAILURE record."""
    app, ids, batch = shop.app, [], []
    for _ in range(n):
        env = Envelope(id=new_task_id(), task=task, args={"message": "m" + "x" * pad_bytes})
        ids.append(env.id)
        batch.append(OutgoingMessage(str(len(batch)), env.to_body()))
        app.results.put(ResultRecord(env.id, Status.FAILURE, task, error_type=error_type, error_message="seeded",
                                     attempts=3, sent_at=env.sent_at).stamped(3600))
        if len(batch) == 10 or sum(body_size_bytes(m.body) for m in batch) > 150 * KIB:
            assert app.transport.send_batch(dlq_name(shop), batch) == []
            batch = []
    if batch:
        assert app.transport.send_batch(dlq_name(shop), batch) == []
    return ids


def queue_task_ids(shop: Deployed, queue: str) -> list[str]:
    """Every task id in ``queue``, in flight ones included (waits until none is in flight; hides them 60 s)."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = shop.app.transport.receive(queue, 10, 1, visibility_timeout_seconds=60)
        for m in got:
            seen[m.message_id] = Envelope.from_body(m.body).id
        if not got:
            depth = shop.app.transport.depth(queue)
            if depth.visible == 0 and depth.in_flight <= len(seen):
                break
    return sorted(seen.values())


def test_task_failing_always_is_listed_in_the_dlq_with_its_error(shop: Deployed) -> None:
    boom = shop.app.send("tests.apps.shop.boom", {"message": "kaput"})
    add = shop.app.send("tests.add", {"x": 1, "y": 2})
    run_worker_until_drained(shop)
    assert add.get(timeout_seconds=5) == 3

    # Once as a real process, with --json.
    done = shop.cli("dlq", "list", APP, "default", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["task_id"] == boom.id and row["task"] == "tests.apps.shop.boom"
    assert (row["error_type"], row["error_message"], row["attempts"]) == ("RuntimeError", "kaput", 3)
    assert row["args"] == {"message": "kaput"} and row["age_seconds"] >= 0

    table = run("dlq", "list", APP, "default")
    assert table.exit_code == 0
    assert boom.id in table.stdout and "RuntimeError: kaput" in table.stdout and '{"message":"kaput"}' in table.stdout
    assert boom.id in run("dlq", "list", APP, shop.queue("default"), "--task", "tests.apps.shop.boom").stdout
    assert json.loads(run("dlq", "list", APP, "default", "--json", "--error", "KeyError").stdout) == []
    assert json.loads(run("dlq", "list", APP, "default", "--json", "--task", "tests.add").stdout) == []

    shown = run("dlq", "show", APP, "default", boom.id)
    assert shown.exit_code == 0
    assert f'"id": "{boom.id}"' in shown.stdout and '"generation": 0' in shown.stdout
    assert "error_type: RuntimeError" in shown.stdout and "raise RuntimeError(message)" in shown.stdout
    missing = run("dlq", "show", APP, "default", "no-such-task")
    assert missing.exit_code == 3 and "no message for task no-such-task" in missing.stderr


def test_redriven_task_runs_again_with_a_fresh_attempt_count_after_the_cause_is_fixed(
    shop: Deployed, tmp_path: Path
) -> None:
    marker = tmp_path / "fixed"
    handle = shop.app.send("tests.apps.shop.needs_marker", {"marker": str(marker)})
    run_worker_until_drained(shop)
    failed = handle.record()
    assert failed is not None and (failed.status, failed.attempts, failed.generation) == (Status.FAILURE, 3, 0)

    marker.touch()
    moved = run("dlq", "redrive", APP, "default", "--task", "tests.apps.shop.needs_marker")
    assert moved.exit_code == 0, moved.output
    assert "moved 1 of 1" in moved.stdout
    run_worker_until_drained(shop)

    assert handle.get(timeout_seconds=5) == "fixed"
    record = handle.record()
    assert record is not None and (record.status, record.attempts, record.generation) == (Status.SUCCESS, 1, 1)
    assert json.loads(run("dlq", "list", APP, "default", "--json").stdout) == []


def test_redrive_filters_select_exactly_those_and_dry_run_moves_nothing(shop: Deployed) -> None:
    booms = seed_dlq(shop, 3)
    keys = seed_dlq(shop, 2, task="tests.add", error_type="KeyError")
    source = shop.queue("default")

    dry = run("dlq", "redrive", APP, "default", "--all", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert sorted(json.loads(dry.stdout)["selected"]) == sorted(booms + keys)
    assert queue_task_ids(shop, source) == []

    one = run("dlq", "redrive", APP, "default", "--task-id", booms[0], "--json")
    assert json.loads(one.stdout)["moved"] == [booms[0]]
    by_error = run("dlq", "redrive", APP, "default", "--error", "KeyError", "--json")
    assert sorted(json.loads(by_error.stdout)["moved"]) == sorted(keys)
    by_task = run("dlq", "redrive", APP, "default", "--task", "tests.apps.shop.boom", "--json")
    assert sorted(json.loads(by_task.stdout)["moved"]) == sorted(booms[1:])

    assert queue_task_ids(shop, source) == sorted(booms + keys)
    assert queue_task_ids(shop, dlq_name(shop)) == []
    nothing = run("dlq", "redrive", APP, "default")
    assert nothing.exit_code == EXIT_USAGE and "--all" in nothing.stderr


def test_native_redrive_falls_back_to_moving_client_side_on_moto(shop: Deployed) -> None:
    ids = seed_dlq(shop, 3)
    done = run("dlq", "redrive", APP, "default", "--all", "--native")
    assert done.exit_code == 0, done.output
    assert "StartMessageMoveTask not available" in done.stderr and "moved 3 of 3" in done.stdout
    assert queue_task_ids(shop, shop.queue("default")) == sorted(ids)


def test_ten_100_kib_messages_all_move_on_a_256_kib_queue(shop: Deployed) -> None:
    # B09: ten of them are ~1 MB, four times what one SendMessageBatch may carry on this queue.
    sqs = boto3.client("sqs", endpoint_url=shop.server.endpoint_url, region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=shop.queue("default"))["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(256 * KIB)})
    assert shop.app.transport.queue_info(shop.queue("default")).max_message_size_bytes == 256 * KIB
    ids = seed_dlq(shop, 10, pad_bytes=100 * KIB)
    done = run("dlq", "redrive", APP, "default", "--all", "--json")
    assert done.exit_code == 0, done.output
    assert sorted(json.loads(done.stdout)["moved"]) == sorted(ids)
    assert queue_task_ids(shop, shop.queue("default")) == sorted(ids)
    assert queue_task_ids(shop, dlq_name(shop)) == []


def test_redrive_killed_midway_loses_no_message(shop: Deployed) -> None:
    ids = seed_dlq(shop, 300)
    proc = shop.spawn("dlq", "redrive", APP, "default", "--all", "--max-per-second", "60",
                      "--visibility-timeout-seconds", "2")
    assert proc.stderr is not None
    moved = 0
    for raw in proc.stderr:
        line = raw.decode()
        if line.startswith("redrive: ") and (moved := int(line.rsplit("moved ", 1)[1])) >= 30:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL and moved >= 30

    in_source = queue_task_ids(shop, shop.queue("default"))
    in_dlq = queue_task_ids(shop, dlq_name(shop))
    assert in_source and in_dlq, "the kill should land mid-way"
    assert set(in_source) | set(in_dlq) == set(ids)


def test_second_purge_within_60_seconds_exits_with_its_own_code_and_one_line(
    shop: Deployed, tmp_path: Path
) -> None:
    seed_dlq(shop, 2)
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}

    declined = run("dlq", "purge", APP, "default", env=cache, stdin="n\n")
    assert declined.exit_code != 0 and "next 60 s may be deleted" in declined.stderr
    assert shop.app.transport.depth(dlq_name(shop)).visible == 2

    first = run("dlq", "purge", APP, "default", "--yes", env=cache)
    assert first.exit_code == 0 and "next 60 s may be deleted" in first.stdout
    second: subprocess.CompletedProcess[str] = shop.cli("dlq", "purge", APP, "default", "--yes", extra_env=cache)
    assert second.returncode == EXIT_PURGE_IN_PROGRESS
    (line,) = second.stderr.strip().splitlines()
    assert line.startswith("error: purge already in progress; retry after ~") and "Traceback" not in second.stderr

    # Without sqsq's own record, SQS's (moto's) PurgeQueueInProgress gives the same answer.
    other = run("dlq", "purge", APP, "default", "--yes", env={"XDG_CACHE_HOME": str(tmp_path / "elsewhere")})
    assert other.exit_code == EXIT_PURGE_IN_PROGRESS
    assert other.stderr.strip().startswith("error: purge already in progress; retry after ~60 s")


def _seed_raw(shop: Deployed, *bodies: str) -> None:
    batch = [OutgoingMessage(str(i), body) for i, body in enumerate(bodies)]
    assert shop.app.transport.send_batch(dlq_name(shop), batch) == []


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_dlq_output_escapes_text_the_terminal_cannot_encode(shop: Deployed) -> None:
    # A lone surrogate (sqsq sends it escaped as \ud800 / \udcff, e.g. an os.listdir() name) and rich markup.
    task_id = new_task_id()
    body = '{"v":1,"id":"ID","task":"tests.apps.shop.boom","args":{"message":"file-\\udcff.txt [/x]"}}'
    body = body.replace("ID", task_id)
    _seed_raw(shop, body)
    strict = {"PYTHONIOENCODING": "utf-8"}  # strict UTF-8 stdout: printing a lone surrogate raises
    for args in (("list",), ("redrive", "--all", "--dry-run"), ("show", task_id)):
        done = shop.cli("dlq", args[0], APP, "default", *args[1:], extra_env=strict)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "file-\\udcff.txt [/x]" in done.stdout, (args, done.stdout)
    ascii_only = shop.cli("dlq", "list", APP, "default", extra_env={"PYTHONIOENCODING": "ascii"})
    assert ascii_only.returncode == 0 and "file-\\udcff.txt" in ascii_only.stdout, ascii_only.stderr

    for args in (("list", "--json"), ("show", task_id, "--json")):
        done = shop.cli("dlq", args[0], APP, "default", *args[1:], extra_env=strict)
        assert done.returncode == 0, done.stderr
        assert done.stdout.isascii() and "\\udcff" in done.stdout
        parsed = _strict_json(done.stdout)
        row = parsed[0] if isinstance(parsed, list) else parsed
        assert isinstance(row, dict) and row["args"] == {"message": "file-\udcff.txt [/x]"}


def test_dlq_json_never_prints_nan_or_infinity_and_deep_bodies_are_undecodable(shop: Deployed) -> None:
    nan_args = new_task_id()
    inf_sent = new_task_id()
    deep = "[" * 100_000 + "]" * 100_000
    _seed_raw(
        shop,
        '{"v":1,"id":"ID","task":"tests.add","args":{"x":NaN,"y":Infinity}}'.replace("ID", nan_args),
        '{"v":1,"id":"ID","task":"tests.add","args":{},"sent_at":Infinity}'.replace("ID", inf_sent),
        '{"v":1,"id":"ID","task":"tests.add","args":{},"sent_at":1e300}'.replace("ID", new_task_id()),
        deep,
    )

    listed = run("dlq", "list", APP, "default", "--json")
    assert listed.exit_code == 0, listed.output
    rows = _strict_json(listed.stdout)
    assert isinstance(rows, list) and len(rows) == 4
    by_id = {row["task_id"]: row for row in rows}
    assert by_id[nan_args]["args"] == {"x": None, "y": None}
    assert all(row["age_seconds"] is None or row["age_seconds"] >= 0 for row in rows)
    assert sum(row["task"] == "<undecodable>" for row in rows) >= 1  # the deep one at least

    for args in (("list",), ("redrive", "--all", "--dry-run"), ("redrive", "--all", "--dry-run", "--json")):
        done = run("dlq", args[0], APP, "default", *args[1:])
        assert done.exit_code == 0, (args, done.output)
    shown = run("dlq", "show", APP, "default", nan_args, "--json")
    assert shown.exit_code == 0 and _strict_json(shown.stdout)["args"] == {"x": None, "y": None}  # type: ignore[index]
    assert "NaN" not in run("dlq", "show", APP, "default", nan_args).stdout
