"""No secrets in logs or errors: secret types are refused at decoration; rejected values are never echoed."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, SecretBytes, SecretStr

import sqsq
from sqsq.errors import MessageDecodeError
from sqsq.message import Envelope
from sqsq.transport import OutgoingMessage
from sqsq.worker import Worker
from tests.unit.conftest import MemoryApp

SECRET = "hunter2-TOPSECRET-token"


class Credentials(BaseModel):
    user: str
    password: SecretStr


def test_a_secretstr_parameter_is_refused_at_decoration(mem: MemoryApp) -> None:
    with pytest.raises(TypeError, match=r"parameter token is a SecretStr/SecretBytes.*Secrets Manager"):
        @mem.app.task()
        def login(user: str, token: SecretStr) -> None:
            return None


def test_a_secret_nested_in_a_model_parameter_is_refused_at_decoration(mem: MemoryApp) -> None:
    with pytest.raises(TypeError, match=r"parameter creds\.password is a SecretStr"):
        @mem.app.task()
        def login(creds: Credentials, retries: int) -> None:
            return None
    with pytest.raises(TypeError, match=r"parameter password is a SecretStr"):
        @mem.app.task()
        def login_model(creds: Credentials) -> None:  # the single-model form
            return None


def test_secret_bytes_and_secret_return_values_are_refused_at_decoration(mem: MemoryApp) -> None:
    with pytest.raises(TypeError, match="parameter key is a SecretStr/SecretBytes"):
        @mem.app.task()
        def sign(key: SecretBytes) -> None:
            return None
    with pytest.raises(TypeError, match="its return value is a SecretStr/SecretBytes"):
        @mem.app.task()
        def mint() -> SecretStr:
            return SecretStr("x")


def test_a_rejected_value_is_not_echoed_at_send(mem: MemoryApp) -> None:
    @mem.app.task()
    def store(password: Annotated[str, Field(min_length=40)], pin: Annotated[int, Field(lt=0)]) -> None:
        return None

    with pytest.raises(sqsq.ValidationError) as err:
        sqsq.send(store, {"password": SECRET, "pin": 918273})
    text = str(err.value)
    assert "password: String should have at least 40 characters (got str)" in text
    assert "pin: Input should be less than 0 (got int)" in text
    assert SECRET not in text and "918273" not in text
    assert all("input" not in e for e in err.value.errors)


def test_a_rejected_value_is_not_in_the_worker_log_nor_the_stored_failure(
    mem: MemoryApp, caplog: pytest.LogCaptureFixture
) -> None:
    @mem.app.task()
    def store(password: Annotated[str, Field(min_length=40)]) -> None:
        return None

    # From another producer, who did not validate: the worker refuses it and records why.
    body = Envelope(id="leaky", task=store.name, args={"password": SECRET}).to_body()
    mem.transport.send_batch("unit-default", [OutgoingMessage("0", body)])
    with caplog.at_level(logging.DEBUG, logger="sqsq"):
        Worker(mem.app, burst=True, wait_time_seconds=0).run()
    record = mem.results.get("leaky")
    assert record is not None and record.error_type == "ValidationError"
    assert "password: String should have at least 40 characters" in (record.error_message or "")
    for stored in (record.error_message, record.traceback):
        assert stored is not None and SECRET not in stored
    assert "password" in caplog.text and SECRET not in caplog.text


def test_a_malformed_envelope_error_does_not_echo_its_fields() -> None:
    body = json.dumps({"v": 1, "id": "x", "task": "t", "args": [SECRET]})
    with pytest.raises(MessageDecodeError) as err:
        Envelope.from_body(body)
    assert "args" in str(err.value) and SECRET not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
