"""The ``sqsq`` click group: the global log-level option and the error handling every command shares.

Errors become one line on stderr and a named exit code (:mod:`sqsq.cli.output`), never a traceback.
"""

from __future__ import annotations

from typing import Any

import click

from sqsq.cli.output import EXIT_CONFIG, exit_code, fail
from sqsq.errors import SqsqError

LOG_LEVEL_KEY = "log_level"
"""Where the group leaves its ``--log-level`` in ``ctx.meta`` (``sqsq worker`` reconfigures logging from it)."""


class _Errors(click.Group):
    """Turns sqsq errors (and OSError) into one line on stderr and a named exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SqsqError as exc:
            fail(str(exc), exit_code(exc))
        except OSError as exc:  # a file that cannot be written (template -o), a port that cannot be bound...
            fail(str(exc), EXIT_CONFIG)


@click.group(cls=_Errors)
@click.version_option(package_name="sqsq", prog_name="sqsq")
@click.option("--log-level", "--loglevel", "log_level", default="INFO", show_default=True,
              help="Python logging level (DEBUG, INFO, WARNING...).")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """sqsq: typed tasks on Amazon SQS, results in DynamoDB."""
    from sqsq.logs import configure_logging

    ctx.meta[LOG_LEVEL_KEY] = log_level
    configure_logging(log_level)
