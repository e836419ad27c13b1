"""The ``sqsq`` command (click). APP is given as ``module:attribute`` (e.g. ``demo.app:app``).

One module per command group: :mod:`~sqsq.cli.group` (the group, its log level, error handling),
:mod:`~sqsq.cli.worker`, :mod:`~sqsq.cli.tasks` (send, result), :mod:`~sqsq.cli.queues`, :mod:`~sqsq.cli.dlq`
(with :mod:`~sqsq.cli.dlq_render`), :mod:`~sqsq.cli.template`, :mod:`~sqsq.cli.schema`, :mod:`~sqsq.cli.local` (local, provision,
lambda-local), :mod:`~sqsq.cli.schedules` (schedules, cancel: issue 12), :mod:`~sqsq.cli.dashboard` and
:mod:`~sqsq.cli.top` (monitoring); shared helpers in :mod:`~sqsq.cli.output` (exit codes, printing) and
:mod:`~sqsq.cli.options`.
Exit codes: see :mod:`sqsq.cli.output`.

Start-up: a command's module is imported when the command is looked up (``sqsq worker`` imports
:mod:`sqsq.cli.worker` and none of the others; ``sqsq --help`` imports them all, to list them). Each command
imports what it needs when it runs (the app layer, boto3 through it, rich, PyYAML, the template renderer, the
local AWS), so keep module-level imports in these modules to the standard library, click, :mod:`sqsq.errors` and
:mod:`sqsq.extras`.
"""

from __future__ import annotations

from sqsq.cli.group import main
from sqsq.cli.options import load_app
from sqsq.cli.output import (
    EXIT_AWS,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PURGE_IN_PROGRESS,
    EXIT_TASK_FAILED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)

main.lazy_commands.update({  # command name -> "module:attribute", imported on first lookup
    "local": "sqsq.cli.local:local", "provision": "sqsq.cli.local:provision", "worker": "sqsq.cli.worker:worker",
    "send": "sqsq.cli.tasks:send", "result": "sqsq.cli.tasks:result", "queues": "sqsq.cli.queues:queues",
    "dlq": "sqsq.cli.dlq:dlq", "template": "sqsq.cli.template:template",
    "lambda-local": "sqsq.cli.local:lambda_local", "schema": "sqsq.cli.schema:schema_command",
    "schedules": "sqsq.cli.schedules:schedules", "cancel": "sqsq.cli.schedules:cancel",  # issue 12
    "dashboard": "sqsq.cli.dashboard:dashboard", "top": "sqsq.cli.top:top",  # monitoring (issue 15)
})

__all__ = [
    "EXIT_AWS",
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_PURGE_IN_PROGRESS",
    "EXIT_TASK_FAILED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "load_app",
    "main",
]
