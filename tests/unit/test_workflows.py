"""Workflows (issue 13) without AWS: the value-passing rule checked at build time, size limits at send, what the
signature covers, and the crash window between a chord's transition and its callback's send (in memory)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

import sqsq
from sqsq.errors import AwsError, SignatureInvalid, ValidationError, WorkflowTooLarge
from sqsq.message import Envelope
from sqsq.message_flow import Flow, StepSig
from sqsq.results import Status
from sqsq.signing import KeyRing, canonical_bytes
from sqsq.testing import InMemoryEnv, in_memory
from sqsq.transport import OutgoingMessage
from sqsq.workflows import continuation
from tests.apps import flows

KEY = "k1:" + base64.b64encode(b"one-secret-of-thirty-two-bytes!!").decode()


@pytest.fixture
def env() -> Iterator[InMemoryEnv]:
    with in_memory(flows.app) as e:
        yield e


def test_chain_passes_the_previous_result_to_the_one_unbound_parameter_or_to_pass_as(env: InMemoryEnv) -> None:
    handle = sqsq.chain(flows.add.s(1, 2), flows.double.s(), flows.tag.s(label="abc"), flows.add.s(x=1).pass_as("y")).delay()
    env.drain()
    assert handle.get(timeout_seconds=5) == (3 * 2 + 3) + 1


def test_chain_refuses_a_step_with_no_parameter_left_for_the_previous_result() -> None:
    with pytest.raises(ValidationError, match="every parameter is already given"):
        sqsq.chain(flows.add.s(1, 2), flows.add.s(3, 4))


def test_chain_refuses_a_step_with_several_unbound_parameters_and_no_pass_as() -> None:
    with pytest.raises(ValidationError, match=r"2 parameters are left unbound \(x, y\).*pass_as"):
        sqsq.chain(flows.double.s(1), flows.add.s())


def test_pass_as_must_name_an_unbound_parameter_of_the_step() -> None:
    with pytest.raises(ValidationError, match="has no parameter 'z'"):
        sqsq.chain(flows.double.s(1), flows.add.s(y=1).pass_as("z"))
    with pytest.raises(ValidationError, match="already given"):
        sqsq.chain(flows.double.s(1), flows.add.s(x=1, y=2).pass_as("x"))


def test_bound_arguments_of_a_later_step_are_validated_when_the_chain_is_built() -> None:
    with pytest.raises(ValidationError, match="label"):
        sqsq.chain(flows.double.s(1), flows.tag.s(label=["not", "a", "str"]))


def test_a_chord_callback_must_leave_one_parameter_for_the_list() -> None:
    with pytest.raises(ValidationError, match="chord's ordered list"):
        sqsq.chord([flows.square.s(1)], flows.add.s())


def test_chain_past_the_message_size_limit_is_refused_at_send_with_the_size_and_the_remedy(env: InMemoryEnv) -> None:
    big = "x" * 300_000
    workflow = sqsq.chain(flows.double.s(1), *[flows.tag.s(label=big) for _ in range(4)])
    with pytest.raises(WorkflowTooLarge, match=r"is \d+ bytes, over the queue's MaximumMessageSize of \d+ bytes.*"
                                               r"Split the chain"):
        workflow.delay()
    assert env.depth().visible == 0


def test_sqsq_send_of_a_workflow_sends_it_and_returns_its_handle(env: InMemoryEnv) -> None:
    handle = sqsq.send(sqsq.group([flows.square.s(n) for n in range(3)]))
    env.drain()
    assert isinstance(handle, sqsq.WorkflowResult) and handle.get(timeout_seconds=5) == [0, 1, 4]


def _flow_envelope() -> Envelope:
    rest = [StepSig(task="flows.double", args={}, pass_as="x")]
    return Envelope(id="w-0", task="flows.add", args={"x": 1, "y": 2}, sent_at=1764470000.0,
                    flow=Flow(root="w", rest=rest, claim=True))


def test_the_flow_is_covered_by_the_signature() -> None:
    ring = KeyRing.parse(KEY)
    signed = ring.sign(_flow_envelope())
    ring.verify(Envelope.from_body(signed.to_body()))
    assert b'"flow"' in canonical_bytes(signed)
    redirected = Flow(root="w", rest=[StepSig(task="flows.fail", args={}, pass_as="x")], claim=True)
    with pytest.raises(SignatureInvalid):
        ring.verify(Envelope.from_body(signed.model_copy(update={"flow": redirected}).to_body()))


def test_a_message_without_flow_signs_and_encodes_as_before() -> None:
    plain = Envelope(id="t-1", task="flows.add", args={"x": 1}, sent_at=1764470000.25)
    assert b'"flow"' not in canonical_bytes(plain) and '"flow"' not in plain.to_body()
    # the bytes signed for a flow-less envelope are the pre-issue-13 ones (fields and order unchanged)
    assert canonical_bytes(plain).endswith(b'{"args":{"x":1},"generation":0,"id":"t-1","kid":null,'
                                           b'"sent_at":1764470000.25,"task":"flows.add","v":1}')


def test_chord_callback_is_sent_again_once_when_the_worker_dies_between_the_transition_and_the_send(
    env: InMemoryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_send = continuation._send
    calls: list[str] = []

    def dies_once(app: Any, sig: StepSig, task_id: str, *args: Any) -> None:
        calls.append(task_id)
        if task_id.endswith("-cb") and calls.count(task_id) == 1:
            raise AwsError("worker died after recording the transition, before sending the callback")
        real_send(app, sig, task_id, *args)

    monkeypatch.setattr(continuation, "_send", dies_once)
    runs: list[int] = []
    monkeypatch.setattr(flows, "_sink", lambda line: runs.append(1) if line.startswith("total") else None)
    handle = sqsq.chord([flows.square.s(n) for n in range(12)], flows.total.s()).delay()
    env.drain()
    assert handle.get(timeout_seconds=5) == sum(n * n for n in range(12))
    assert [c for c in calls if c.endswith("-cb")] == [f"{handle.id}-cb"] * 2  # the redelivery sent it
    assert runs == [1]


def test_a_steps_retries_are_its_own_and_the_chain_goes_on_after_them(env: InMemoryEnv) -> None:
    flows.ATTEMPTS.clear()
    handle = sqsq.chain(flows.add.s(1, 2), flows.flaky.partial(), flows.double.partial()).delay()
    env.drain()
    assert handle.get(timeout_seconds=5) == 6
    flaky_step = handle.steps()[1]
    record = env.record(flaky_step.id)
    assert record is not None and record.attempts == 2 and flows.ATTEMPTS == {3: 2}


def _result_cli(*args: str) -> Any:
    from click.testing import CliRunner

    from sqsq.cli import main

    return CliRunner().invoke(main, ["result", *args, "--app", "tests.apps.flows:app"], catch_exceptions=False)


def test_sqsq_result_of_a_group_map_or_chunks_shows_the_ordered_list_get_returns(env: InMemoryEnv) -> None:
    grouped = sqsq.group(flows.square.s(n) for n in range(4)).delay()
    mapped = flows.square.map(range(3)).delay()
    chunked = flows.square.chunks(range(5), 2).delay()
    env.drain()
    for handle in (grouped, mapped, chunked):
        value = handle.get(timeout_seconds=5)
        shown = _result_cli(handle.id)
        assert shown.exit_code == 0 and shown.output.splitlines()[0] == f"{handle.id} group SUCCESS {json.dumps(value)}"
        as_json = json.loads(_result_cli(handle.id, "--json").output)
        assert as_json["status"] == "SUCCESS" and as_json["result"] == value


def test_a_workflow_handle_has_the_async_result_names(env: InMemoryEnv) -> None:
    ok = sqsq.chain(flows.add.s(1, 2), flows.double.s()).delay()
    bad = sqsq.chain(flows.add.s(1, 2), flows.fail.s(), flows.double.s()).delay()
    grouped = sqsq.group(flows.square.s(n) for n in range(3)).delay()
    assert ok.status is Status.STARTED and not ok.ready() and ok.result is None
    env.drain()
    assert ok.status is Status.SUCCESS and ok.ready() and ok.successful() and not ok.failed() and ok.result == 6
    assert bad.status is Status.FAILURE and bad.failed() and isinstance(bad.result, sqsq.TaskFailed)
    assert grouped.status is Status.SUCCESS and grouped.result == [0, 1, 4]


def test_steps_a_failed_workflow_will_never_run_show_as_not_run(env: InMemoryEnv) -> None:
    chained = sqsq.chain(flows.add.s(1, 2), flows.fail.s(), flows.double.s()).delay()
    chorded = sqsq.chord([flows.fail_member.s(n) for n in range(5)], flows.total.s(),
                         on_error=flows.on_error.s()).delay()
    fine = sqsq.chord([flows.square.s(n) for n in range(2)], flows.total.s(), on_error=flows.on_error.s()).delay()
    env.drain()
    assert [(s.status, s.not_run) for s in chained.steps()] == [
        (Status.SUCCESS, False), (Status.FAILURE, False), (Status.PENDING, True)]
    assert {s.role: s.shown for s in chorded.steps() if s.role != "member"} == {
        "callback": "not run", "on_error": "SUCCESS"}
    assert {s.role: s.shown for s in fine.steps() if s.role != "member"} == {
        "callback": "SUCCESS", "on_error": "not run"}
    lines = _result_cli(chained.id).output.splitlines()
    assert lines[-1].split()[1:] == ["2", "step", "flows.double", "not", "run"]
    steps = json.loads(_result_cli(chained.id, "--json").output)["steps"]
    assert (steps[-1]["status"], steps[-1]["not_run"]) == ("PENDING", True)


def test_the_listings_internal_names_are_the_workflow_records_names() -> None:
    from sqsq.results.listing import INTERNAL_TASK_NAMES
    from sqsq.workflows.ids import TREE_TASK_NAME, WORKFLOW_TASK_NAME

    assert set(INTERNAL_TASK_NAMES) == {WORKFLOW_TASK_NAME, TREE_TASK_NAME}


def test_a_forged_chord_member_under_another_id_is_not_counted_and_the_chord_completes_once(
    env: InMemoryEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Signing off: a hostile writer copies member 2's flow into a message of its own id. It must not count as
    # member 2 (which would fire the callback early, before the real member's result exists).
    runs: list[int] = []
    monkeypatch.setattr(flows, "_sink", lambda line: runs.append(1) if line.startswith("total") else None)
    handle = sqsq.chord([flows.square.s(n) for n in range(3)], flows.total.s()).delay()
    queue = env.app.queue_name(None)
    members = env.transport.receive(queue, 10, 0)
    assert len(members) == 3
    bodies = {json.loads(m.body)["flow"]["chord"]["index"]: m.body for m in members}
    assert env.transport.delete_batch(queue, [m.receipt_handle for m in members]) == []
    forged = json.loads(bodies[2])
    forged["id"] = "6f1c2b9e-4b7a-4c55-9a51-0d7c1f3b2a10"
    env.transport.send_batch(queue, [OutgoingMessage("0", bodies[0]), OutgoingMessage("1", bodies[1]),
                                     OutgoingMessage("f", json.dumps(forged))])
    env.drain()
    assert runs == [] and handle.state != "SUCCESS"  # the forgery counted nothing
    env.transport.send_batch(queue, [OutgoingMessage("2", bodies[2])])
    env.drain()
    assert handle.get(timeout_seconds=5) == 0 + 1 + 4 and runs == [1]


def test_revoking_a_workflow_stops_its_steps_not_yet_started(env: InMemoryEnv) -> None:
    handle = sqsq.chain(flows.add.s(1, 2), flows.double.partial(), flows.double.partial()).delay()
    assert handle.cancel() == "revoked"
    env.drain()
    assert handle.state == "REVOKED"
    first = env.record(handle.steps()[0].id)
    assert first is not None and first.status is Status.REVOKED and first.error_message == f"workflow {handle.id} revoked"
    assert [env.record(s.id) for s in handle.steps()[1:]] == [None, None]  # never sent: the chain stopped at step 0
