"""One bad dead letter never stops the DLQ tools (in-memory twins)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sqsq.dlq import MAX_SHOWN_DEPTH, UNDECODABLE, DeadLetterQueue, DlqEntry, Selection
from sqsq.dlq.decode import too_deep as _too_deep
from sqsq.message import Envelope, new_task_id
from sqsq.results import ResultRecord, Status
from sqsq.transport import OutgoingMessage
from tests.unit.conftest import MemoryApp

DLQ = "unit-default-dlq"


def _send(mem: MemoryApp, *bodies: str) -> None:
    assert mem.transport.send_batch(DLQ, [OutgoingMessage(str(i), b) for i, b in enumerate(bodies)]) == []


def _deep_args_body(task_id: str, depth: int) -> str:
    return f'{{"v":1,"id":"{task_id}","task":"unit.t","args":{{"x":' + '{"a":' * depth + "1" + "}" * depth + "}}"


def test_deeply_nested_arguments_are_listed_as_unreadable_with_their_recorded_failure(mem: MemoryApp) -> None:
    task_id = new_task_id()
    mem.results.put(ResultRecord(task_id, Status.FAILURE, "unit.t", error_type="ValidationError",
                                 error_message="too deep", attempts=1).stamped(3600))
    good = Envelope(id=new_task_id(), task="unit.t", args={"x": 1})
    _send(mem, _deep_args_body(task_id, 900), good.to_body())
    entries = {e.message.body == good.to_body(): e for e in DeadLetterQueue(mem.app, "default", wait_seconds=0).entries()}
    bad, ok = entries[False], entries[True]
    assert bad.unreadable and bad.task_name == UNDECODABLE and bad.error_type == "ValidationError"
    assert bad.message_id in bad.args_summary() and str(bad.size_bytes) in bad.one_line()
    row = bad.to_json()
    assert row["args"] is None and row["unreadable"] is True
    json.dumps(bad.detail_json())  # printable: the body is not in it
    assert bad.detail_json()["body"] is None
    assert not ok.unreadable and ok.to_json()["args"] == {"x": 1}


def test_arguments_as_deep_as_the_limit_are_still_shown(mem: MemoryApp) -> None:
    _send(mem, _deep_args_body(new_task_id(), MAX_SHOWN_DEPTH - 2))
    (entry,) = DeadLetterQueue(mem.app, "default", wait_seconds=0).entries()
    assert not entry.unreadable
    json.dumps(entry.detail_json())


def test_depth_check_does_not_recurse() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert _too_deep({"x": deep}, MAX_SHOWN_DEPTH)
    assert not _too_deep({"x": [[1]], "y": {"z": []}}, 3)


def test_letter_that_cannot_be_reencoded_stays_in_the_dlq_and_the_others_move(
    mem: MemoryApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck, free = (Envelope(id=new_task_id(), task="unit.t", args={"n": n}) for n in range(2))
    _send(mem, stuck.to_body(), free.to_body())
    real = DlqEntry.redrive_body

    def refuse(self: DlqEntry, keyring: object = None) -> str:
        if self.task_id == stuck.id:
            raise ValueError("Circular reference detected (depth exceeded)")
        return real(self, keyring)  # type: ignore[arg-type]

    monkeypatch.setattr(DlqEntry, "redrive_body", refuse)
    report = DeadLetterQueue(mem.app, "default", wait_seconds=0).redrive(Selection(everything=True))
    assert report.moved == [free.id] and "cannot re-encode" in report.failed[stuck.id]
