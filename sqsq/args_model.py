"""Schemas of a task's signature: the pydantic model of its arguments; secrets refused at declaration.

Pure functions over a function's annotations; no I/O.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model


class _ArgsBase(BaseModel):
    # By name or by alias: a parameter declared with Field(alias=...) can be sent either way.
    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=False, validate_by_name=True, validate_by_alias=True
    )


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def build_args_model(fn: Callable[..., Any], task_name: str) -> tuple[type[BaseModel], bool]:
    """The pydantic model for a task's arguments.

    Returns:
        ``(model, single)``: ``single`` is True when the function takes one pydantic-model parameter (the model
        is then that class); otherwise a model with one field per parameter, extra keys forbidden.

    Raises:
        TypeError: a parameter has no annotation, or is ``*args``/``**kwargs``.

    Annotations keep their ``Annotated[...]`` metadata (``Field(gt=0)``, ``annotated_types.Gt(0)``,
    ``Field(default=...)``), so send and worker validate everything pydantic would for the same signature.
    """
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(signature.parameters.values())
    if len(params) == 1 and _is_model(hints.get(params[0].name)):
        return hints[params[0].name], True
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"task {task_name!r}: *args/**kwargs cannot be validated; name every parameter")
        if p.name not in hints:
            raise TypeError(f"task {task_name!r}: parameter {p.name!r} needs a type annotation")
        # Without a Python default the annotation alone: an Annotated[..., Field(default=...)] keeps its default.
        fields[p.name] = hints[p.name] if p.default is inspect.Parameter.empty else (hints[p.name], p.default)
    model = create_model(f"{fn.__name__}_args", __base__=_ArgsBase, **fields)
    return model, False


def secret_field(schema_of: Callable[[], dict[str, Any]]) -> str | None:
    """The first place a JSON schema marks as a secret (``SecretStr``/``SecretBytes``: ``writeOnly``), or None.

    Args:
        schema_of: builds the JSON schema; a type pydantic cannot describe is not examined (returns None).

    Returns:
        A dotted path of property names (``"token"``, ``"creds.password"``; ``"(value)"`` for the root).
    """
    try:
        schema = schema_of()
    except Exception:  # no JSON schema for some types (callables, arbitrary classes): the send-side check remains
        return None
    defs = schema.get("$defs", {})
    stack: list[tuple[Any, str, frozenset[str]]] = [(schema, "", frozenset())]
    while stack:
        node, path, seen = stack.pop()
        if isinstance(node, list):
            stack.extend((item, path, seen) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("writeOnly") is True:
            return path or "(value)"
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen:
            stack.append((defs.get(ref.removeprefix("#/$defs/")), path, seen | {ref}))
        for key, sub in node.items():
            if key == "properties" and isinstance(sub, dict):
                stack.extend((v, f"{path}.{k}" if path else str(k), seen) for k, v in sub.items())
            elif key not in ("$defs", "$ref", "properties"):
                stack.append((sub, path, seen))
    return None


def refuse_secrets(task_name: str, args_model: type[BaseModel], return_adapter: TypeAdapter[Any]) -> None:
    where = secret_field(args_model.model_json_schema)
    what = f"parameter {where}"
    if where is None:
        where = secret_field(lambda: return_adapter.json_schema(mode="serialization"))
        what = "its return value" if where == "(value)" else f"return value field {where}"
    if where is not None:
        raise TypeError(
            f"task {task_name!r}: {what} is a SecretStr/SecretBytes; sqsq refuses secrets in messages and results "
            "(they would sit in clear text in SQS, its DLQ and DynamoDB, and pydantic's JSON would send "
            "'**********' instead). Pass the name of a secret in Secrets Manager or SSM Parameter Store and "
            "read it in the task"
        )
