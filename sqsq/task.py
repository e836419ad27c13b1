"""A registered task: its name, queue, argument schema, return schema and retry policy.

Decorating builds schemas only; it does no I/O.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic import ValidationError as PydanticValidationError

from sqsq.errors import ValidationError
from sqsq.retry import Backoff

if TYPE_CHECKING:
    from sqsq.app import App

P = ParamSpec("P")
R = TypeVar("R")


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite float inside ``value`` (dicts, lists, tuples, sets), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "(value)")
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = non_finite_path(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


class _ArgsBase(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def build_args_model(fn: Callable[..., Any], task_name: str) -> tuple[type[BaseModel], bool]:
    """The pydantic model for a task's arguments.

    Returns:
        ``(model, single)``: ``single`` is True when the function takes one pydantic-model parameter (the model
        is then that class); otherwise a model with one field per parameter, extra keys forbidden.

    Raises:
        TypeError: a parameter has no annotation, or is ``*args``/``**kwargs``.
    """
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = list(signature.parameters.values())
    if len(params) == 1 and _is_model(hints.get(params[0].name)):
        return hints[params[0].name], True
    fields: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"task {task_name!r}: *args/**kwargs cannot be validated; name every parameter")
        if p.name not in hints:
            raise TypeError(f"task {task_name!r}: parameter {p.name!r} needs a type annotation")
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], default)
    model = create_model(f"{fn.__name__}_args", __base__=_ArgsBase, **fields)
    return model, False


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
        self.args_model, self.single_model = build_args_model(self.fn, self.name)
        hints = typing.get_type_hints(self.fn)
        self.return_adapter = TypeAdapter(hints.get("return", Any))
        self.__doc__ = self.fn.__doc__

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        """True for ``async def`` tasks."""
        return inspect.iscoroutinefunction(self.fn)

    def validate_args(self, args: BaseModel | Mapping[str, Any]) -> BaseModel:
        """Validate arguments (a mapping of parameter name to value, or the task's model instance).

        Raises:
            ValidationError: with pydantic's error list; nothing has been sent.
        """
        try:
            if isinstance(args, BaseModel):
                if isinstance(args, self.args_model):
                    # Re-validate from JSON mode so that what runs is exactly what a worker would see.
                    return self.args_model.model_validate(args.model_dump(mode="json"))
                raise ValidationError(
                    self.name, f"expected {self.args_model.__name__}, got {type(args).__name__}"
                )
            if not isinstance(args, Mapping):
                raise ValidationError(
                    self.name, f"arguments must be a mapping of parameter name to value, got {type(args).__name__}"
                )
            return self.args_model.model_validate(dict(args))
        except PydanticValidationError as exc:
            raise ValidationError(self.name, str(exc), exc.errors(include_url=False)) from exc  # type: ignore[arg-type]

    def dump_args(self, model: BaseModel) -> dict[str, Any]:
        """Arguments in pydantic's JSON mode, ready for the envelope.

        Raises:
            ValidationError: a value cannot be represented as JSON.
        """
        try:
            bad = non_finite_path(model.model_dump(mode="python"))
            dumped = model.model_dump(mode="json")
        except Exception as exc:  # pydantic raises PydanticSerializationError and others
            raise ValidationError(self.name, f"arguments cannot be encoded as JSON: {exc}") from exc
        if bad is not None:
            # JSON has no NaN or infinity: pydantic would send null and the task would see None.
            raise ValidationError(self.name, f"{bad}: NaN and infinite floats cannot travel as JSON; send a finite value")
        return dumped

    def call(self, model: BaseModel) -> Any:
        """Call the function with validated arguments; for an ``async def`` task, return its coroutine unawaited.

        The worker awaits that coroutine on its long-lived event loop (see :mod:`sqsq.pools`), so many async tasks
        are in flight at once without a thread each.
        """
        if self.single_model:
            return typing.cast(Callable[..., Any], self.fn)(model)
        kwargs = {name: getattr(model, name) for name in type(model).model_fields}
        return typing.cast(Callable[..., Any], self.fn)(**kwargs)

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
        """The return value as JSON text (pydantic JSON mode, by the return annotation).

        Raises:
            ValueError: the value holds a NaN or infinite float (JSON would turn it into null).
            Exception: whatever pydantic raises for a value its return annotation cannot encode.
        """
        bad = non_finite_path(self.return_adapter.dump_python(value), "result")
        if bad is not None:
            raise ValueError(f"{bad}: NaN and infinite floats cannot be stored as JSON; return a finite value or None")
        return self.return_adapter.dump_json(value).decode()

    def load_result(self, text: str) -> Any:
        """Rebuild the return value from its JSON text."""
        return self.return_adapter.validate_json(text)
