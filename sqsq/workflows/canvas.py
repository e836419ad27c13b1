"""The workflow types: :class:`Chain`, :class:`Group`, :class:`Chord`, and :func:`chain`, :func:`group`,
:func:`chord` that build them. Built = checked (see :mod:`sqsq.workflows.signatures`); nothing is sent until
``.delay()`` (or ``sqsq.send(workflow)``), which returns a :class:`~sqsq.workflows.handle.WorkflowResult`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar, cast, overload

from sqsq.app import App
from sqsq.errors import ValidationError
from sqsq.message_flow import ChordRef, Flow, StepSig
from sqsq.results import Status
from sqsq.task import TaskCall
from sqsq.workflows.dispatch import build_step, send_steps, write_tree, write_workflow
from sqsq.workflows.handle import WorkflowResult
from sqsq.workflows.ids import step_id
from sqsq.workflows.signatures import check_call, full_sig, receiving_sig
from sqsq.workflows.tree import tree_of

R = TypeVar("R")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


class _Workflow(Generic[R]):
    """What the three kinds share: the app, the final task, and sending."""

    __sqsq_workflow__ = True
    kind = ""

    def __init__(self, app: App, final_task: str | None):
        self.app = app
        self.final_task = final_task

    def delay(self) -> WorkflowResult[R]:
        """Send the workflow; returns its handle (``.id`` is the workflow id).

        Raises:
            WorkflowTooLarge: a first message is over its queue's MaximumMessageSize (nothing sent).
            SendFailed, AwsError: as :meth:`sqsq.App.send_many` (the workflow record is written first).
        """
        root, sent_at = str(uuid.uuid4()), time.time()
        steps = self._first_steps(root, sent_at)
        tree = tree_of(self)
        if self.kind != "group":
            write_workflow(self.app, root, sent_at, Status.STARTED)
        write_tree(self.app, root, sent_at, tree)
        send_steps(self.app, [build_step(self.app, sig, task_id=i, sent_at=sent_at, generation=0, flow=f)
                              for i, sig, f in steps], f"{self.kind} {root}")
        return WorkflowResult(root, app=self.app, tree=tree)

    send = delay

    def _first_steps(self, root: str, sent_at: float) -> list[tuple[str, StepSig, Flow]]:
        raise NotImplementedError


class Chain(_Workflow[R]):
    """Steps run one after another, each given the previous result (see :mod:`sqsq.workflows.signatures`)."""

    kind = "chain"

    def __init__(self, calls: list[TaskCall[Any]]):
        if not calls:
            raise ValidationError("chain", "a chain needs at least one step")
        checked = [check_call(c, "chain") for c in calls]
        self.sigs = [full_sig(checked[0])] + [receiving_sig(c, "the previous step's result") for c in checked[1:]]
        super().__init__(_app_of(checked[0]), self.sigs[-1].task)

    def _first_steps(self, root: str, sent_at: float) -> list[tuple[str, StepSig, Flow]]:
        flow = Flow(root=root, step=0, rest=self.sigs[1:], final=len(self.sigs) == 1)
        return [(step_id(root, 0), self.sigs[0], flow)]


class Group(_Workflow[list[R]]):
    """Signatures run in parallel; the handle's ``get()`` returns their results in the group's order."""

    kind = "group"

    def __init__(self, calls: Iterable[TaskCall[R]]):
        checked = [check_call(c, "group") for c in calls]
        if not checked:
            raise ValidationError("group", "a group needs at least one signature")
        self.sigs = [full_sig(c) for c in checked]
        super().__init__(_app_of(checked[0]), None)

    def _first_steps(self, root: str, sent_at: float) -> list[tuple[str, StepSig, Flow]]:
        return [(step_id(root, i), sig, Flow(root=root, step=i)) for i, sig in enumerate(self.sigs)]


class Chord(_Workflow[R]):
    """A group, then ``callback`` run once with the ordered list of its results (``on_error`` once if one fails)."""

    kind = "chord"

    def __init__(self, header: Group[Any] | Iterable[TaskCall[Any]], callback: TaskCall[R],
                 on_error: TaskCall[Any] | None = None):
        self.header = header if isinstance(header, Group) else Group(header)
        cb = check_call(callback, "chord's callback")
        self.callback = receiving_sig(cb, "the chord's ordered list of results")
        self.on_error = None if on_error is None else _error_sig(check_call(on_error, "chord's on_error"))
        super().__init__(_app_of(cb), self.callback.task)

    def _first_steps(self, root: str, sent_at: float) -> list[tuple[str, StepSig, Flow]]:
        size = len(self.header.sigs)
        return [
            (step_id(root, i), sig, Flow(root=root, step=i, chord=ChordRef(
                id=root, index=i, size=size, callback=self.callback, on_error=self.on_error)))
            for i, sig in enumerate(self.header.sigs)
        ]


def _app_of(call: TaskCall[Any]) -> App:
    """The app of a call's task (a Task's owner is always an App; the protocol keeps sqsq.task below sqsq.app)."""
    return cast(App, call.task.app)


def _error_sig(call: TaskCall[Any]) -> StepSig:
    """``on_error`` receives the failure (a dict, see :func:`chord`) when it leaves one parameter unbound."""
    given = call.args if isinstance(call.args, Mapping) else call.task.args_model.model_fields
    free = [n for n in call.task.args_model.model_fields if n not in given]
    if call.passed_as is None and not free:
        return full_sig(call)
    return receiving_sig(call, "the failure")


@overload
def chain(a: TaskCall[A], /) -> Chain[A]: ...
@overload
def chain(a: TaskCall[Any], b: TaskCall[B], /) -> Chain[B]: ...
@overload
def chain(a: TaskCall[Any], b: TaskCall[Any], c: TaskCall[C], /) -> Chain[C]: ...
@overload
def chain(a: TaskCall[Any], b: TaskCall[Any], c: TaskCall[Any], d: TaskCall[D], /) -> Chain[D]: ...
@overload
def chain(*steps: TaskCall[Any]) -> Chain[Any]: ...


def chain(*steps: TaskCall[Any]) -> Chain[Any]:
    """Steps run in order, each given the previous step's result: ``sqsq.chain(a.s(1), b.s(y=2), c.s())``.

    Raises:
        ValidationError: a step is not a signature, cannot take the previous result (see
            :mod:`sqsq.workflows.signatures`), or its bound arguments are invalid.
    """
    return Chain(list(steps))


def group(calls: Iterable[TaskCall[R]]) -> Group[R]:
    """Signatures run in parallel (sent with SendMessageBatch); ``.delay().get()`` is their results in order.

    Raises:
        ValidationError: empty, not signatures, or invalid arguments.
    """
    return Group(calls)


def chord(header: Group[Any] | Iterable[TaskCall[Any]], callback: TaskCall[R], *,
          on_error: TaskCall[Any] | None = None) -> Chord[R]:
    """A group, then ``callback`` exactly once with the list of the members' results in order.

    Args:
        header: a :class:`Group` or signatures.
        callback: receives the list as its one unbound parameter (or ``.pass_as("name")``).
        on_error: runs once when a member fails for good (then the callback never runs); receives
            ``{"workflow_id", "task_id", "task", "error_type", "error_message"}`` if it leaves one parameter unbound.

    Raises:
        ValidationError: as :func:`chain`.
    """
    return Chord(header, callback, on_error)
