"""Signed envelopes: the key spec, sign/verify, rotation, and secrets kept out of reprs and errors."""

from __future__ import annotations

import base64
import json
import logging

import pytest

import sqsq
from sqsq.app import App
from sqsq.config import load_settings
from sqsq.errors import ConfigError, SignatureInvalid, SignatureKeyUnknown, SignatureMissing
from sqsq.message import Envelope
from sqsq.results.memory import MemoryResults
from sqsq.signing import KeyRing
from sqsq.transport.memory import MemoryTransport

SECRET_1 = base64.b64encode(b"one-secret-of-thirty-two-bytes!!").decode()
SECRET_2 = base64.b64encode(b"two-secret-of-thirty-two-bytes!!").decode()
K1 = f"k1:{SECRET_1}"
K2 = f"k2:{SECRET_2}"


def _envelope() -> Envelope:
    return Envelope(id="t-1", task="tests.add", args={"x": 1, "y": [1.5, "é", None]}, sent_at=1764470000.25)


def test_signed_envelope_verifies_after_a_round_trip_through_the_body() -> None:
    ring = KeyRing.parse(K1)
    signed = ring.sign(_envelope())
    assert signed.kid == "k1" and signed.sig
    ring.verify(Envelope.from_body(signed.to_body()))


@pytest.mark.parametrize(
    "change",
    [{"id": "victim"}, {"task": "tests.other"}, {"args": {"x": 666, "y": [1.5, "é", None]}}, {"generation": 1},
     {"sent_at": 1764470000.26}],
)
def test_changing_any_signed_field_fails_verification(change: dict[str, object]) -> None:
    ring = KeyRing.parse(K1)
    tampered = ring.sign(_envelope()).model_copy(update=change)
    with pytest.raises(SignatureInvalid):
        ring.verify(Envelope.from_body(tampered.to_body()))


def test_a_signature_cannot_be_moved_to_another_key_id() -> None:
    ring = KeyRing.parse(f"{K1},{K2}")
    moved = ring.sign(_envelope()).model_copy(update={"kid": "k2"})
    with pytest.raises(SignatureInvalid):
        ring.verify(moved)


def test_unsigned_envelope_is_signature_missing() -> None:
    with pytest.raises(SignatureMissing):
        KeyRing.parse(K1).verify(_envelope())


def test_envelope_signed_with_an_unlisted_key_is_signature_key_unknown() -> None:
    signed = KeyRing.parse(K2).sign(_envelope())
    with pytest.raises(SignatureKeyUnknown):
        KeyRing.parse(K1).verify(signed)


def test_rotation_first_key_signs_and_every_listed_key_verifies() -> None:
    old = KeyRing.parse(K1).sign(_envelope())
    rotated = KeyRing.parse(f"{K2},{K1}")
    rotated.verify(old)  # in flight before the rotation: still verifies
    new = rotated.sign(_envelope())
    assert new.kid == "k2"
    KeyRing.parse(f"{K2},{K1}").verify(new)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (SECRET_1, "has no ':'"),
        (f"bad id!:{SECRET_1}", "key id must be"),
        ("k1:" + SECRET_1[:-3] + "*!*", "not valid base64"),
        ("k1:" + base64.b64encode(b"short-secret-value").decode(), "use at least 32"),
        (f"{K1},{K1}", "listed twice"),
        (" , ", "no key given"),
    ],
)
def test_invalid_key_spec_is_a_config_error_that_never_echoes_the_secret(spec: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({"SQSQ_SIGNING_KEYS": spec})
    text = str(err.value)
    assert says in text
    for secret in (SECRET_1, SECRET_1[:-3], base64.b64encode(b"short-secret-value").decode()):
        assert secret not in text and secret not in repr(err.value.__cause__ or "")


def test_settings_app_and_keyring_reprs_mask_the_secrets() -> None:
    settings = load_settings({"SQSQ_SIGNING_KEYS": f"{K2},{K1}"})
    ring = settings.signing_keyring()
    assert ring is not None
    for text in (repr(settings), str(settings), repr(ring), repr(ring._keys), json.dumps(settings.model_dump(mode="json"))):
        assert SECRET_1 not in text and SECRET_2 not in text
        assert "one-secret" not in text
    assert repr(ring) == "KeyRing(signs_with='k2', verifies=['k2', 'k1'])"


def test_only_one_source_of_signing_keys_may_be_set() -> None:
    with pytest.raises(ConfigError, match="set only one of"):
        load_settings({"SQSQ_SIGNING_KEYS": K1, "SQSQ_SIGNING_KEYS_PARAMETER": "/shop/keys"})


def _memory_app(**kw: object) -> tuple[App, MemoryTransport]:
    transport = MemoryTransport()
    transport.create_queue("unit-default")
    app = App("unit", transport=transport, results=MemoryResults(), endpoint_url="http://unused.invalid", **kw)
    return app, transport


def test_app_signing_keys_sign_every_send_send_many_and_batch() -> None:
    app, transport = _memory_app(signing_keys=f"{K2},{K1}")

    @app.task()
    def add(x: int, y: int) -> int:
        return x + y

    sqsq.send(add, {"x": 1, "y": 2})
    sqsq.send_many(add, [{"x": 3, "y": 4}, {"x": 5, "y": 6}])
    with app.batch():
        sqsq.send(add, {"x": 7, "y": 8})
    bodies = [m.body for m in transport.receive("unit-default", 10, 1)]
    assert len(bodies) == 4
    ring = KeyRing.parse(K1 + "," + K2)
    for body in bodies:
        envelope = Envelope.from_body(body)
        assert envelope.kid == "k2"
        ring.verify(envelope)


def test_without_signing_keys_bodies_are_unsigned_as_before() -> None:
    app, transport = _memory_app()

    @app.task()
    def add(x: int, y: int) -> int:
        return x + y

    sqsq.send(add, {"x": 1, "y": 2})
    (m,) = transport.receive("unit-default", 1, 1)
    assert set(json.loads(m.body)) == {"v", "id", "task", "args", "sent_at", "generation"}


def test_keys_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = _memory_app(signing_keys=K1)

    @app.task()
    def add(x: int, y: int) -> int:
        return x + y

    sqsq.send(add, {"x": 1, "y": 2})
    logging.getLogger("sqsq").info("settings: %r keys: %r", app.settings, app.keyring)
    assert "settings:" in caplog.text
    assert SECRET_1 not in caplog.text and "one-secret" not in caplog.text
