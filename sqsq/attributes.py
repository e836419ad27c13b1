"""SQS message attributes a sender sets with ``send(..., attributes={...})``: checked at send, read back in the task.

How Python values map to SQS's three data types
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html):

=====================================  ==========  =================================================================
Python value                           DataType    read back in the task (:func:`sqsq.context.current`) as
=====================================  ==========  =================================================================
``str`` (non-empty)                    String      ``str``
``int``                                Number      ``int``
``float`` (finite), ``Decimal``        Number      ``Decimal`` (exact: SQS keeps the digits sent)
``bytes``, ``bytearray`` (non-empty)   Binary      ``bytes``
=====================================  ==========  =================================================================

``bool``, ``None`` and anything else are refused (say ``"true"`` or ``1`` yourself). Numbers keep at most
:data:`NUMBER_MAX_DIGITS` significant digits within 10^-128..10^126, as SQS does.

Limits checked at send, before any I/O: at most ``10`` attributes per message (SQS's quota) *including* those sqsq
sets itself (:data:`sqsq.payloads.SQSQ_ATTRIBUTES_PER_MESSAGE`: ``ExtendedPayloadSize`` on an offloaded message), so
:data:`MAX_USER_ATTRIBUTES` (9) remain for users; names by SQS's rules (:data:`NAME_MAX_CHARS` characters of
``A-Za-z0-9_-.``, no leading/trailing/double period, not starting with ``AWS.``/``Amazon.`` in any case) and not
one the extended clients or sqsq reserve; names, types and values count toward the queue's MaximumMessageSize
(:func:`sqsq.message.body_size_bytes`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqsq import limits
from sqsq.errors import LimitExceeded, SendOptionError
from sqsq.payloads import RESERVED_ATTRIBUTES, SQSQ_ATTRIBUTES_PER_MESSAGE

AttributeValue = str | int | float | Decimal | bytes
"""What ``attributes=`` values may be (floats and Decimals come back as Decimal)."""
MAX_USER_ATTRIBUTES = limits.SQS_MAX_MESSAGE_ATTRIBUTES - SQSQ_ATTRIBUTES_PER_MESSAGE
"""Attributes a send may set: SQS's 10 less the one sqsq sets on an offloaded message."""
NAME_MAX_CHARS = 256
"""Longest attribute name SQS accepts."""
NUMBER_MAX_DIGITS = 38
"""Significant digits SQS keeps in a Number attribute."""
RESERVED_PREFIXES = ("aws.", "amazon.", "sqsq.")
"""Name prefixes refused (case-insensitive): AWS's two, and sqsq's own for later use."""
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
# The characters SQS refuses in a String value: everything outside #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
# #x10000-#x10FFFF. Written as the (small) set it refuses, not as the negation of what it allows: the same matches
# over every code point, but compiled in ~0.1 ms instead of ~3-12 ms (a negated class over the whole Unicode range
# makes re build a large charset when sqsq is imported). Compiled on the first String value checked (a send):
# ~0.35 ms that a consumer's start-up does not need (issue 11).
_SQS_TEXT_FORBIDDEN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


@functools.cache
def _sqs_text_forbidden() -> re.Pattern[str]:
    return re.compile(_SQS_TEXT_FORBIDDEN)


def _name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return f"attribute name {name!r} must be a non-empty str"
    if len(name) > NAME_MAX_CHARS or not _NAME.fullmatch(name):
        return f"attribute name {name!r} must be 1-{NAME_MAX_CHARS} characters of A-Z a-z 0-9 _ - . (SQS's rule)"
    if name.startswith(".") or name.endswith(".") or ".." in name:
        return f"attribute name {name!r} may not start or end with a period or hold two in a row (SQS's rule)"
    if name.lower().startswith(RESERVED_PREFIXES):
        return f"attribute name {name!r} uses a reserved prefix ({', '.join(p.upper() for p in RESERVED_PREFIXES)})"
    if name in RESERVED_ATTRIBUTES:
        return f"attribute name {name!r} is reserved by the SQS extended client (large payloads); choose another"
    return None


def _number(value: int | float | Decimal, name: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise SendOptionError(f"attribute {name!r}: NaN and infinity are not SQS Numbers")
    number = Decimal(value) if isinstance(value, int) else Decimal(str(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise SendOptionError(f"attribute {name!r}: NaN and infinity are not SQS Numbers")
    digits = len("".join(map(str, number.as_tuple().digits)).strip("0"))  # not normalize(): it rounds to 28 digits
    exponent = number.adjusted() if number else 0
    if digits > NUMBER_MAX_DIGITS or not -128 <= exponent <= 126:
        raise SendOptionError(
            f"attribute {name!r}: SQS Numbers hold {NUMBER_MAX_DIGITS} significant digits within "
            "10^-128..10^126; send it as a String"
        )
    return str(value) if isinstance(value, int) else format(number, "f")


def encode_attribute(name: str, value: object) -> dict[str, Any]:
    """One attribute in SQS API shape (``{"DataType": ..., "StringValue"|"BinaryValue": ...}``).

    Raises:
        SendOptionError: a value of a type that does not map (see the module docstring), empty, or out of range.
    """
    if isinstance(value, bool) or value is None:
        raise SendOptionError(f"attribute {name!r}: a {type(value).__name__} is not an SQS attribute "
                              "value; send a str (\"true\") or an int (1)")
    if isinstance(value, str):
        if not value:
            raise SendOptionError(f"attribute {name!r}: SQS refuses an empty String value")
        found = _sqs_text_forbidden().search(value)
        if found:
            raise SendOptionError(f"attribute {name!r}: character U+{ord(found.group(0)):04X} is not "
                                  "allowed in an SQS String; send it as bytes (Binary)")
        return {"DataType": "String", "StringValue": value}
    if isinstance(value, (int, float, Decimal)):
        return {"DataType": "Number", "StringValue": _number(value, name)}
    if isinstance(value, (bytes, bytearray)):
        if not value:
            raise SendOptionError(f"attribute {name!r}: SQS refuses an empty Binary value")
        return {"DataType": "Binary", "BinaryValue": bytes(value)}
    raise SendOptionError(f"attribute {name!r}: a {type(value).__name__} is not an SQS attribute value "
                          "(str, int, float, Decimal or bytes)")


def encode_attributes(attributes: Mapping[str, object] | None) -> dict[str, dict[str, Any]]:
    """``send``'s ``attributes=`` in SQS API shape, every limit in the module docstring checked (not the size).

    Args:
        attributes: attribute name -> value; None or empty: none.

    Returns:
        ``{name: {"DataType": ..., "StringValue"|"BinaryValue": ...}}``.

    Raises:
        LimitExceeded: more than :data:`MAX_USER_ATTRIBUTES` attributes.
        SendOptionError: a bad name or value.
    """
    if not attributes:
        return {}
    if not isinstance(attributes, Mapping):
        raise SendOptionError(f"attributes= takes a mapping of name to value, got a {type(attributes).__name__}")
    if len(attributes) > MAX_USER_ATTRIBUTES:
        raise LimitExceeded(
            f"{len(attributes)} message attributes; SQS allows {limits.SQS_MAX_MESSAGE_ATTRIBUTES} per message and sqsq "
            f"keeps {SQSQ_ATTRIBUTES_PER_MESSAGE} for large payloads, so send at most {MAX_USER_ATTRIBUTES} (put the "
            "rest in the task's arguments)"
        )
    out: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        problem = _name_problem(name)
        if problem:
            raise SendOptionError(problem)
        out[name] = encode_attribute(name, value)
    return out


def decode_attributes(message_attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """The attributes a message carries, as the task reads them (see the module docstring), sqsq's own left out.

    Custom type labels (``String.uuid``, ``Number.float``) are read by their base type; unreadable entries are skipped.
    """
    out: dict[str, AttributeValue] = {}
    for name, attr in message_attributes.items():
        if name in RESERVED_ATTRIBUTES or not isinstance(attr, Mapping):
            continue
        kind = str(attr.get("DataType", "")).split(".", 1)[0]
        if kind == "Binary" and attr.get("BinaryValue") is not None:
            out[name] = bytes(attr["BinaryValue"])
        elif kind == "Number" and isinstance(attr.get("StringValue"), str):
            text = attr["StringValue"]
            try:
                out[name] = int(text) if re.fullmatch(r"[-+]?\d+", text) else Decimal(text)
            except (ValueError, InvalidOperation):
                out[name] = text
        elif isinstance(attr.get("StringValue"), str):
            out[name] = attr["StringValue"]
    return out
