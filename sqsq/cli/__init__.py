"""The ``sqsq`` command (click). APP is given as ``module:attribute`` (e.g. ``demo.app:app``).

One module per command group: :mod:`~sqsq.cli.group` (the group, its log level, error handling),
:mod:`~sqsq.cli.worker`, :mod:`~sqsq.cli.tasks` (send, result), :mod:`~sqsq.cli.queues`, :mod:`~sqsq.cli.dlq`
(with :mod:`~sqsq.cli.dlq_render`), :mod:`~sqsq.cli.template`, :mod:`~sqsq.cli.schema`, :mod:`~sqsq.cli.local` (local, provision,
lambda-local), :mod:`~sqsq.cli.schedules` (schedules, cancel: issue 12), :mod:`~sqsq.cli.dashboard` and
:mod:`~sqsq.cli.top` (monitoring); shared helpers in :mod:`~sqsq.cli.output` (exit codes, printing) and
:mod:`~sqsq.cli.options`.
Exit codes: see :mod:`sqsq.cli.output`.

Start-up: ``sqsq --help`` imports click and these modules only. Each command imports what it needs when it runs
(the app layer, boto3 through it, rich, PyYAML, the template renderer, the local AWS), so keep module-level
imports here to the standard library, click, :mod:`sqsq.errors` and :mod:`sqsq.extras`.
"""

from __future__ import annotations

from sqsq.cli import dashboard, dlq, local, queues, schedules, schema, tasks, template, top, worker
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

for _command in (local.local, local.provision, worker.worker, tasks.send, tasks.result, queues.queues, dlq.dlq,
                 template.template, local.lambda_local, schema.schema_command,
                 schedules.schedules):  # issue 12
    main.add_command(_command)
main.add_command(schedules.cancel)  # issue 12's send path
main.add_command(dashboard.dashboard)  # monitoring (issue 15)
main.add_command(top.top)

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
