"""The masked arguments preview a result record keeps for the dashboard's task page (issue 15): secret-looking
keys masked, cut to 512 characters, written with the record by the one executor."""

from __future__ import annotations

import json

import sqsq
from sqsq.masking import ARGS_PREVIEW_MAX_CHARS, MASK, args_preview
from sqsq.testing import in_memory

app = sqsq.App("preview")


@app.task(name="preview.login")
def login(user: str, password: str, note: str = "") -> int:
    return len(user)


def test_a_records_preview_has_the_arguments_with_secret_looking_keys_masked() -> None:
    with in_memory(app) as env:
        handle = login.delay(user="ann", password="hunter2")
        env.drain()
        record = env.record(handle.id)
    assert record is not None and record.status is sqsq.Status.SUCCESS
    assert record.args_preview is not None and "hunter2" not in record.args_preview
    assert json.loads(record.args_preview) == {"user": "ann", "password": MASK, "note": ""}


def test_a_long_preview_is_cut_at_its_limit_and_says_so() -> None:
    preview = args_preview({"note": "x" * 5000})
    assert len(preview) == ARGS_PREVIEW_MAX_CHARS and preview.endswith("…")
    assert args_preview({"a": 1}) == '{"a":1}'
