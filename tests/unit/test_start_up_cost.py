"""Start-up stays lazy (issue 11): what the Lambda init and the worker's start build, and the collector pause."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sqsq import startup_gc
from sqsq.cli import main
from tests.unit.fresh_interpreter import modules_after

ROOT = Path(__file__).resolve().parents[2]

_BUILT = (
    "import json, sys, gc\n"
    "{imports}\n"
    "from sqsq.message import Envelope\n"
    "from sqsq.message_flow import ChordRef, CollectRef, Flow, StepSig\n"
    "models = (Envelope, Flow, StepSig, ChordRef, CollectRef)\n"
    "print(json.dumps({{'built': [m.__name__ for m in models if m.__pydantic_complete__], "
    "'gc_enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}}))\n"
)


def _run(imports: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT))
    code = _BUILT.format(imports=imports)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return out


def test_lambda_init_builds_no_envelope_or_workflow_validator_and_freezes_its_objects() -> None:
    out = _run("import sqsq.lambda_entry")
    assert out["built"] == []  # defer_build: built by the first invocation that decodes a message
    assert out["gc_enabled"] is True and isinstance(out["frozen"], int) and out["frozen"] > 0


_AWS_LAYER_PROBE = """
import importlib.abc, json, sys
seen = {}
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("botocore", "sqsq.transport.sqs", "sqsq.results.dynamodb") and name not in seen:
            from sqsq import startup_gc
            seen[name] = startup_gc.paused()
        return None
sys.meta_path.insert(0, Probe())
import sqsq.lambda_entry
app = sys.modules["tests.apps.lambda_app"].app
print(json.dumps({"paused_at_import": seen, "clients_built": app._aws_clients is not None}))
"""


def test_lambda_init_imports_the_aws_layer_while_the_collector_is_paused_and_builds_no_client() -> None:
    # botocore imported on the first invocation instead ran ~30 collector passes over what it allocates (~8 ms of
    # CPU measured by bench/lambda_imports.py's children); no session or client is made at init (credentials and
    # region errors still surface on the first message that needs AWS, as before).
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _AWS_LAYER_PROBE], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["paused_at_import"] == {"botocore": True, "sqsq.transport.sqs": True, "sqsq.results.dynamodb": True}
    assert out["clients_built"] is False


def test_worker_modules_build_no_envelope_or_workflow_validator_at_import() -> None:
    out = _run("import sqsq.worker, sqsq.cli.worker, sqsq.transport.sqs, sqsq.results.dynamodb, sqsq.executor")
    assert out["built"] == []
    assert out["gc_enabled"] is True and out["frozen"] == 0  # importing alone pauses and freezes nothing


def test_the_envelope_still_validates_once_built_on_first_use() -> None:
    from sqsq.errors import MessageDecodeError
    from sqsq.message import Envelope

    body = Envelope(id="t1", task="x.y", args={"a": 1}, flow={"root": "r", "rest": [{"task": "b", "args": {}}]})
    assert Envelope.__pydantic_complete__
    assert Envelope.from_body(body.to_body()).flow == body.flow
    try:
        Envelope.from_body(json.dumps({"id": "", "task": "x", "args": {}}))
    except MessageDecodeError:
        pass
    else:
        raise AssertionError("an empty id must still be refused")


def test_start_up_pause_then_finish_freezes_and_enables_the_collector_again() -> None:
    assert gc.isenabled() and not startup_gc.paused()
    frozen_before = gc.get_freeze_count()
    try:
        startup_gc.pause()
        assert not gc.isenabled() and startup_gc.paused()
        startup_gc.pause()  # idempotent
        startup_gc.finish()
        assert gc.isenabled() and not startup_gc.paused()
        assert gc.get_freeze_count() > frozen_before
        startup_gc.finish()  # without a pause: nothing
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()


def test_start_up_pause_leaves_a_collector_someone_else_disabled_alone() -> None:
    gc.disable()
    try:
        startup_gc.pause()
        assert not startup_gc.paused()
        startup_gc.finish()
        assert not gc.isenabled()  # still theirs to enable
    finally:
        gc.enable()


def test_worker_command_that_fails_at_start_up_leaves_the_collector_enabled() -> None:
    try:
        result = CliRunner().invoke(main, ["worker", "no_such_module_xyz:app", "--processes", "1"])
        assert result.exit_code != 0
        assert gc.isenabled() and not startup_gc.paused()
    finally:
        gc.unfreeze()
        gc.enable()


_CRON_MODULES = ("sqsq.scheduling.expressions", "sqsq.scheduling.cron_fields", "sqsq.scheduling.periodic")


def test_worker_command_imports_no_other_cli_command_module() -> None:
    modules = modules_after(
        "from click.testing import CliRunner\nfrom sqsq.cli import main\n"
        "assert CliRunner().invoke(main, ['worker', '--help']).exit_code == 0"
    )
    assert sorted(m for m in modules if m.startswith("sqsq.cli.")) == [
        "sqsq.cli.group", "sqsq.cli.options", "sqsq.cli.output", "sqsq.cli.worker"]


def test_cli_help_still_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("cancel", "dashboard", "dlq", "lambda-local", "local", "provision", "queues", "result",
                 "schedules", "schema", "send", "template", "top", "worker"):
        assert f"  {name} " in result.output, name


def test_worker_and_lambda_paths_load_no_cron_parsing_until_a_schedule_is_declared() -> None:
    worker = modules_after("import sqsq.worker, sqsq.cli.worker, sqsq.executor, sqsq.transport.sqs\n"
                           "import tests.apps.lambda_app")
    lambda_init = modules_after("import sqsq.lambda_entry")
    assert [m for m in _CRON_MODULES if m in worker or m in lambda_init] == []
    declared = modules_after("import sqsq\napp = sqsq.App('t')\n"
                             "@app.task(name='t.r')\ndef r() -> None: ...\n"
                             "app.schedule(r, sqsq.every(seconds=3600))")
    assert all(m in declared for m in _CRON_MODULES)


def test_sqs_string_attribute_check_refuses_exactly_what_sqs_refuses() -> None:
    from sqsq.attributes import _sqs_text_forbidden

    def allowed(cp: int) -> bool:  # SQS: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF
        return cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or cp >= 0x10000

    every = "".join(map(chr, range(0x110000)))
    assert [m.start() for m in _sqs_text_forbidden().finditer(every)] == [cp for cp in range(0x110000) if not allowed(cp)]
