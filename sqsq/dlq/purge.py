"""PurgeQueue at most once per queue per 60 s: a small JSON ledger of sqsq's own purges, and SQS's answer."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

from sqsq import limits
from sqsq.errors import AwsError, PurgeInProgress
from sqsq.transport import Transport

log = logging.getLogger("sqsq.dlq")

_PURGE_IN_PROGRESS_CODES = {"AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"}


class PurgeLedger:
    """When sqsq last purged each queue, in a small JSON file (``{queue_url: epoch_seconds}``).

    Entries older than 60 s are dropped on every write. An unreadable file counts as empty.

    Args:
        path: the JSON file (created with its directory on first write).
    """

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> PurgeLedger:
        """The ledger at ``$XDG_CACHE_HOME/sqsq/purges.json`` (default ``~/.cache/sqsq/purges.json``)."""
        env = os.environ if environ is None else environ
        base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
        return cls(base / "sqsq" / "purges.json")

    def _read(self) -> dict[str, float]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}

    def last_purge_at(self, queue_url: str) -> float | None:
        """Epoch seconds of the last recorded purge of ``queue_url``, or ``None``."""
        return self._read().get(queue_url)

    def record(self, queue_url: str, at: float) -> None:
        """Remember a purge of ``queue_url`` at ``at`` (epoch seconds). A write failure is logged, not raised."""
        data = {k: v for k, v in self._read().items() if at - v < limits.SQS_PURGE_INTERVAL_SECONDS}
        data[queue_url] = at
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("cannot record the purge in %s (%s); the 60 s rule is then left to SQS", self.path, exc)


def purge_queue(transport: Transport, queue_name: str, ledger: PurgeLedger | None = None) -> None:
    """PurgeQueue on ``queue_name``, at most once per 60 s (see :mod:`sqsq.dlq`).

    Args:
        transport: the app's transport.
        queue_name: the physical queue to purge.
        ledger: where purges are remembered; default :meth:`PurgeLedger.default`.

    Raises:
        PurgeInProgress: this queue was purged less than 60 s ago (by sqsq here, or per SQS).
        AwsError: any other failure.
    """
    ledger = ledger or PurgeLedger.default()
    url = transport.queue_info(queue_name).url
    now = time.time()
    last = ledger.last_purge_at(url)
    if last is not None and now - last < limits.SQS_PURGE_INTERVAL_SECONDS:
        raise PurgeInProgress(queue_name, _retry_after(last, now))
    try:
        transport.purge(queue_name)
    except AwsError as exc:
        if exc.code in _PURGE_IN_PROGRESS_CODES:
            raise PurgeInProgress(
                queue_name,
                _retry_after(last, now) if last is not None else limits.SQS_PURGE_INTERVAL_SECONDS,
            ) from exc
        raise
    ledger.record(url, now)


def _retry_after(last: float, now: float) -> int:
    return max(1, int(limits.SQS_PURGE_INTERVAL_SECONDS - (now - last) + 0.999))
