"""Signed envelopes: HMAC-SHA256 beside the envelope, keys from :class:`sqsq.config.Settings`.

Keys
    ``SQSQ_SIGNING_KEYS`` (or ``App(..., signing_keys=...)``) is a comma-separated list of ``keyid:base64secret``,
    e.g. ``"k2:9mV0...=,k1:Qk3f...="``. The *first* key signs every message this process sends; *every* listed key
    verifies, so keys rotate without a flag day (see the README, "Threat model and signing"). A key id is 1-64 of
    ``A-Z a-z 0-9 . _ -``; a secret is standard base64 of at least :data:`MIN_SECRET_BYTES` random bytes. Make one
    with ``python -c "import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())"``.
    Secrets never appear in a repr, a log line or an error message; errors name the key id or the entry's position.

What is signed
    HMAC-SHA256 (RFC 2104, :mod:`hmac`) of :func:`canonical_bytes`: the domain tag ``sqsq-envelope-v1`` and a
    newline, then compact JSON with sorted keys and ASCII escapes of every envelope field that decides what runs
    and where its result goes: ``v``, ``id``, ``task``, ``args``, ``sent_at``, ``generation`` and ``kid`` (so a
    signature cannot be moved to another key id). The envelope carries ``kid`` and ``sig`` (base64 of the 32-byte
    MAC). Fields a reader ignores (unknown keys) and SQS's own attributes (MessageId, receive count) are not
    signed: they decide nothing. Verification compares with :func:`hmac.compare_digest` (constant time).

What signing does not do
    It proves a message was built by a holder of a key, not that it is new: a signed message copied verbatim
    verifies again (a replay runs the same task with the same arguments under the same id, whose forward-only
    result record then refuses to move back). It does not encrypt: the body stays readable (SQS encrypts at rest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqsq.errors import ConfigError, SignatureInvalid, SignatureKeyUnknown, SignatureMissing
from sqsq.message import Envelope

MIN_SECRET_BYTES = 32
"""Shortest secret accepted: 32 bytes, HMAC-SHA256's output size (RFC 2104 section 3 advises at least that)."""
DOMAIN = b"sqsq-envelope-v1\n"
"""Prefix of every signed byte string, so a sqsq signature means nothing in any other protocol."""
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class SigningKey:
    """One key: its id (travels in the envelope's ``kid``) and its secret (never in a repr)."""

    key_id: str
    secret: bytes = field(repr=False)


class KeyRing:
    """The configured keys: the first signs, all verify.

    Args:
        keys: at least one key, the signing key first; key ids unique.

    Raises:
        ConfigError: no key, or a key id used twice.

    Example:
        >>> ring = KeyRing.parse("k1:" + base64.b64encode(b"x" * 32).decode())
        >>> ring.verify(ring.sign(Envelope(id="t1", task="add", args={"x": 1})))
    """

    def __init__(self, keys: Sequence[SigningKey]):
        if not keys:
            raise ConfigError("signing keys: no key given; write keyid:base64secret[,keyid:base64secret...]")
        ids = [k.key_id for k in keys]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ConfigError(f"signing keys: key id(s) {', '.join(duplicated)} listed twice; give each key its own id")
        self._keys = tuple(keys)
        self._by_id = {k.key_id: k for k in keys}

    def __repr__(self) -> str:
        return f"KeyRing(signs_with={self.signing_key_id!r}, verifies={list(self.key_ids)!r})"

    @property
    def signing_key_id(self) -> str:
        """The id of the key that signs (the first one listed)."""
        return self._keys[0].key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id that verifies, in the order given."""
        return tuple(k.key_id for k in self._keys)

    @classmethod
    def parse(cls, spec: str, *, source: str = "SQSQ_SIGNING_KEYS") -> KeyRing:
        """Parse ``"keyid:base64secret,keyid:base64secret"`` (whitespace around entries is ignored).

        Args:
            spec: the key list.
            source: where it came from, named in errors (``"SQSQ_SIGNING_KEYS"``, ``"SSM parameter /x"``).

        Raises:
            ConfigError: an empty list, an entry without ``:``, a malformed key id, a secret that is not base64 or
                shorter than :data:`MIN_SECRET_BYTES`, or a duplicate id. The message never contains a secret.
        """
        keys = []
        for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            where = f"{source}: entry {position}"
            if not sep:
                raise ConfigError(f"{where} has no ':'; write each key as keyid:base64secret (the secret is not shown)")
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigError(f"{where}: the key id must be 1-64 of A-Z a-z 0-9 . _ - (the secret is not shown)")
            try:
                secret = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ConfigError(f"{where} (key id {key_id!r}): the secret is not valid base64") from None
            if len(secret) < MIN_SECRET_BYTES:
                raise ConfigError(
                    f"{where} (key id {key_id!r}): the secret is {len(secret)} bytes; use at least "
                    f"{MIN_SECRET_BYTES} random bytes, base64-encoded"
                )
            keys.append(SigningKey(key_id, secret))
        if not keys:
            raise ConfigError(f"{source}: no key given; write keyid:base64secret[,keyid:base64secret...]")
        return cls(keys)

    def sign(self, envelope: Envelope) -> Envelope:
        """A copy of ``envelope`` with ``kid`` = the signing key's id and ``sig`` over :func:`canonical_bytes`."""
        key = self._keys[0]
        unsigned = envelope.model_copy(update={"kid": key.key_id, "sig": None})
        return unsigned.model_copy(update={"sig": _mac(key, unsigned)})

    def verify(self, envelope: Envelope) -> None:
        """Check ``envelope``'s signature against the key its ``kid`` names.

        Raises:
            SignatureMissing: no ``kid`` or no ``sig``.
            SignatureKeyUnknown: ``kid`` names none of the configured keys (e.g. a retired key).
            SignatureInvalid: the signature does not match the envelope's fields.
        """
        if envelope.kid is None or envelope.sig is None:
            raise SignatureMissing(
                f"message claiming task {envelope.task!r} (id {envelope.id}) is not signed, and signing is on "
                "(SQSQ_SIGNING_KEYS); it was not run. Send it with an app that has the signing keys"
            )
        key = self._by_id.get(envelope.kid)
        if key is None:
            raise SignatureKeyUnknown(
                f"message claiming task {envelope.task!r} (id {envelope.id}) is signed with key id "
                f"{envelope.kid!r:.70}, which is not among this consumer's keys {list(self.key_ids)}; it was not run. "
                "If that key was retired too early, list it again in SQSQ_SIGNING_KEYS and redrive"
            )
        try:
            expected = _mac(key, envelope)
        except (ValueError, RecursionError):  # arguments nested too deeply to re-encode: nothing sqsq signed
            expected = ""
        if not hmac.compare_digest(expected.encode(), envelope.sig.encode("utf-8", "surrogatepass")):
            raise SignatureInvalid(
                f"message claiming task {envelope.task!r} (id {envelope.id}) has a signature that does not match "
                f"its contents under key {key.key_id!r} (tampered with or forged); it was not run"
            )


def periodic_firing(envelope: Envelope) -> bool:
    """True for a periodic task's firing: ``periodic`` set and the id is ``"<periodic>:<suffix>"``."""
    periodic = envelope.periodic
    return periodic is not None and envelope.id.startswith(periodic + ":") and len(envelope.id) > len(periodic) + 1


def canonical_bytes(envelope: Envelope) -> bytes:
    """The bytes a signature covers: :data:`DOMAIN` + sorted, compact, ASCII-escaped JSON of the signed fields.

    A periodic task's firing (:func:`periodic_firing`; issue 12) is signed once, when the schedule is rendered,
    before EventBridge Scheduler fills in the per-firing part of its id: the signature covers ``id`` = the fixed
    ``periodic`` id and no ``sent_at`` (the message carries none). The per-firing suffix is not signed, so a holder
    of one signed firing can make more firings of that same task with those same arguments under new ids, which
    is what a replay already allows; it cannot change what runs.
    """
    if periodic_firing(envelope):
        fields = envelope.model_dump(mode="json", include={"v", "task", "args", "generation", "kid"})
        fields["id"] = envelope.periodic
    else:
        fields = envelope.model_dump(mode="json", include={"v", "id", "task", "args", "sent_at", "generation", "kid"})
    # A periodic firing carries no flow, so one added to it fails verification.
    if envelope.flow is not None:  # issue 13: what runs next is signed; a body without flow signs as before
        fields["flow"] = envelope.flow.model_dump(mode="json")
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return DOMAIN + text.encode("ascii")


def _mac(key: SigningKey, envelope: Envelope) -> str:
    return base64.b64encode(hmac.new(key.secret, canonical_bytes(envelope), hashlib.sha256).digest()).decode("ascii")
