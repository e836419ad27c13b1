"""The ``sqsq`` click group: the global log-level option and the error handling every command shares.

Errors become one line on stderr and a named exit code (:mod:`sqsq.cli.output`), never a traceback. A reader that
closes stdout early (``sqsq result ID | head -1``) ends the command quietly with exit code 0: it took what it wanted.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NoReturn

import click

from sqsq.cli.output import EXIT_CONFIG, EXIT_OK, exit_code, fail
from sqsq.errors import SqsqError

LOG_LEVEL_KEY = "log_level"
"""Where the group leaves its ``--log-level`` in ``ctx.meta`` (``sqsq worker`` reconfigures logging from it)."""


class _Errors(click.Group):
    """Turns sqsq errors (and OSError) into one line on stderr and a named exit code, never a traceback.

    Commands listed in :attr:`lazy_commands` (name -> ``"module:attribute"``) are imported when first looked up,
    so running one command does not import the others (start-up time and memory of ``sqsq worker``).
    """

    lazy_commands: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            try:
                return super().invoke(ctx)
            finally:
                sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
        except BrokenPipeError:
            _stdout_closed()
        except SqsqError as exc:
            fail(str(exc), exit_code(exc))
        except OSError as exc:  # a file that cannot be written (template -o), a port that cannot be bound...
            fail(str(exc), EXIT_CONFIG)


def _stdout_closed() -> NoReturn:
    """Exit quietly after the reader closed stdout: point stdout at devnull (so the interpreter's last flush
    cannot fail again) and exit 0 (Python's documented idiom for SIGPIPE, :mod:`signal`'s note on it)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_OK)


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
