"""What a Lambda function's first invocation (one record that succeeds) leaves unloaded (issue 11, Lambda imports).

Each check runs a fresh interpreter through ``sqsq.lambda_handler(app)`` on a real-shaped SQS event and reads
``sys.modules``: signing (no key set), sending (``sqsq.send_options``, the transport's sending types), queue depth,
copies of a message (dead letters, rescues), revocation by id, long retries and chord counters are imported on
first use. The other tests here pin that each lazily loaded name still resolves, and loads when it is used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sqsq
import sqsq.task
import sqsq.transport
from sqsq.errors import ConfigError
from sqsq.local.esm import lambda_record
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport

ROOT = Path(__file__).resolve().parents[2]

LAZY_ON_FIRST_INVOCATION = (
    "sqsq.signing",
    "sqsq.send_options",
    "sqsq.transport.outgoing",
    "sqsq.transport.depth",
    "sqsq.transport.copies",
    "sqsq.scheduling.cancel",
    "sqsq.executor.long_retry",
    "sqsq.results.chords",
    "sqsq.extras",  # the optional-dependency table: read only when Powertools does not import
    "sqsq.payload_pointer",  # PayloadPointer: an ordinary body carries no pointer (sqsq.payloads re-exports it)
    "sqsq.handle",  # AsyncResult: a consumer makes no handle (sqsq.app re-exports it lazily)
)

_APP = """
import json, sys
import sqsq
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport
transport = MemoryTransport()
transport.create_queue("t-default")
app = sqsq.App("t", transport=transport, results=MemoryResults())

@app.task(name="t.add")
def add(x: int, y: int) -> int:
    return x + y

handler = sqsq.lambda_handler(app)
event = json.loads(sys.stdin.read())
"""


def _event() -> str:
    transport = MemoryTransport()
    transport.create_queue("t-default")
    app = sqsq.App("t", transport=transport, results=MemoryResults())

    @app.task(name="t.add")
    def add(x: int, y: int) -> int:
        return x + y

    sqsq.send(add, {"x": 1, "y": 2})
    (message,) = transport.receive("t-default", max_messages=1, wait_seconds=0)
    info = transport.queue_info("t-default")
    return json.dumps({"Records": [lambda_record(message, info.arn, "us-east-1")]})


def _run(code: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "POWERTOOLS_"))}
    env.update(AWS_LAMBDA_FUNCTION_NAME="fn", AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(ROOT))
    full = f"{_APP}\n{code}\n"
    done = subprocess.run([sys.executable, "-c", full], input=_event(), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_first_invocation_that_succeeds_loads_no_signing_sending_depth_copy_cancel_or_long_retry_module() -> None:
    out = _run(
        "response = handler(event, None)\n"
        "assert response == {'batchItemFailures': []}, response\n"
        "tok = sys.modules.get('tokenize')\n"
        "import sqsq.attributes, sqsq.message\n"
        "send_regexes = [f.cache_info().currsize for f in (sqsq.attributes._sqs_text_forbidden,\n"
        "                                                  sqsq.message._sqs_forbidden)]\n"
        "print(json.dumps({'modules': sorted(sys.modules), 'send_regexes': send_regexes,\n"
        "                  'tokenize_regexes': tok._compile.cache_info().currsize if tok else 0}))"
    )
    loaded = set(out["modules"])  # type: ignore[call-overload]
    assert [m for m in LAZY_ON_FIRST_INVOCATION if m in loaded] == []
    assert "sqsq.executor" in loaded and "sqsq.message_flow" in loaded  # the invocation did run a message
    # Building the envelope's validator compiles no tokenize regex (a ``default_factory=list`` made pydantic parse
    # list's text signature with tokenize: ~1.5 ms of the first invocation).
    assert out["tokenize_regexes"] == 0
    assert out["send_regexes"] == [0, 0]  # the checks of what a send encodes compile their regexes on first use


def test_a_send_after_the_first_invocation_loads_the_sending_modules_and_is_received() -> None:
    out = _run(
        "handler(event, None)\n"
        "before = set(sys.modules)\n"
        "sqsq.send(add, {'x': 2, 'y': 3})\n"
        "(m,) = transport.receive('t-default', 1, 0)\n"
        "print(json.dumps({'loaded': sorted(set(sys.modules) - before), 'body': m.body,\n"
        "                  'compiled': sqsq.message._sqs_forbidden.cache_info().currsize}))"
    )
    assert {"sqsq.send_options", "sqsq.transport.outgoing"} <= set(out["loaded"])  # type: ignore[call-overload]
    assert out["compiled"] == 1
    assert json.loads(str(out["body"]))["args"] == {"x": 2, "y": 3}


def test_lazily_loaded_transport_names_are_the_sending_module_s_own() -> None:
    from sqsq.transport import depth, outgoing

    for name in ("OutgoingMessage", "BatchFailure", "BatchSendResult", "send_batch_with_retries", "split_batches"):
        assert getattr(sqsq.transport, name) is getattr(outgoing, name)
    assert sqsq.transport.QueueDepth is depth.QueueDepth
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sqsq.transport.Nope  # noqa: B018


def test_task_module_still_exports_send_options_and_check_send_queue() -> None:
    from sqsq import send_options

    assert sqsq.task.SendOptions is send_options.SendOptions
    assert sqsq.task.check_send_queue is send_options.check_send_queue
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sqsq.task.Nope  # noqa: B018


def test_settings_still_refuse_malformed_signing_keys_and_parse_good_ones() -> None:
    from sqsq.config import load_settings

    with pytest.raises(ConfigError):
        load_settings({}, signing_keys="not-a-key-list")
    settings = load_settings({}, signing_keys="k1:" + "A" * 44)
    keyring = settings.signing_keyring()
    assert keyring is not None and type(keyring).__module__ == "sqsq.signing"


def test_app_module_still_exports_async_result_loaded_on_first_use() -> None:
    import sqsq.app
    from sqsq import handle

    assert sqsq.app.AsyncResult is handle.AsyncResult
    assert sqsq.AsyncResult is handle.AsyncResult
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sqsq.app.Nope  # noqa: B018


def test_payloads_module_still_exports_payload_pointer_and_parses_a_pointer_body() -> None:
    from sqsq import payload_pointer, payloads

    assert payloads.PayloadPointer is payload_pointer.PayloadPointer
    pointer = payloads.parse_pointer(payloads.PayloadPointer("b", "k").to_body())
    assert pointer == payload_pointer.PayloadPointer("b", "k") and str(pointer) == "s3://b/k"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        payloads.Nope  # noqa: B018
