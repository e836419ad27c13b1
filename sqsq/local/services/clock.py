"""The local AWS's controllable clock: tests move time forward instead of waiting.

Endpoints::

    POST /_sqsq/clock   {"advance_seconds": N}   N >= 0; answers {"offset_seconds": ..., "now": ...}
    GET  /_sqsq/clock                            {"offset_seconds": ..., "now": epoch seconds}

The clock is real time plus an offset that only grows. It drives what waits on *scheduled* time: SQS message
delays (``DelaySeconds``, a queue's ``DelaySeconds``) and the local EventBridge Scheduler
(:mod:`sqsq.local.scheduler`). Visibility timeouts, long polls, retention and every timestamp moto reports keep real
time. An advance runs the listeners (the scheduler fires what became due) before it answers, so a test can read
the queue right after.

Patches (moto 5.2.5, see :attr:`ClockService.moto_version`): ``moto.sqs.models.Message.delay`` and
``Message.delayed`` read :func:`now`; :mod:`sqsq.local.services.sqs`'s receive scan compares ``delayed_until``
with :func:`now` as well.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from sqsq.local.services.base import ControlHandler, LocalService
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["ClockService", "add_listener", "advance", "now", "offset_seconds", "read_server_now"]

_lock = threading.Lock()
_offset_seconds = 0.0
_listeners: list[Callable[[], object]] = []
_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_clock_patched"


def now() -> float:
    """The local AWS's scheduled-time clock: epoch seconds, real time plus the advanced offset."""
    return time.time() + _offset_seconds


def read_server_now(endpoint_url: str, timeout_seconds: float = 2.0) -> float | None:
    """``GET /_sqsq/clock``'s ``now`` of the local AWS at ``endpoint_url`` (epoch seconds); None when it is not
    one (real AWS, another emulator) or does not answer. What the local scheduler fires by."""
    try:
        with urllib.request.urlopen(f"{endpoint_url.rstrip('/')}/_sqsq/clock", timeout=timeout_seconds) as r:
            answer = json.loads(r.read())
    except (OSError, ValueError):
        return None
    value = answer.get("now") if isinstance(answer, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def offset_seconds() -> float:
    """Seconds the clock has been advanced in total."""
    return _offset_seconds


def advance(seconds: float) -> float:
    """Run the listeners (in this thread), move the clock forward by ``seconds`` (>= 0), run them again.

    Returns:
        the new offset in seconds.

    Raises:
        ValueError: ``seconds`` is negative or not a finite number.
    """
    global _offset_seconds
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < float("inf"):
        raise ValueError(f"advance_seconds must be a number >= 0, got {seconds!r}")
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener()  # first at the old time: schedules created since the last look start from then
    with _lock:
        _offset_seconds += float(seconds)
    for listener in listeners:
        listener()
    return _offset_seconds


def add_listener(listener: Callable[[], object]) -> None:
    """Call ``listener()`` before and after every advance (the local scheduler fires what is due)."""
    with _lock:
        _listeners.append(listener)


class ClockService(LocalService):
    """The ``/_sqsq/clock`` endpoints, and SQS message delays on the controllable clock."""

    name: ClassVar[str] = "clock"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def endpoints(self) -> Mapping[tuple[str, str], ControlHandler]:
        """``GET /_sqsq/clock`` and ``POST /_sqsq/clock``."""
        return {("GET", "/_sqsq/clock"): self._get, ("POST", "/_sqsq/clock"): self._advance}

    def patch(self) -> None:
        """Make moto's SQS message delays read :func:`now`. Idempotent."""
        import moto.sqs.models as sqs_models

        with _patch_lock:
            message_cls: Any = sqs_models.Message
            if getattr(message_cls, _PATCHED_MARK, False):
                return

            def delay(self: Any, delay_seconds: int) -> None:
                self.delayed_until = now() * 1000.0 + int(delay_seconds) * 1000

            def delayed(self: Any) -> bool:
                return bool(now() * 1000.0 < self.delayed_until)

            message_cls.delay = delay
            message_cls.delayed = property(delayed)
            setattr(message_cls, _PATCHED_MARK, True)

    def _get(self, body: bytes) -> tuple[str, Any]:
        return "200 OK", {"offset_seconds": offset_seconds(), "now": now()}

    def _advance(self, body: bytes) -> tuple[str, Any]:
        import json

        try:
            payload = json.loads(body or b"{}")
            advance(payload["advance_seconds"])
        except (ValueError, KeyError, TypeError) as exc:
            return "400 Bad Request", {"error": f'POST /_sqsq/clock takes {{"advance_seconds": N}} with N >= 0 ({exc})'}
        return "200 OK", {"offset_seconds": offset_seconds(), "now": now()}
