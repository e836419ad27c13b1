"""A task's data half: validating and encoding its arguments and its result as JSON, both ways.

:class:`sqsq.task.Task` inherits these; they need only the task's name, its argument model (built by
:mod:`sqsq.args_model`) and its return type's adapter. The limits of what JSON carries are :mod:`sqsq.codec`'s.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from sqsq import codec
from sqsq.errors import MessageDecodeError, ResultNotReadable, ValidationError, describe_errors
from sqsq.message import Envelope

R = TypeVar("R")


class TaskData(Generic[R]):
    """Argument and result validation and JSON encoding of a task (a base of :class:`sqsq.task.Task`).

    Attributes (set by the task):
        name: the task's registered name, for errors.
        args_model: the pydantic model of the arguments (:func:`sqsq.args_model.build_args_model`).
        return_adapter: pydantic's adapter of the return annotation.
    """

    name: str
    args_model: type[BaseModel]
    return_adapter: TypeAdapter[Any]

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
            raise ValidationError(self.name, self._single_model_hint(args), _errors(exc)) from None

    def _single_model_hint(self, args: Mapping[str, Any]) -> str:
        """What to do when a task taking one model was sent keys that are not its fields (e.g. the parameter's name
        wrapping the model's fields), or ``""``."""
        if not getattr(self, "single_model", False):
            return ""
        fields = list(self.args_model.model_fields)
        unknown = [str(k) for k in args if k not in fields]
        if not unknown:
            return ""
        model = self.args_model.__name__
        return (f"the task takes one {model}: send its fields ({', '.join(fields)}) as the arguments, or a {model} "
                f"instance; {', '.join(unknown)} is not one of them")

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

    def load_result(self, text: str) -> R:
        """Rebuild the return value from its JSON text."""
        return typing.cast(R, self.return_adapter.validate_json(text))


def _errors(exc: PydanticValidationError) -> list[dict[str, object]]:
    return typing.cast(list[dict[str, object]], exc.errors(include_url=False))
