"""What a consumer's start-up and first message leave unloaded until a message needs it (issue 11).

Each check runs a fresh interpreter and reads ``sys.modules``: sending (``sqsq.app_sending``, ``sqsq.sending``),
one-time schedules (``sqsq.scheduling.one_time``/``plan``, ``sqsq.transport.schedules``) and workflows
(``sqsq.workflows``) are imported on first use, never by the Lambda init or the worker's modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SENDING = ("sqsq.app_sending", "sqsq.sending")
SCHEDULES = ("sqsq.scheduling.one_time", "sqsq.scheduling.plan", "sqsq.transport.schedules")
WORKFLOWS = ("sqsq.workflows", "sqsq.workflows.continuation", "sqsq.workflows.chunks")

_CONSUME = """
import sqsq
from sqsq.executor import Executor
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport
transport = MemoryTransport()
transport.create_queue("t-default")
app = sqsq.App("t", transport=transport, results=MemoryResults())

@app.task(name="t.add")
def add(x: int, y: int) -> int:
    return x + y

from sqsq.message import Envelope
from sqsq.transport import OutgoingMessage
body = Envelope(id="id-1", task="t.add", args={{"x": 1, "y": 2}}{flow}).to_body()
transport.send_batch("t-default", [OutgoingMessage("1", body)])
before = sorted(sys.modules)
(message,) = transport.receive("t-default", 1, 0)
outcome = Executor(app).execute(message, None)
assert type(outcome).__name__ == "Ack", outcome
"""


def _modules_after(code: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT))
    full = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", full], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_lambda_init_and_worker_modules_load_no_sending_schedule_or_workflow_module() -> None:
    lambda_init = _modules_after("import sqsq.lambda_entry")
    worker = _modules_after("import sqsq.worker, sqsq.cli.worker, sqsq.executor, sqsq.transport.sqs, "
                            "sqsq.results.dynamodb\nimport tests.apps.lambda_app")
    for loaded in (lambda_init, worker):
        assert [m for m in (*SENDING, *SCHEDULES, *WORKFLOWS) if m in loaded] == []


def test_a_message_without_a_flow_runs_without_loading_workflows_and_one_with_a_flow_loads_them() -> None:
    plain = _modules_after(_CONSUME.format(flow=""))
    assert [m for m in (*SCHEDULES, *WORKFLOWS) if m in plain] == []
    flowed = _modules_after(_CONSUME.format(flow=', flow={"root": "r", "rest": []}'))
    assert "sqsq.workflows.continuation" in flowed


def test_the_first_send_builds_the_sender_once_and_sends() -> None:
    sent = _modules_after(
        "import sqsq\nfrom sqsq.results.memory import MemoryResults\nfrom sqsq.transport.memory import MemoryTransport\n"
        "t = MemoryTransport(); t.create_queue('s-default')\n"
        "app = sqsq.App('s', transport=t, results=MemoryResults())\n"
        "@app.task(name='s.n')\ndef n(i: int) -> None: ...\n"
        "assert 'sqsq.app_sending' not in sys.modules\n"
        "app.send(n, {'i': 1}); sender = app._sender; app.send(n, {'i': 2})\n"
        "assert app._sender is sender\n"
        "assert len(t.receive('s-default', 10, 0)) == 2\n"
    )
    assert "sqsq.app_sending" in sent
