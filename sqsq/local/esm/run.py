"""Running local event source mappings: for functions, for an app, or for a template, until stopped or empty."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqsq import limits
from sqsq.app import App
from sqsq.errors import AwsError
from sqsq.local.esm.functions import LocalFunction, functions_from_app, functions_from_template
from sqsq.local.esm.mapping import EsmStats, LocalEventSourceMapping
from sqsq.template import TemplateOptions

__all__ = ["STOP_WHEN_EMPTY_WAIT_SECONDS", "run_functions", "run_local_esm"]

log = logging.getLogger("sqsq.local.esm")

STOP_WHEN_EMPTY_WAIT_SECONDS = 1
"""Long-poll wait while ``stop_when_empty`` is on, so the run notices an empty queue quickly."""
_EMPTY_CHECKS_TO_STOP = 2


def run_functions(
    functions: Sequence[LocalFunction],
    *,
    stop_when_empty: bool = False,
    timeout_seconds: float | None = None,
    wait_time_seconds: int | None = None,
    stop: threading.Event | None = None,
) -> EsmStats:
    """Run local event source mappings for ``functions`` until stopped.

    Args:
        functions: from :func:`functions_from_template` or :func:`functions_from_app`.
        stop_when_empty: return once every source queue has nothing visible, in flight or delayed and no
            invocation is running (messages waiting out a visibility timeout count as in flight).
        timeout_seconds: return after this many seconds at the latest (None: no limit).
        wait_time_seconds: long-poll wait; default 20, or 1 with ``stop_when_empty`` or ``timeout_seconds``.
        stop: set it to stop from another thread (e.g. on Ctrl-C).

    Returns:
        The counters of the run.
    """
    stop = stop or threading.Event()
    stats = EsmStats()
    if wait_time_seconds is not None:
        wait = wait_time_seconds
    elif stop_when_empty or timeout_seconds is not None:
        wait = STOP_WHEN_EMPTY_WAIT_SECONDS  # notice the end quickly
    else:
        wait = limits.SQS_MAX_WAIT_TIME_SECONDS
    mappings = [
        LocalEventSourceMapping(f, ev, stats, wait) for f in functions for ev in f.spec.events if ev.enabled
    ]
    threads = _start_pollers(mappings, stop)
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    empty_checks = 0
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.2)
            if not stop_when_empty:
                continue
            if _all_empty(mappings):
                empty_checks += 1
                if empty_checks >= _EMPTY_CHECKS_TO_STOP:
                    break
            else:
                empty_checks = 0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=limits.SQS_MAX_WAIT_TIME_SECONDS + 5)
        for m in mappings:
            m.release_unstarted()
    return stats


def _start_pollers(mappings: Sequence[LocalEventSourceMapping], stop: threading.Event) -> list[threading.Thread]:
    """One thread per allowed concurrent invocation of each mapping, polling until ``stop`` is set."""
    threads = []
    for m in mappings:
        log.info(
            "local event source mapping: %s <- %s (BatchSize %d, window %d s, concurrency %d, "
            "ReportBatchItemFailures %s, timeout %d s)",
            m.function.spec.resource_id, m.event.queue_name, m.event.batch_size, m.event.batching_window_seconds,
            m.concurrency, m.event.report_batch_item_failures, m.function.spec.timeout_seconds,
        )
        for i in range(m.concurrency):
            t = threading.Thread(target=m.run, args=(stop,), name=f"sqsq-esm-{m.event.queue_name}-{i}", daemon=True)
            t.start()
            threads.append(t)
    return threads


def _all_empty(mappings: Sequence[LocalEventSourceMapping]) -> bool:
    if any(m.in_flight for m in mappings):
        return False
    for m in mappings:
        try:
            depth = m.function.transport.depth(m.event.queue_name)
        except AwsError:
            return False
        if depth.visible or depth.in_flight or depth.delayed:
            return False
    return not any(m.in_flight for m in mappings)


def run_local_esm(
    target: App | str | Path | Mapping[str, Any],
    endpoint_url: str | None = None,
    *,
    root: Path | None = None,
    stop_when_empty: bool = True,
    parameters: Mapping[str, str] | None = None,
    timeout_seconds: float | None = None,
    wait_time_seconds: int | None = None,
    options: TemplateOptions | None = None,
    stop: threading.Event | None = None,
) -> EsmStats:
    """Run an app's (or a template's) SQS-triggered Lambda functions locally against ``endpoint_url``.

    Args:
        target: an :class:`App` (its queues as currently configured, one function as ``sqsq template`` renders it,
            handler ``sqsq.lambda_handler(app)``), or the path of a SAM template (its functions and handlers,
            names resolved with ``parameters``), or such a template as a dict.
        endpoint_url: the local AWS endpoint; default: the app's configured endpoint / ``AWS_ENDPOINT_URL``.
        root: folder the template's handler paths are relative to; default the template file's folder (or the
            current directory for a dict).
        stop_when_empty: return once the source queues are empty and no invocation runs.
        parameters: template parameter values (e.g. ``{"Stage": "dev"}``); template targets only.
        timeout_seconds: return after this many seconds at the latest.
        wait_time_seconds: long-poll wait (default 1 s with ``stop_when_empty``, else 20 s).
        options: batch size, window and concurrency for an App target (default: :class:`TemplateOptions`).
        stop: an event to stop the run from another thread.

    Returns:
        :class:`EsmStats` (invocations, records received/deleted/failed, batch errors and timeouts).

    Raises:
        ConfigError: the template's handlers cannot be imported.
        AwsError: a source queue cannot be read.

    Example:
        >>> from sqsq.demo.app import app
        >>> app.configure(endpoint_url="http://127.0.0.1:4566")
        >>> stats = run_local_esm(app)  # doctest: +SKIP
        >>> stats.records_deleted
    """
    if isinstance(target, App):
        if endpoint_url is not None and endpoint_url != target.settings.endpoint_url:
            target.configure(endpoint_url=endpoint_url)
        functions = functions_from_app(target, options)
    else:
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        if root is None and isinstance(target, (str, Path)):
            root = Path(target).resolve().parent
        functions = functions_from_template(target, endpoint, parameters, root)
    return run_functions(
        functions,
        stop_when_empty=stop_when_empty,
        timeout_seconds=timeout_seconds,
        wait_time_seconds=wait_time_seconds,
        stop=stop,
    )
