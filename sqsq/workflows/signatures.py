"""Checking a :class:`sqsq.TaskCall` as a workflow step at build time and turning it into a :class:`StepSig`.

The value-passing rule (issue 13): the previous step's result (in a chord, the ordered list of the members'
results) is passed to the next step as *one parameter*: the one named with ``.pass_as("name")``, or else the
single parameter the step leaves unbound (``b.s(y=2)`` on ``def b(x, y)`` takes it as ``x``). A step with no
parameter left, or with several and no ``pass_as``, is refused when the workflow is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from sqsq.errors import ValidationError, describe_errors
from sqsq.message_flow import StepSig
from sqsq.task import Task, TaskCall


def check_call(call: object, role: str) -> TaskCall[Any]:
    """``call`` when it is a :class:`TaskCall`, else a clear ValidationError (a task, a function, a value)."""
    if isinstance(call, TaskCall):
        return call
    if isinstance(call, Task):
        raise ValidationError(call.name, f"{role} takes signatures: write {call.name.rsplit('.', 1)[-1]}.s(...), not the task")
    raise ValidationError(str(call)[:80], f"{role} takes signatures (task.s(...)), got {type(call).__name__}")


def full_sig(call: TaskCall[Any]) -> StepSig:
    """A step that receives nothing: its arguments validated in full now (as ``send`` would)."""
    if call.passed_as is not None:
        raise ValidationError(call.task.name, f".pass_as({call.passed_as!r}) on a step that receives no value "
                              "(the first step of a chain, or a group member); drop it")
    task = call.task
    args = task.dump_args(task.validate_args(call.args))
    return StepSig(task=task.name, args=args, queue=None)


def receiving_sig(call: TaskCall[Any], what: str) -> StepSig:
    """A step that receives ``what`` (the previous result, or a chord's list) as one parameter; checked now.

    Raises:
        ValidationError: no parameter to receive it, several and no ``pass_as``, ``pass_as`` naming an unknown or
            already bound parameter, or the bound arguments invalid.
    """
    task = call.task
    fields = task.args_model.model_fields
    given = _given(call)
    target = call.passed_as
    if target is None:
        free = [name for name in fields if name not in given]
        if len(free) != 1:
            raise ValidationError(task.name, _ambiguous(task, what, free))
        target = free[0]
    elif target not in fields:
        raise ValidationError(task.name, f".pass_as({target!r}): {task.name} has no parameter {target!r} "
                              f"(it has {', '.join(fields) or 'none'})")
    elif target in given:
        raise ValidationError(task.name, f".pass_as({target!r}): {target} is already given in .s(...); leave it out")
    _check_partial(task, given, target)
    return StepSig(task=task.name, args=to_jsonable_python(given), pass_as=target)


def _given(call: TaskCall[Any]) -> dict[str, Any]:
    args = call.args
    if isinstance(args, BaseModel):
        return call.task.dump_args(call.task.validate_args(args))
    if not isinstance(args, Mapping):
        raise ValidationError(call.task.name, f"arguments must be a mapping, got {type(args).__name__}")
    return dict(args)


def _ambiguous(task: Task[Any, Any], what: str, free: list[str]) -> str:
    if not free:
        return (f"receives {what}, but every parameter is already given in .s(...); leave one out, "
                "or name it with .pass_as(\"name\")")
    return (f"receives {what}, but {len(free)} parameters are left unbound ({', '.join(free)}); bind all but one, "
            "or name the one that receives it with .s(...).pass_as(\"name\")")


def _check_partial(task: Task[Any, Any], given: dict[str, Any], target: str) -> None:
    """Validate the bound arguments, the one left for ``target`` aside (pydantic, as at the worker)."""
    try:
        task.args_model.model_validate(given)
    except PydanticValidationError as exc:
        errors = [e for e in exc.errors(include_url=False) if not (e["type"] == "missing" and e["loc"][:1] == (target,))]
        if errors:
            raise ValidationError(task.name, describe_errors(errors, root="(arguments)")) from None  # type: ignore[arg-type]
