"""JSON as sqsq carries task arguments and results: one set of limits, checked the same way on both sides.

The producer (``send``) and the worker call the same functions here, so a value is either refused at ``send``
(before any network I/O) or arrives as it was sent; a task's return value is either stored so that ``get()``
reads it back equal, or the task is recorded as FAILURE (:class:`sqsq.errors.ResultNotReadable`).

Limits (sqsq's own, chosen below what the decoders on either side accept, whatever the process's settings):

* nesting: at most :data:`MAX_JSON_DEPTH` levels of arrays/objects in one argument or result (pydantic-core's
  JSON parser stops near 200 levels for a whole document; Python's ``json`` near ``sys.getrecursionlimit()``);
* integers: at most :data:`MAX_INT_DIGITS` decimal digits (below Python's default ``int_max_str_digits``, which a
  producer may have raised and a worker not, and below what pydantic-core's JSON parser reads);
* floats: finite (JSON has no NaN or infinity; pydantic would turn them into ``null``);
* text: valid Unicode, i.e. no lone surrogates U+D800..U+DFFF (pydantic-core's JSON parser refuses them, and
  DynamoDB stores only UTF-8). Characters SQS refuses in a body (U+FFFE, U+FFFF, most C0 controls) are fine:
  :meth:`sqsq.message.Envelope.to_body` sends them as ``\\uXXXX`` escapes.

Error texts from this module name where the problem is (a path such as ``items.3.name``) and what it is, never
the value itself (see :class:`sqsq.errors.ValidationError` for the rule).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

MAX_JSON_DEPTH = 100
"""Most levels of nested arrays/objects in one argument value or one result (a scalar is 0, ``[1]`` is 1)."""
MAX_INT_DIGITS = 4299
"""Most decimal digits of an integer: Python's default ``sys.get_int_max_str_digits()`` (4,300) less one, as
pydantic-core's JSON parser refuses 4,300 characters with the minus sign (measured with pydantic-core 2.46)."""

_INT_BOUND = 10**MAX_INT_DIGITS
_SURROGATE = re.compile("[\ud800-\udfff]")
_KEY_CHARS = 40


def _step(path: str, key: object) -> str:
    text = str(key)
    text = text if len(text) <= _KEY_CHARS else text[:_KEY_CHARS] + "…"
    return f"{path}.{text}" if path else text


def _scalar_problem(value: object) -> str | None:
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        if found:
            return (
                f"text holds a lone surrogate (U+{ord(found.group(0)):04X} at index {found.start()}), which is not "
                "Unicode and cannot travel as JSON; send bytes as base64 (e.g. pydantic's Base64Bytes) instead"
            )
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if abs(value) >= _INT_BOUND:
            return f"an integer of more than {MAX_INT_DIGITS} digits cannot travel as JSON; send it as a string"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return "NaN and infinite floats cannot travel as JSON; send a finite value"
        return None
    return f"a {type(value).__name__} is not a JSON value"


def json_problem(value: Any, path: str = "") -> str | None:
    """The first reason ``value`` (JSON-compatible Python: dict, list, str, int, float, bool, None) cannot travel.

    Iterative, so any nesting depth is examined without RecursionError.

    Args:
        value: a value in pydantic's JSON mode (``model_dump(mode="json")``) or as ``json.loads`` returns it.
        path: where ``value`` sits (``"x"``, ``"result"``), prefixed to the answer.

    Returns:
        ``"<path>: <problem>"``, or None when the value is within every limit in the module docstring.
    """
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return (
                    f"{where or '(value)'}: nested more than {MAX_JSON_DEPTH} levels deep; sqsq carries at most "
                    f"{MAX_JSON_DEPTH} levels of arrays/objects (flatten it or send a reference)"
                )
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        return f"{where or '(value)'}: a {type(key).__name__} key; JSON object keys are strings"
                    key_problem = _scalar_problem(key)
                    if key_problem:
                        return f"{_step(where, key)} (the key): {key_problem}"
                    stack.append((sub, _step(where, key), depth + 1))
            else:
                stack.extend((sub, _step(where, i), depth + 1) for i, sub in enumerate(item))
            continue
        problem = _scalar_problem(item)
        if problem:
            return f"{where or '(value)'}: {problem}"
    return None


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The path of the first NaN or infinite float inside ``value`` (dicts, lists, tuples, sets), or None.

    Iterative (any depth). Used on pydantic's *python*-mode dump, where NaN is still a float (its JSON mode may
    already have turned it into ``None``).
    """
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return where or "(value)"
        elif isinstance(item, dict):
            stack.extend((sub, _step(where, key)) for key, sub in item.items())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((sub, _step(where, i)) for i, sub in enumerate(item))
    return None


def dumps(value: Any) -> str:
    """Compact JSON text of a JSON-compatible value (UTF-8 characters kept; NaN refused with ValueError)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def first_difference(sent: Any, arrived: Any, path: str = "", *, json_form_ok: bool = False) -> str | None:
    """Where ``arrived`` differs from ``sent``, strictly: same types, floats and Decimals with the same repr.

    Equal means: the same type at every level (a tuple is not a list, ``1`` is not ``1.0`` or ``True``); floats
    with the same ``repr`` (the sign of zero counts); Decimals with the same digits and exponent; datetimes and
    times equal, with the same UTC offset and ``fold`` (a named zone may arrive as a fixed offset); models, dataclasses,
    dicts, lists and tuples compared item by item; anything else by ``==``.

    Args:
        sent: the value before JSON.
        arrived: the value rebuilt from JSON.
        path: where the values sit, prefixed to the answer.
        json_form_ok: accept a value that arrives as its JSON form (a str, list or dict, or a dict whose keys
            became strings) in place of another type: what a loose annotation (``Any``, ``dict``) asks for. Used
            for results; arguments are held to the stricter rule.

    Returns:
        ``"<path>: <what changed>"`` (never the values themselves), or None when they are the same.
    """
    where = path or "(value)"
    if type(sent) is not type(arrived):
        if json_form_ok and isinstance(arrived, (str, list, dict)):
            return None
        return f"{where}: a {type(sent).__name__} arrives as a {type(arrived).__name__}"
    if isinstance(sent, BaseModel):
        pairs = [(name, getattr(sent, name), getattr(arrived, name)) for name in type(sent).model_fields]
        pairs += [(k, v, (arrived.model_extra or {}).get(k)) for k, v in (sent.model_extra or {}).items()]
        return _first_of(pairs, path, json_form_ok)
    if dataclasses.is_dataclass(sent) and not isinstance(sent, type):
        names = [f.name for f in dataclasses.fields(sent)]
        return _first_of([(n, getattr(sent, n), getattr(arrived, n)) for n in names], path, json_form_ok)
    if isinstance(sent, Mapping):
        if len(sent) == len(arrived) and all(k in arrived for k in sent):
            return _first_of([(k, v, arrived[k]) for k, v in sent.items()], path, json_form_ok)
        if json_form_ok and len(sent) == len(arrived):
            return _first_of(list(zip(sent, sent.values(), arrived.values(), strict=True)), path, json_form_ok)
        return f"{where}: its keys arrive changed (a key of another type becomes a string)"
    if isinstance(sent, (list, tuple)):
        if len(sent) != len(arrived):
            return f"{where}: {len(sent)} items arrive as {len(arrived)}"
        return _first_of(list(zip(range(len(sent)), sent, arrived, strict=True)), path, json_form_ok)
    if isinstance(sent, (float, Decimal)):
        same = repr(sent) == repr(arrived)
    elif isinstance(sent, (dt.datetime, dt.time)):
        same = sent == arrived and sent.utcoffset() == arrived.utcoffset() and sent.fold == arrived.fold
    else:
        try:
            same = bool(sent == arrived)
        except Exception:  # a type whose __eq__ raises: it cannot be shown to arrive equal
            same = False
    return None if same else f"{where}: the {type(sent).__name__} arrives changed"


def _first_of(pairs: Sequence[tuple[object, Any, Any]], path: str, json_form_ok: bool) -> str | None:
    for key, sent, arrived in pairs:
        found = first_difference(sent, arrived, _step(path, key), json_form_ok=json_form_ok)
        if found is not None:
            return found
    return None
