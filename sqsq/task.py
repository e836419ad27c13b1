"""A registered task: its name, queue, argument schema, return schema and retry policy.

Decorating builds schemas only; it does no I/O.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic import ValidationError as PydanticValidationError

from sqsq import codec
from sqsq.errors import ConfigError, MessageDecodeError, ResultNotReadable, ValidationError, describe_errors
from sqsq.message import Envelope
from sqsq.retry import Backoff

if TYPE_CHECKING:
    from sqsq.app import App

P = ParamSpec("P")
R = TypeVar("R")


non_finite_path = codec.non_finite_path  # kept importable from here


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


def _refuse_secrets(task_name: str, args_model: type[BaseModel], return_adapter: TypeAdapter[Any]) -> None:
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


@dataclass(eq=False)
class Task(Generic[P, R]):
    """A registered task. Calling it runs the function here, synchronously (no queue).

    Attributes:
        app: the app it is registered in.
        name: the stable registered name (``"<module>.<function>"`` by default).
        fn: the function.
        queue: logical queue name (``None`` = the app's default queue).
        ignore_result: do not store SUCCESS results (failures are still recorded).
        max_retries: retries after the first attempt (``None`` = as many as the queue's maxReceiveCount allows).
        backoff: delay between attempts; ``None`` leaves it to the queue's visibility timeout.
        retry_on: exception types that cause a retry; others fail at once.
        time_limit_seconds: longest a run may take; the worker keeps the message invisible up to this long.
        track_started: write a STARTED record before running (one extra DynamoDB write).
        claim: claim the task id with a leased conditional write before running, so two deliveries of one task
            racing on two workers run it once (one extra DynamoDB write; see :mod:`sqsq.executor`).
    """

    app: App
    name: str
    fn: Callable[P, R]
    queue: str | None = None
    ignore_result: bool = False
    max_retries: int | None = None
    backoff: Backoff | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    time_limit_seconds: float | None = None
    track_started: bool = False
    claim: bool = False
    args_model: type[BaseModel] = field(init=False)
    single_model: bool = field(init=False)
    return_adapter: TypeAdapter[Any] = field(init=False)

    def __post_init__(self) -> None:
        limit = self.time_limit_seconds
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)
                                  or not 0 < limit < float("inf")):
            raise ConfigError(f"task {self.name}: time_limit_seconds={limit!r} must be a finite number of seconds > 0")
        self.args_model, self.single_model = build_args_model(self.fn, self.name)
        hints = typing.get_type_hints(self.fn, include_extras=True)
        self.return_adapter = TypeAdapter(hints.get("return", Any))
        _refuse_secrets(self.name, self.args_model, self.return_adapter)
        self.__doc__ = self.fn.__doc__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        """True for ``async def`` tasks."""
        return inspect.iscoroutinefunction(self.fn)

    def validate_args(self, args: BaseModel | Mapping[str, Any]) -> BaseModel:
        """Validate arguments as given to ``send`` (a mapping of parameter name to value, or the task's model).

        Raises:
            ValidationError: naming each field and problem (never the value); nothing has been sent.
        """
        if isinstance(args, BaseModel):
            if isinstance(args, self.args_model):
                return args  # already a model; send checks that it arrives as it is (check_arrival)
            raise ValidationError(self.name, f"expected {self.args_model.__name__}, got {type(args).__name__}")
        if not isinstance(args, Mapping):
            raise ValidationError(
                self.name, f"arguments must be a mapping of parameter name to value, got {type(args).__name__}"
            )
        try:
            return self.args_model.model_validate(dict(args))
        except PydanticValidationError as exc:
            # from None: pydantic's own text (in a chained traceback) would show the rejected values.
            raise ValidationError(self.name, "", _errors(exc)) from None

    def load_args(self, args: Mapping[str, Any]) -> BaseModel:
        """Validate arguments as they arrive in a message: the worker's side, also run by ``send`` before sending.

        The same limits as :meth:`dump_args` (:func:`sqsq.codec.json_problem`), then pydantic's JSON validation
        of the task's signature (what pydantic does for JSON input: strict models, aliases, constraints).

        Raises:
            ValidationError: naming each field and problem (never the value).
        """
        for name, value in args.items():
            problem = codec.json_problem(value, str(name))
            if problem:
                raise ValidationError(self.name, problem)
        try:
            return self.args_model.model_validate_json(codec.dumps(dict(args)))
        except PydanticValidationError as exc:
            raise ValidationError(self.name, "", _errors(exc)) from None

    def dump_args(self, model: BaseModel) -> dict[str, Any]:
        """Arguments in pydantic's JSON mode (by alias), ready for the envelope.

        Raises:
            ValidationError: a value cannot be represented as JSON within :mod:`sqsq.codec`'s limits.
        """
        try:
            bad = codec.non_finite_path(model.model_dump(mode="python"))
            dumped = model.model_dump(mode="json", by_alias=True)
        except Exception as exc:  # pydantic raises PydanticSerializationError and others
            raise ValidationError(self.name, f"arguments cannot be encoded as JSON: {exc}") from None
        if bad is not None:
            # JSON has no NaN or infinity: pydantic would send null and the task would see None.
            raise ValidationError(self.name, f"{bad}: NaN and infinite floats cannot travel as JSON; send a finite value")
        for name, value in dumped.items():
            problem = codec.json_problem(value, name)
            if problem:
                raise ValidationError(self.name, problem)
        return dumped

    def check_arrival(self, model: BaseModel, body: str) -> None:
        """Decode ``body`` as a worker will and check the task would get exactly ``model`` (``send`` calls this).

        Raises:
            ValidationError: the worker would refuse the arguments, or they would arrive changed (a tuple as a
                list, an ``int`` key as a string, a Decimal under ``Any`` as a string...); names where.
        """
        try:
            arrived = self.load_args(Envelope.from_body(body).args)
        except (ValidationError, MessageDecodeError) as exc:
            detail = str(exc).removeprefix(f"invalid arguments for task {self.name!r}: ")
            raise ValidationError(self.name, f"the worker would refuse these arguments after JSON: {detail}") from None
        diff = codec.first_difference(model, arrived)
        if diff is not None:
            raise ValidationError(
                self.name,
                f"{diff} at the worker (JSON cannot carry it as it is); send a value of the parameter's "
                "annotated type, or annotate the parameter with the type you send",
            )

    def call(self, model: BaseModel) -> Any:
        """Call the function with validated arguments; for an ``async def`` task, return its coroutine unawaited.

        The worker awaits that coroutine on its long-lived event loop (see :mod:`sqsq.pools`), so many async tasks
        are in flight at once without a thread each.
        """
        fn = typing.cast(Callable[..., Any], self.fn)
        if self.single_model:
            return fn(model)
        kwargs = {name: getattr(model, name) for name in type(model).model_fields}
        positional = [kwargs.pop(p.name) for p in inspect.signature(self.fn).parameters.values()
                      if p.kind is p.POSITIONAL_ONLY]
        return fn(*positional, **kwargs)

    def run(self, model: BaseModel) -> R:
        """Call the function with validated arguments and return its value.

        Standalone use (direct calls, tests, the Lambda handler): an ``async def`` task runs to completion on a
        fresh event loop (``asyncio.run``). A worker instead awaits :meth:`call`'s coroutine on its own loop.
        """
        result = self.call(model)
        if inspect.iscoroutine(result):
            import asyncio  # here, not at the top: asyncio adds ~11 ms to every import of sqsq (Lambda cold starts)

            result = asyncio.run(result)
        return typing.cast(R, result)

    def dump_result(self, value: Any) -> str:
        """The return value as JSON text, checked to come back from :meth:`load_result` as it was returned.

        Same limits as arguments (:mod:`sqsq.codec`). A value that comes back changed is refused, unless it comes
        back as pydantic's own validation of it by the return annotation (a tuple for ``-> list[int]``) or, under
        a loose annotation (``Any``, ``dict[str, object]``), as its JSON form (a Decimal as its string).

        Raises:
            ResultNotReadable: NaN/infinity, too deep, a lone surrogate, not encodable by the return annotation,
                not readable back by it (``-> int`` returning 1.5), or coming back as another value of its type
                (``-> datetime`` with a UTC offset in seconds). The worker records it as the task's FAILURE.
        """
        try:
            bad = codec.non_finite_path(self.return_adapter.dump_python(value), "result")
            data = self.return_adapter.dump_python(value, mode="json", by_alias=True)
        except Exception as exc:  # PydanticSerializationError and others
            raise ResultNotReadable(self.name, f"it cannot be encoded as JSON: {exc}") from None
        if bad is not None:
            raise ResultNotReadable(self.name, f"{bad}: NaN and infinite floats cannot be stored as JSON; "
                                    "return a finite value or None")
        problem = codec.json_problem(data, "result")
        if problem:
            raise ResultNotReadable(self.name, problem)
        text = codec.dumps(data)
        try:
            loaded = self.load_result(text)
        except PydanticValidationError as exc:
            raise ResultNotReadable(
                self.name, f"it does not match the return annotation: {describe_errors(_errors(exc), root='result')}"
            ) from None
        diff = codec.first_difference(value, loaded, "result", json_form_ok=True)
        if diff is not None:
            try:
                expected = self.return_adapter.validate_python(value)
            except PydanticValidationError:
                expected = value
            if codec.first_difference(expected, loaded, "result", json_form_ok=True) is not None:
                raise ResultNotReadable(
                    self.name, f"{diff} from get(); return a value of the annotated return type"
                )
        return text

    def load_result(self, text: str) -> Any:
        """Rebuild the return value from its JSON text."""
        return self.return_adapter.validate_json(text)


def _errors(exc: PydanticValidationError) -> list[dict[str, object]]:
    return typing.cast(list[dict[str, object]], exc.errors(include_url=False))
