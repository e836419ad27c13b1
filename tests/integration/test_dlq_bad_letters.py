"""One pathological dead letter never stops `sqsq dlq …` (local AWS): it is listed by message id and size, the
others still list, `show` of it is one line, and a redrive moves everything."""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from sqsq.cli import main
from sqsq.message import Envelope, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed

APP = "tests.apps.shop:app"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _envelope_body(task_id: str, args_json: str, task: str = "tests.add") -> str:
    return f'{{"v":1,"id":"{task_id}","task":"{task}","args":{args_json}}}'


def _seed(shop: Deployed) -> dict[str, str]:
    """Seven letters in the default queue's DLQ; returns {label: SQS message id}."""
    good = Envelope(id=new_task_id(), task="tests.apps.shop.boom", args={"message": "kaput"})
    shop.app.results.put(ResultRecord(good.id, Status.FAILURE, good.task, error_type="RuntimeError",
                                      error_message="kaput", attempts=3).stamped(3600))
    bodies = {
        "good": good.to_body(),
        "deep_args_900": _envelope_body(new_task_id(), '{"x":' + _nested(900) + "}"),  # decodes; too deep to print
        "deep_args_300": _envelope_body(new_task_id(), '{"x":' + _nested(300) + "}"),  # past pydantic's serializer
        "deep_body": "[" * 100_000 + "]" * 100_000,  # not even JSON within the recursion limit
        "deep_list_args": _envelope_body(new_task_id(), "[" * 900 + "]" * 900),  # args not an object
        "whitespace": _envelope_body(new_task_id(), '{"x":1,"y":2}') + " " * 200_000,
        "surrogate": _envelope_body(new_task_id(), '{"x":"\\udcff"}'),
    }
    ids: dict[str, str] = {}
    queue_url = shop.app.transport.queue_info(shop.app.settings.dlq_name("default")).url
    sqs = shop.app._aws().sqs
    for label, body in bodies.items():
        assert shop.app.transport.send_batch(shop.app.settings.dlq_name("default"),
                                             [OutgoingMessage("0", body)]) == [], label
    # Map message ids to labels by reading the bodies back (the listing hides them again afterwards).
    seen: dict[str, str] = {}
    while len(seen) < len(bodies):
        for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=1,
                                     WaitTimeSeconds=1).get("Messages", []):
            seen[m["Body"]] = m["MessageId"]
    for label, body in bodies.items():
        ids[label] = seen[body]
    ids["good_task_id"] = good.id
    return ids


def test_pathological_letters_are_listed_by_message_id_and_the_others_still_list(shop: Deployed) -> None:
    ids = _seed(shop)
    unreadable = {"deep_args_900", "deep_args_300", "deep_body"}

    listed = shop.cli("dlq", "list", APP, "default", "--json", "--visibility-timeout-seconds", "1")  # a real process
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-2000:]
    rows = {row["message_id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {ids[k] for k in ids if k != "good_task_id"}
    good = rows[ids["good"]]
    assert (good["task_id"], good["error_type"], good["unreadable"]) == (ids["good_task_id"], "RuntimeError", False)
    for label in unreadable:
        row = rows[ids[label]]
        assert row["task"] == "<undecodable>" and row["unreadable"] is True, label
        assert row["size_bytes"] > 1000 and row["args"] is None and row["error_message"], label
    listed_plainly = rows[ids["deep_list_args"]]  # not an envelope, but printable: an ordinary undecodable body
    assert (listed_plainly["task"], listed_plainly["unreadable"]) == ("<undecodable>", False)
    assert len(listed_plainly["error_message"]) <= 500  # pydantic's error quotes the input: cut
    assert rows[ids["whitespace"]]["args"] == {"x": 1, "y": 2}
    assert rows[ids["surrogate"]]["args"] == {"x": "\udcff"}

    table = run("dlq", "list", APP, "default", "--visibility-timeout-seconds", "1")
    assert table.exit_code == 0, table.output
    assert ids["good_task_id"] in table.stdout
    assert all(ids[label] in table.stdout for label in unreadable)  # by message id, with the size

    for label in unreadable:
        shown = run("dlq", "show", APP, "default", ids[label], "--visibility-timeout-seconds", "1")
        assert shown.exit_code == 0, (label, shown.output[-2000:])
        assert shown.stdout.count("\n") == 1 and ids[label] in shown.stdout and "bytes" in shown.stdout, label
        as_json = run("dlq", "show", APP, "default", ids[label], "--json", "--visibility-timeout-seconds", "1")
        assert as_json.exit_code == 0 and json.loads(as_json.stdout)["message_id"] == ids[label], label
    plain = run("dlq", "show", APP, "default", ids["deep_list_args"], "--visibility-timeout-seconds", "1")
    assert plain.exit_code == 0 and "body (undecodable" in plain.stdout
    good_shown = run("dlq", "show", APP, "default", ids["good_task_id"], "--visibility-timeout-seconds", "1")
    assert good_shown.exit_code == 0 and "kaput" in good_shown.stdout

    for args in (("--dry-run",), ("--dry-run", "--json")):
        dry = run("dlq", "redrive", APP, "default", "--all", *args, "--visibility-timeout-seconds", "1")
        assert dry.exit_code == 0, (args, dry.output[-2000:])
    moved = run("dlq", "redrive", APP, "default", "--all", "--json", "--visibility-timeout-seconds", "1")
    assert moved.exit_code == 0, moved.output[-2000:]
    assert len(json.loads(moved.stdout)["moved"]) == 7
