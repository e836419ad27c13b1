"""What the worker needs of the pools without loading them: the lost-attempt error and the app's import spec.

Kept apart from :mod:`sqsq.pools.process` (pebble, multiprocessing) and :mod:`sqsq.pools.aio` (asyncio) so that a
worker that uses neither pool does not pay for importing them at start-up.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING

from sqsq.errors import AttemptLost

if TYPE_CHECKING:
    from sqsq.app import App


def death_reason(exit_code: int | None) -> str:
    """``"pool child died (SIGKILL)"``, ``"pool child died (exit code 3)"``: why a child ended, in one line.

    Args:
        exit_code: the child's exit status; negative = killed by that signal number; None = unknown.
    """
    if exit_code is None:
        return "pool child died (exit status unknown)"
    if exit_code < 0:
        try:
            return f"pool child died ({signal.Signals(-exit_code).name})"
        except ValueError:
            return f"pool child died (signal {-exit_code})"
    return f"pool child died (exit code {exit_code})"


class ChildProcessDied(AttemptLost):
    """A pool process died while running a task (or the pool was closed): the attempt is lost, not failed by the
    task (see :class:`sqsq.errors.AttemptLost`).

    Attributes:
        exit_code: the dead child's exit status (negative: the signal that killed it); None when no child died
            (the pool was closed) or it is unknown.
        reason: one line saying why, e.g. ``"pool child died (SIGKILL)"`` (see :func:`death_reason`).
    """

    def __init__(self, message: str, *, exit_code: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.reason = reason or message


def app_spec_of(app: App) -> str | None:
    """The ``module:attribute`` spec a fresh process can import ``app`` from, found via its tasks' modules.

    Returns:
        e.g. ``"tests.apps.shop:app"``, or None when no importable module holds the app.
    """
    modules = {t.fn.__module__ for t in app.tasks.values()}
    for name in sorted(modules):
        module = sys.modules.get(name)
        if module is None or name == "__main__":
            continue
        for attr, value in vars(module).items():
            if value is app:
                return f"{name}:{attr}"
    return None
