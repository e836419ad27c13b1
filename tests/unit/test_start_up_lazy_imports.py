"""What a consumer's start-up and first message leave unloaded until a message needs it (issue 11).

Each check runs a fresh interpreter and reads ``sys.modules``: sending (``sqsq.app_sending``, ``sqsq.sending``),
one-time schedules (``sqsq.scheduling.one_time``/``plan``, ``sqsq.transport.schedules``) and workflows
(``sqsq.workflows``) are imported on first use, never by the Lambda init or the worker's modules.
"""

from __future__ import annotations

from tests.unit.fresh_interpreter import modules_after

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


def test_lambda_init_and_worker_modules_load_no_sending_schedule_or_workflow_module() -> None:
    lambda_init = modules_after("import sqsq.lambda_entry")
    worker = modules_after("import sqsq.worker, sqsq.cli.worker, sqsq.executor, sqsq.transport.sqs, "
                           "sqsq.results.dynamodb\nimport tests.apps.lambda_app")
    for loaded in (lambda_init, worker):
        assert [m for m in (*SENDING, *SCHEDULES, *WORKFLOWS) if m in loaded] == []


def test_a_message_without_a_flow_runs_without_loading_workflows_and_one_with_a_flow_loads_them() -> None:
    plain = modules_after(_CONSUME.format(flow=""))
    assert [m for m in (*SCHEDULES, *WORKFLOWS) if m in plain] == []
    flowed = modules_after(_CONSUME.format(flow=', flow={"root": "r", "rest": []}'))
    assert "sqsq.workflows.continuation" in flowed


def test_the_first_send_builds_the_sender_once_and_sends() -> None:
    sent = modules_after(
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
