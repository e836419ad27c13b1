"""``sqsq result`` cuts a long result short in its text output (with a note); ``--full`` and ``--json`` are whole."""

from __future__ import annotations

import json

from click.testing import CliRunner

import sqsq
from sqsq.cli import main
from sqsq.cli.tasks import RESULT_PREVIEW_CHARS
from sqsq.testing import eager

app = sqsq.App("rp")
APP = f"{__name__}:app"
BIG = 2 * 1024 * 1024


@app.task(name="rp.blob")
def blob(n: int) -> str:
    return "x" * n


def test_a_2_mib_result_is_cut_in_the_text_output_and_whole_with_full_or_json() -> None:
    runner = CliRunner()
    with eager(app):
        big, small = app.send(blob, {"n": BIG}), app.send(blob, {"n": 10})
        text = runner.invoke(main, ["result", big.id, "--app", APP])
        full = runner.invoke(main, ["result", big.id, "--app", APP, "--full"])
        as_json = runner.invoke(main, ["result", big.id, "--app", APP, "--json"])
        short = runner.invoke(main, ["result", small.id, "--app", APP])
    assert text.exit_code == 0, text.output
    whole = json.dumps("x" * BIG)
    assert text.stdout == f"{big.id} SUCCESS {whole[:RESULT_PREVIEW_CHARS]}...\n"
    assert f"sqsq result {big.id} --full" in text.stderr and "--json" in text.stderr
    assert full.stdout == f"{big.id} SUCCESS {whole}\n" and full.stderr == ""
    assert json.loads(json.loads(as_json.stdout)["result_json"]) == "x" * BIG
    assert short.stdout == f"{small.id} SUCCESS {json.dumps('x' * 10)}\n" and short.stderr == ""
