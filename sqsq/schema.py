"""The wire format, as data: what a producer in another language needs to send an app's tasks.

:func:`app_schema` returns one JSON-ready dict (``sqsq schema APP [TASK]`` prints it):

* ``envelope``: the JSON Schema of an SQS message body (:class:`sqsq.message.Envelope`) as a producer must write
  it, each field described;
* ``tasks``: per registered task, its queue (logical and physical SQS name), the JSON Schema of its arguments
  (pydantic's, validation mode: what the worker accepts) and of its result (serialization mode: what the results
  table holds), and ``body_schema``: the envelope with ``task`` fixed and ``args`` replaced by that task's schema,
  enough to validate a whole message body;
* ``message_attributes``: the SQS message attributes sqsq's own sender sets (none on an inline body: metadata travels
  in the body; ``ExtendedPayloadSize`` on a body offloaded to S3, see :mod:`sqsq.payloads`);
* ``limits``: sizes and JSON limits the worker enforces (:mod:`sqsq.limits`, :mod:`sqsq.codec`);
* ``signing``: whether this app's settings turn signing on, and the rule (:mod:`sqsq.signing`) with a worked
  example computed by the same code the worker verifies with, so another language can test its implementation.

Nothing here does I/O: signing keys held in SSM or Secrets Manager are named, not read.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from sqsq import codec, limits, signing
from sqsq.app import App
from sqsq.message import SCHEMA_VERSION, Envelope
from sqsq.task import Task

ENVELOPE_FIELDS: dict[str, str] = {
    "v": "Envelope schema version; must be 1 (a worker refuses any other value as undecodable).",
    "id": "Task id: unique per send (a UUID4 string is what sqsq uses); the results table's key.",
    "task": "Registered task name (see tasks); an unknown name is recorded as FAILURE TaskNotRegistered.",
    "args": "The task's arguments as a JSON object: see the task's args schema.",
    "sent_at": (
        "Epoch seconds (a number; fractions allowed) when the producer built the message. Send it: retries of the "
        "same message are recognised by task name and sent_at, and signing covers it. A worker also runs a body "
        "without it (sqsq's periodic firings omit it): its records then carry no sent_at, and its writes match "
        "only a record without one."
    ),
    "generation": "Redrives from a dead-letter queue; 0 (or absent) for a fresh send.",
    "rescues": "Set by sqsq only (copies it sent of a message whose receive was spent); producers omit it.",
    "kid": "Signing key id; only when signing (see signing). Omit otherwise.",
    "sig": "Base64 HMAC-SHA256 signature; only when signing (see signing). Omit otherwise.",
    # -- scheduling (issue 12) --
    "due_at": (
        "Epoch seconds before which the task must not run (a worker receiving it earlier puts it back); "
        "optional, not signed. Set by sqsq on sends delivered through a one-time schedule."
    ),
    "prior_attempts": "Set by sqsq only (a retry scheduled past 12 hours carries the attempts made); producers omit it.",
    # issue 12: periodic tasks
    "periodic": (
        "Set by sqsq's periodic schedules only: the schedule's fixed id; the id is then '<periodic>:<firing "
        "time>' and a signature covers id=<periodic> without sent_at. Producers omit it."
    ),
    # issue 13, workflows
    "flow": (
        "Set by sqsq only, on workflow steps (chain, group, chord): what runs after this task. Producers omit it. "
        "Signed (as a sorted JSON object under the key flow) when present."
    ),
}
"""What each envelope field means to a producer (a test checks every Envelope field is described)."""

MESSAGE_ATTRIBUTES: dict[str, dict[str, str]] = {}
"""SQS message attributes sqsq's sender sets on an inline body: none; its metadata travels in the JSON body. (A body
offloaded to S3 carries the extended client's pointer and ``ExtendedPayloadSize``: see the ``large_payloads`` note.)"""

SIGNED_FIELDS = ("v", "id", "task", "args", "sent_at", "generation", "kid")
"""The envelope fields :func:`sqsq.signing.canonical_bytes` covers (a test holds the two equal)."""

EXAMPLE_KEY = "example:" + base64.b64encode(bytes(range(32))).decode("ascii")
"""The published test key of the signing example (never use it for real messages)."""


def envelope_schema() -> dict[str, Any]:
    """The JSON Schema of a message body as a producer writes it.

    pydantic's schema of :class:`~sqsq.message.Envelope`, tightened to what a worker decodes: ``v`` is the
    constant 1 and required, ``sent_at`` is required (see :data:`ENVELOPE_FIELDS`), and every field carries a
    description. Unknown fields are ignored by workers, so ``additionalProperties`` stays open.

    Returns:
        A JSON Schema (draft 2020-12) dict.
    """
    schema = Envelope.model_json_schema(mode="validation")
    schema.pop("description", None)
    properties: dict[str, Any] = schema["properties"]
    properties["v"] = {"const": SCHEMA_VERSION, "type": "integer"}
    for name, prop in properties.items():
        prop.pop("title", None)
        prop["description"] = ENVELOPE_FIELDS[name]
    schema["required"] = ["v", "id", "task", "args", "sent_at"]
    schema["description"] = (
        "The SQS message body of one sqsq task: compact JSON, UTF-8. Characters SQS refuses in a body "
        "(U+FFFE, U+FFFF, most C0 controls) must be written as \\uXXXX escapes inside JSON strings."
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _json_schema(build: Any) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = build()
    except Exception as exc:  # a type pydantic cannot describe (PydanticInvalidForJsonSchema and others)
        return {"$comment": f"no JSON Schema for this type ({type(exc).__name__}); the worker still validates it"}
    return schema


def task_schema(app: App, task: Task[Any, Any]) -> dict[str, Any]:
    """What a producer needs for one task.

    Args:
        app: the app the task is registered in (names the physical queue from its settings).
        task: the task.

    Returns:
        ``{"name", "queue", "queue_name", "ignore_result", "args", "result", "body_schema"}``, plus ``"fifo": true``
        for a task on a FIFO queue (send it with MessageGroupId and MessageDeduplicationId): ``args`` and
        ``result`` are JSON Schemas (``args`` is the ``args`` object of the envelope; for a task taking one
        pydantic model it is that model's schema), ``body_schema`` a whole message body's.
    """
    logical = task.queue or app.settings.default_queue
    args = _json_schema(lambda: task.args_model.model_json_schema(mode="validation"))
    result = _json_schema(lambda: task.return_adapter.json_schema(mode="serialization"))
    body = envelope_schema()
    args_only = {k: v for k, v in args.items() if k != "$defs"}
    body["properties"]["task"] = {"const": task.name, "description": ENVELOPE_FIELDS["task"]}
    body["properties"]["args"] = {**args_only, "description": ENVELOPE_FIELDS["args"]}
    if "$defs" in args:
        # the args schema's "#/$defs/..." references resolve at the body's root (beside the envelope's own: flow)
        body["$defs"] = {**body.get("$defs", {}), **args["$defs"]}
    body["title"] = f"{task.name} message body"
    return {
        "name": task.name,
        "queue": logical,
        "queue_name": app.queue_name(logical),
        "ignore_result": task.ignore_result,
        "args": args,
        "result": result,
        "body_schema": body,
        # FIFO queues (issue 14): a producer must send MessageGroupId and MessageDeduplicationId to this queue
        **({"fifo": True} if app.queue_config(logical).fifo else {}),
    }


def size_limits() -> dict[str, Any]:
    """Sizes and JSON limits a body must respect (the worker refuses, or SQS rejects, what breaks them)."""
    return {
        "max_message_size_bytes": limits.SQS_MAX_MESSAGE_SIZE_BYTES,
        "max_message_size_note": (
            "The queue's MaximumMessageSize attribute is the limit (sqsq provisions 1,048,576 bytes; SQS's default "
            "for other queues is 262,144): the UTF-8 body plus every message attribute's name, type and value."
        ),
        "max_delay_seconds": limits.SQS_MAX_DELAY_SECONDS,
        "max_message_attributes": limits.SQS_MAX_MESSAGE_ATTRIBUTES,
        "max_json_depth": codec.MAX_JSON_DEPTH,
        "max_int_digits": codec.MAX_INT_DIGITS,
        "floats": "finite only (JSON has no NaN or Infinity)",
        "text": "valid Unicode: no lone surrogates U+D800..U+DFFF",
    }


def signing_status(app: App) -> dict[str, Any]:
    """Whether the app's settings turn signing on, where its keys come from, and which key ids are known.

    Reads settings only: keys in SSM or Secrets Manager are named by source, their ids not read (no I/O).
    """
    settings = app.settings
    ring = settings.signing_keyring()
    if ring is not None:
        return {"enabled": True, "key_source": "SQSQ_SIGNING_KEYS", "signing_key_id": ring.signing_key_id,
                "key_ids": list(ring.key_ids)}
    if settings.signing_keys_parameter is not None:
        return {"enabled": True, "key_source": f"SSM parameter {settings.signing_keys_parameter}"}
    if settings.signing_keys_secret is not None:
        return {"enabled": True, "key_source": f"Secrets Manager secret {settings.signing_keys_secret}"}
    return {"enabled": False}


def signing_rule() -> dict[str, Any]:
    """How to sign an envelope (:mod:`sqsq.signing`), with a worked example computed by the verifying code.

    Returns:
        ``{"algorithm", "keys", "signed_fields", "domain", "canonical_json", "signature", "example"}``; the
        example's ``body`` verifies under :data:`EXAMPLE_KEY`, and its ``canonical`` is the exact signed text
        after the domain line.
    """
    ring = signing.KeyRing.parse(EXAMPLE_KEY, source="example")
    unsigned = Envelope(
        id="00000000-0000-4000-8000-000000000000",
        task="example.task",
        args={"text": "caf\u00e9 \u2603 \U0001f40d", "n": 1, "ratio": 0.00001, "whole": 2.0, "big": 1e16,
              "nested": {"b": [True, None], "a": -0.5}},
        sent_at=1764470000.0,
    )
    signed = ring.sign(unsigned)
    canonical = signing.canonical_bytes(signed)
    return {
        "algorithm": "HMAC-SHA256 (RFC 2104)",
        "keys": (
            "SQSQ_SIGNING_KEYS = keyid:base64secret[,keyid:base64secret...]: the first key signs, every key "
            f"verifies; a key id is 1-64 of A-Z a-z 0-9 . _ -, a secret at least {signing.MIN_SECRET_BYTES} bytes "
            "(standard base64). HMAC is keyed with the decoded secret bytes."
        ),
        "signed_fields": list(SIGNED_FIELDS),
        "domain": signing.DOMAIN.decode("ascii"),
        "canonical_json": (
            "The signed fields (kid included, sig and rescues excluded) as the worker reads them from the body, "
            "written as JSON with object keys sorted by Unicode code point at every level, no whitespace "
            "(separators ',' and ':'), and every character outside U+0020..U+007E escaped as \\uXXXX with "
            "lowercase hex (UTF-16 surrogate pairs above U+FFFF; \\b \\f \\n \\r \\t as such; \" and \\ "
            "escaped). Numbers as Python writes them: an integer literal of the body stays its digits; any other "
            "number (and sent_at always) is a float in its shortest round-trip form, with '.0' when whole "
            "(2.0), and as d.ddde+XX / d.ddde-XX (at least two exponent digits) below 1e-4 or from 1e16 up "
            "(1e-05, 1e+16). generation defaults to 0 when absent."
        ),
        "signature": "sig = base64(HMAC-SHA256(secret, domain + canonical_json)) (standard base64, with padding); "
                     "kid = the signing key's id",
        "example": {
            "key": EXAMPLE_KEY,
            "body": signed.to_body(),
            "canonical": canonical[len(signing.DOMAIN):].decode("ascii"),
            "sig": signed.sig,
        },
    }


def app_schema(app: App, task_name: str | None = None) -> dict[str, Any]:
    """Everything a producer in another language needs to send ``app``'s tasks (see the module docstring).

    Args:
        app: the app.
        task_name: one registered task name; ``None`` = every task, sorted by name.

    Returns:
        A JSON-ready dict: ``{"app", "schema_version", "envelope", "message_attributes", "limits", "signing",
        "tasks"}`` (``tasks`` maps task name to :func:`task_schema`'s dict).

    Raises:
        TaskNotRegistered: ``task_name`` names no task of the app.
        ConfigError: the app's settings are invalid (e.g. an unknown ``SQSQ_*`` variable).

    Example:
        >>> from sqsq.demo.app import app
        >>> app_schema(app, "census.parse_file")["tasks"]["census.parse_file"]["args"]["required"]
        ['relative_path']
    """
    tasks = [app.get_task(task_name)] if task_name is not None else [app.tasks[n] for n in sorted(app.tasks)]
    return {
        "app": app.name,
        "schema_version": SCHEMA_VERSION,
        "envelope": envelope_schema(),
        "message_attributes": {
            "set_by_sqsq": copy.deepcopy(MESSAGE_ATTRIBUTES),
            "note": "sqsq sets none on an inline body; a producer may set its own with send(attributes=...), at "
                    "most 9 (they count against the size limit, reach the task as sqsq.context.current().attributes, "
                    "and are kept when a message moves to or from a DLQ).",
            "large_payloads": "a body over the queue's MaximumMessageSize is stored in S3 and the message body is the "
                              "AWS extended client's pointer, [\"software.amazon.payloadoffloading.PayloadS3Pointer\", "
                              "{\"s3BucketName\": ..., \"s3Key\": ...}], with the Number attribute "
                              "ExtendedPayloadSize (the envelope's size in bytes); the object holds the envelope.",
        },
        "limits": size_limits(),
        "signing": {**signing_status(app), "rule": signing_rule()},
        "tasks": {t.name: task_schema(app, t) for t in tasks},
    }
