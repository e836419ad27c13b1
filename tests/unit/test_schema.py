"""`sqsq schema`: the wire format as data, held to what sqsq itself sends and verifies."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field

import sqsq
from sqsq.cli import main
from sqsq.errors import MessageDecodeError, TaskNotRegistered
from sqsq.executor import Ack, Executor
from sqsq.message import Envelope
from sqsq.schema import ENVELOPE_FIELDS, EXAMPLE_KEY, SIGNED_FIELDS, app_schema
from sqsq.signing import KeyRing, canonical_bytes
from sqsq.transport import OutgoingMessage
from tests.conftest import ROOT
from tests.unit.conftest import MemoryApp

KEY = "k1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Basket(BaseModel):
    lines: list[Line]


def _register(app: sqsq.App) -> tuple[Any, Any]:
    @app.task(name="unit.add")
    def add(x: int, y: int = 0) -> int:
        return x + y

    @app.task(name="unit.basket", queue="images")
    def basket(order: Basket) -> dict[str, int]:
        return {line.sku: line.quantity for line in order.lines}

    return add, basket


def _sent_body(mem: MemoryApp, queue: str) -> str:
    (message,) = mem.transport.receive(queue, 10, 0)
    return message.body


def test_every_envelope_field_is_described_for_producers() -> None:
    assert set(ENVELOPE_FIELDS) == set(Envelope.model_fields)


def test_signed_fields_are_the_fields_the_signature_covers() -> None:
    envelope = Envelope(id="t", task="x", args={}, kid="k1", sig="s", rescues=2)
    covered = json.loads(canonical_bytes(envelope).split(b"\n", 1)[1])
    assert tuple(sorted(covered)) == tuple(sorted(SIGNED_FIELDS))


def test_bodies_sqsq_sends_validate_against_each_tasks_body_schema(mem: MemoryApp) -> None:
    add, basket = _register(mem.app)
    sqsq.send(add, {"x": 1})
    sqsq.send(basket, Basket(lines=[Line(sku="a", quantity=2)]))
    schema = app_schema(mem.app)
    jsonschema.validate(json.loads(_sent_body(mem, "unit-default")), schema["tasks"]["unit.add"]["body_schema"])
    jsonschema.validate(json.loads(_sent_body(mem, "unit-images")), schema["tasks"]["unit.basket"]["body_schema"])


def test_body_schema_refuses_what_the_worker_refuses(mem: MemoryApp) -> None:
    _register(mem.app)
    tasks = app_schema(mem.app)["tasks"]
    good = {"v": 1, "id": "t1", "task": "unit.basket", "args": {"lines": [{"sku": "a", "quantity": 1}]}, "sent_at": 1.5}
    jsonschema.validate(good, tasks["unit.basket"]["body_schema"])  # $defs of the nested model resolve
    bad_bodies = [
        {**good, "args": {"lines": [{"sku": "a", "quantity": 0}]}},  # Field(gt=0)
        {**good, "task": "unit.add"},  # another task's name
        {**good, "v": 2},
        {k: v for k, v in good.items() if k != "sent_at"},
    ]
    for body in bad_bodies:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, tasks["unit.basket"]["body_schema"])
    for args in ({"x": "one"}, {"x": 1, "z": 2}):  # a wrong type; an unknown parameter (extra="forbid")
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, "task": "unit.add", "args": args}, tasks["unit.add"]["body_schema"])


def test_task_entry_names_queue_args_and_result(mem: MemoryApp) -> None:
    _register(mem.app)
    entry = app_schema(mem.app, "unit.basket")["tasks"]
    assert list(entry) == ["unit.basket"]
    basket = entry["unit.basket"]
    assert (basket["queue"], basket["queue_name"]) == ("images", "unit-images")
    assert basket["args"] == Basket.model_json_schema()
    assert basket["result"] == {"additionalProperties": {"type": "integer"}, "type": "object"}
    assert app_schema(mem.app)["message_attributes"]["set_by_sqsq"] == {}


def test_unknown_task_is_task_not_registered(mem: MemoryApp) -> None:
    _register(mem.app)
    with pytest.raises(TaskNotRegistered):
        app_schema(mem.app, "unit.nope")


def test_signing_example_verifies_with_the_published_key() -> None:
    rule = app_schema(sqsq.App("unit", endpoint_url="http://unused.invalid"))["signing"]["rule"]
    example = rule["example"]
    envelope = Envelope.from_body(example["body"])
    KeyRing.parse(EXAMPLE_KEY).verify(envelope)
    assert canonical_bytes(envelope) == rule["domain"].encode() + example["canonical"].encode()
    assert envelope.sig == example["sig"]


def test_signing_status_follows_the_settings_without_reading_aws() -> None:
    off = app_schema(sqsq.App("unit", endpoint_url="http://unused.invalid"))["signing"]
    on = app_schema(sqsq.App("unit", endpoint_url="http://unused.invalid", signing_keys=KEY))["signing"]
    ssm = app_schema(sqsq.App("unit", endpoint_url="http://unused.invalid", signing_keys_parameter="/p"))["signing"]
    assert off["enabled"] is False
    assert (on["enabled"], on["signing_key_id"], on["key_ids"]) == (True, "k1", ["k1"])
    assert "QUFB" not in json.dumps(on).replace(EXAMPLE_KEY, "")  # the secret is never printed
    assert (ssm["enabled"], ssm["key_source"]) == (True, "SSM parameter /p")


def test_cli_schema_prints_json_and_refuses_unknown_task() -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["schema", "sqsq.demo.app:app", "census.parse_file"])
    assert printed.exit_code == 0, printed.output
    data = json.loads(printed.output)
    assert data["tasks"]["census.parse_file"]["args"]["required"] == ["relative_path"]
    assert data["envelope"]["properties"]["v"]["const"] == 1
    unknown = runner.invoke(main, ["schema", "sqsq.demo.app:app", "census.nope"])
    assert unknown.exit_code == 3
    assert "census.nope" in unknown.output


def test_worker_refuses_envelope_values_the_published_schema_refuses(mem: MemoryApp) -> None:
    """A JSON ``true`` is not the integer 1, nor ``"1"`` an integer: what the schema refuses, the worker refuses."""
    _register(mem.app)
    body_schema = app_schema(mem.app)["tasks"]["unit.add"]["body_schema"]
    good = {"v": 1, "id": "t1", "task": "unit.add", "args": {"x": 1}, "sent_at": 1.5}
    Envelope.from_body(json.dumps(good))
    for field, value in [("v", True), ("generation", "1"), ("generation", True), ("sent_at", True),
                         ("sent_at", "1.5"), ("rescues", "2"), ("kid", 5)]:
        body = {**good, field: value}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(body, body_schema)
        with pytest.raises(MessageDecodeError):
            Envelope.from_body(json.dumps(body))


def test_worker_reads_whole_number_floats_in_integer_envelope_fields_as_the_schema_does() -> None:
    body = {"v": 1.0, "id": "t1", "task": "unit.add", "args": {"x": 1}, "sent_at": 2, "generation": 2.0}
    envelope = Envelope.from_body(json.dumps(body))
    assert (envelope.v, envelope.generation, envelope.sent_at) == (1, 2, 2.0)


def test_a_body_without_sent_at_runs_and_is_recorded_without_one_as_the_readme_table_says(mem: MemoryApp) -> None:
    _register(mem.app)
    body = {"v": 1, "id": "no-sent-at", "task": "unit.add", "args": {"x": 2, "y": 3}}
    mem.transport.send_batch("unit-default", [OutgoingMessage("0", json.dumps(body))])
    (message,) = mem.transport.receive("unit-default", 10, 0)
    assert isinstance(Executor(mem.app).execute(message, 3), Ack)
    record = mem.results.get("no-sent-at")
    assert record is not None and record.status is sqsq.Status.SUCCESS and record.sent_at is None
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `sent_at` |"))
    assert "optional to a worker" in row and "required by the published schema" in row
    assert "sent_at" in app_schema(mem.app)["envelope"]["required"]
