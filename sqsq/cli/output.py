"""What the CLI prints and how it exits: named exit codes, one-line errors, text that never fails to encode, JSON.

Exit codes: 0 ok; 1 the task failed (``send --wait``/``result``); 2 usage error (a bad option or flag value,
including ``sqsq send``'s message options: :class:`sqsq.errors.SendOptionError`); 3 configuration or missing
resource (queue, table, app), a file that cannot be read or written, or a missing optional dependency (the line
names the ``pip install "sqsq[...]"``, see :mod:`sqsq.extras`); 4 AWS error; 5 timed out waiting for a
result; 75 (``EX_TEMPFAIL``) a purge within 60 s of the last one (``sqsq dlq purge``): retry later.

Output never fails on text the terminal cannot encode (a lone surrogate in a dead-lettered task's arguments):
tables and plain lines escape it (``\\udcff``); JSON output is ASCII with ``\\u`` escapes, and numbers that are
not finite (NaN, Infinity; not JSON) are printed as ``null``.

Only stdlib, click and :mod:`sqsq.errors` are imported here: ``sqsq --help`` loads this module.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import click

from sqsq.errors import (
    AwsError,
    ConfigError,
    QueueNotFound,
    ResultsTableNotFound,
    ResultTimeout,
    SendOptionError,
    SqsqError,
    TaskFailed,
    TaskNotRegistered,
    ValidationError,
)

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AWS = 4
EXIT_TIMEOUT = 5
EXIT_PURGE_IN_PROGRESS = 75
"""sysexits' EX_TEMPFAIL: SQS allows one PurgeQueue per queue per 60 s; try again later."""


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    echo(f"error: {message}", err=True)
    sys.exit(code)


def printable(text: str, err: bool = False) -> str:
    """``text`` with what stdout (stderr) cannot encode escaped as ``\\x..``/``\\u....`` (lone surrogates...)."""
    stream = sys.stderr if err else sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: ASCII is safe everywhere
        return text.encode("ascii", "backslashreplace").decode("ascii")
    return text


def echo(text: str, err: bool = False) -> None:
    """``click.echo`` that never raises UnicodeEncodeError (see :func:`printable`)."""
    click.echo(printable(text, err), err=err)


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, ±Infinity) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Valid, ASCII-only JSON for scripts: non-finite numbers become null, other text is ``\\u`` escaped."""
    return json.dumps(finite_or_none(value), default=str, ensure_ascii=True, allow_nan=False)


def exit_code(exc: SqsqError) -> int:
    """The named exit code for a sqsq error (see the module docstring)."""
    if isinstance(exc, TaskFailed):
        return EXIT_TASK_FAILED
    if isinstance(exc, ResultTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, SendOptionError):  # a send's options are flags on the command line: a usage error, as click's
        return EXIT_USAGE
    if isinstance(exc, (QueueNotFound, ResultsTableNotFound, ConfigError, TaskNotRegistered, ValidationError)):
        return EXIT_CONFIG
    if isinstance(exc, AwsError):
        return EXIT_AWS
    return EXIT_CONFIG
