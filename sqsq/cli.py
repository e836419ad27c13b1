"""The ``sqsq`` command (click). APP is given as ``module:attribute`` (e.g. ``demo.app:app``).

Exit codes: 0 ok; 1 the task failed (``send --wait``/``result``); 2 usage error; 3 configuration or missing
resource (queue, table, app), a file that cannot be read or written, or a missing optional dependency (the line
names the ``pip install "sqsq[...]"``, see :mod:`sqsq.extras`); 4 AWS error; 5 timed out waiting for a
result; 75 (``EX_TEMPFAIL``) a purge within 60 s of the last one (``sqsq dlq purge``): retry later.

Output never fails on text the terminal cannot encode (a lone surrogate in a dead-lettered task's arguments):
tables and plain lines escape it (``\\udcff``); JSON output is ASCII with ``\\u`` escapes, and numbers that are
not finite (NaN, Infinity; not JSON) are printed as ``null``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any, NoReturn

import click

from sqsq.app import App, AsyncResult, import_app
from sqsq.errors import (
    AwsError,
    ConfigError,
    QueueNotFound,
    ResultsTableNotFound,
    ResultTimeout,
    SqsqError,
    TaskFailed,
    TaskNotRegistered,
    ValidationError,
)
from sqsq.extras import require
from sqsq.results import Status

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AWS = 4
EXIT_TIMEOUT = 5
EXIT_PURGE_IN_PROGRESS = 75
"""sysexits' EX_TEMPFAIL: SQS allows one PurgeQueue per queue per 60 s; try again later."""


def _fail(message: str, code: int) -> NoReturn:
    _echo(f"error: {message}", err=True)
    sys.exit(code)


def _printable(text: str, err: bool = False) -> str:
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


def _echo(text: str, err: bool = False) -> None:
    """``click.echo`` that never raises UnicodeEncodeError (see :func:`_printable`)."""
    click.echo(_printable(text, err), err=err)


def _finite_or_none(value: Any) -> Any:
    """``value`` with every float that is not finite (NaN, ±Infinity) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def _json(value: Any) -> str:
    """Valid, ASCII-only JSON for scripts: non-finite numbers become null, other text is ``\\u`` escaped."""
    return json.dumps(_finite_or_none(value), default=str, ensure_ascii=True, allow_nan=False)


class _Finite(click.FloatRange):
    """A finite number >= ``at_least`` (seconds, a rate): click's FloatRange lets NaN and infinity through."""

    def __init__(self, at_least: float = 0.0) -> None:
        super().__init__(min=at_least)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def _exit_code(exc: SqsqError) -> int:
    if isinstance(exc, TaskFailed):
        return EXIT_TASK_FAILED
    if isinstance(exc, ResultTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, (QueueNotFound, ResultsTableNotFound, ConfigError, TaskNotRegistered, ValidationError)):
        return EXIT_CONFIG
    if isinstance(exc, AwsError):
        return EXIT_AWS
    return EXIT_CONFIG


def load_app(spec: str) -> App:
    """The App named by an ``APP`` argument (``module:attribute``); see :func:`sqsq.app.import_app`.

    Raises:
        ConfigError: malformed spec, module not importable, or the attribute is not an App.
    """
    return import_app(spec)


class _Errors(click.Group):
    """Turns sqsq errors (and OSError) into one line on stderr and a named exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SqsqError as exc:
            _fail(str(exc), _exit_code(exc))
        except OSError as exc:  # a file that cannot be written (template -o), a port that cannot be bound...
            _fail(str(exc), EXIT_CONFIG)


@click.group(cls=_Errors)
@click.version_option(package_name="sqsq", prog_name="sqsq")
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def main(log_level: str) -> None:
    """sqsq: typed tasks on Amazon SQS, results in DynamoDB."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)


@main.command()
@click.argument("app_spec", metavar="APP")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback only by default).")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the local AWS endpoint; 0 picks a free one.")
@click.option("--template", "template_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Provision from this SAM template (e.g. template.yaml) as a CloudFormation stack instead.")
@click.option("--stage", default=None, help="With --template: the Stage parameter (resources <app>-<Stage>-...).")
@click.option("--run-lambdas", is_flag=True,
              help="With --template: also run its functions here (local event source mapping, see lambda-local).")
def local(
    app_spec: str, host: str, port: int, template_path: str | None, stage: str | None, run_lambdas: bool
) -> None:
    """Start the embedded local AWS (moto server) and provision APP's queues and results table.

    With --template, the resources are exactly the template's (deployed with CloudFormation on the local AWS).
    Runs in the foreground until interrupted (Ctrl-C).
    """
    feature, needs = "sqsq local", ["moto"]
    if template_path:
        feature, needs = f"{feature} --template", [*needs, "yaml", "samtranslator"]
        if run_lambdas:
            feature, needs = f"{feature} --run-lambdas", [*needs, "aws_lambda_powertools"]
    require(feature, *needs)
    from sqsq.local.provision import provision
    from sqsq.local.server import LOCAL_CREDENTIALS, LocalAwsServer

    app = load_app(app_spec)
    server = LocalAwsServer(port=port, host=host)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C does, never orphaning it

    signal.signal(signal.SIGTERM, interrupted)
    endpoint = server.start()
    try:
        local_env = server.client_environment(app.settings.region)
        for key in LOCAL_CREDENTIALS:
            os.environ.setdefault(key, local_env[key])
        app.configure(endpoint_url=endpoint)
        exports: dict[str, str] = {}
        if template_path:
            from sqsq.local.cloudformation import deploy_template, settings_exports

            stack = deploy_template(template_path, endpoint, parameters={"Stage": stage} if stage else None)
            exports = settings_exports(stack)
            click.echo(f"# sqsq local AWS at {endpoint}: stack {stack.stack_name} from {template_path}")
            for line in stack.applied:
                click.echo(f"#   applied: {line}")
        else:
            done = provision(app)
            click.echo(f"# sqsq local AWS at {endpoint}: queues {', '.join(done.queue_urls)}; table {done.table_name}")
        click.echo("# in another shell:")
        for key, value in exports.items():
            click.echo(f"export {key}={value}")
        for key, value in local_env.items():
            click.echo(f"export {key}={value}")
        if "SQSQ_APP_NAME" not in exports:
            click.echo(f"export SQSQ_APP_NAME={app.name}  # lets `sqsq result ID` find the results table")
        sys.stdout.flush()
        if template_path and run_lambdas:
            from sqsq.local.esm import run_local_esm

            run_local_esm(template_path, endpoint, parameters={"Stage": stage} if stage else None,
                          stop_when_empty=False)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command()
@click.argument("app_spec", metavar="APP")
def provision(app_spec: str) -> None:
    """Create APP's queues, DLQs (with redrive policies) and results table where the environment points."""
    from sqsq.local.provision import provision as do_provision

    app = load_app(app_spec)
    done = do_provision(app)
    for name, url in done.queue_urls.items():
        click.echo(f"queue {name}: {url} (dead-letter queue {name}{app.settings.dlq_suffix})")
    click.echo(f"table {done.table_name}")


@main.command()
@click.argument("app_spec", metavar="APP")
@click.option("-Q", "--queue", "queues", multiple=True, help="Logical queue to consume (repeatable); default: all.")
@click.option("-c", "--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="Tasks at once.")
@click.option("--prefetch", default=10, show_default=True, type=click.IntRange(0, 100),
              help="Messages received ahead of free threads.")
@click.option("--wait-time-seconds", default=None, type=click.IntRange(0, 20),
              help="Long poll WaitTimeSeconds (default 20).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--shutdown-grace-seconds", default=30.0, show_default=True, type=_Finite(),
              help="After SIGTERM, how long running tasks may finish.")
@click.option("--pool", type=click.Choice(["thread", "process"]), default="thread", show_default=True,
              help="Run def tasks on threads, or in -c child processes (CPU-bound tasks; they import APP).")
@click.option("--dlq-sweep-interval-seconds", default=60.0, show_default=True, type=_Finite(),
              help="How often to sweep the queues' DLQs: rescue or record what SQS's redrive moved there without an "
                   "outcome (0: never).")
@click.option("--processes", type=click.IntRange(1, 256), default=None, envvar="SQSQ_PROCESSES", show_envvar=True,
              help="Worker processes under one supervisor, each with its own receivers and -c pool; one that dies is "
                   f"restarted. 1: one process, no supervisor. [default: the CPUs, os.cpu_count() = {os.cpu_count()} "
                   "here]")
def worker(
    app_spec: str,
    queues: tuple[str, ...],
    concurrency: int,
    prefetch: int,
    wait_time_seconds: int | None,
    burst: bool,
    shutdown_grace_seconds: float,
    pool: str,
    dlq_sweep_interval_seconds: float,
    processes: int | None,
) -> None:
    """Run a poller worker for APP: long-poll its queues, run tasks, record results, delete in batches."""
    from sqsq.supervisor import run_worker

    app = load_app(app_spec)  # a bad APP fails here, once, before any worker process starts
    child_args = [  # one supervised child: this command with --processes 1
        "--log-level", click.get_current_context().find_root().params["log_level"], "worker", app_spec,
        *[arg for q in queues for arg in ("-Q", q)], "-c", str(concurrency), "--prefetch", str(prefetch),
        *(["--wait-time-seconds", str(wait_time_seconds)] if wait_time_seconds is not None else []),
        *(["--burst"] if burst else []), "--shutdown-grace-seconds", repr(shutdown_grace_seconds), "--pool", pool,
        "--dlq-sweep-interval-seconds", repr(dlq_sweep_interval_seconds), "--processes", "1",
    ]

    def build() -> Any:  # only without a supervisor (its children build their own)
        from sqsq.worker import Worker

        return Worker(
            app,
            list(queues) or None,
            concurrency=concurrency,
            prefetch=prefetch,
            wait_time_seconds=wait_time_seconds,
            burst=burst,
            shutdown_grace_seconds=shutdown_grace_seconds,
            pool="process" if pool == "process" else "thread",
            app_spec=app_spec,
            dlq_sweep_interval_seconds=dlq_sweep_interval_seconds,
        )

    sys.exit(run_worker(build, processes=processes, child_args=child_args, burst=burst))


@main.command()
@click.argument("app_spec", metavar="APP")
@click.argument("task_name", metavar="TASK")
@click.argument("args_json", metavar="JSON", default="{}")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout-seconds", default=60.0, show_default=True, type=_Finite(), help="How long --wait waits.")
@click.option("--delay-seconds", default=0, show_default=True, type=int, help="SQS DelaySeconds, 0-900.")
@click.option("--queue", default=None, help="Logical queue to send to instead of the task's own.")
def send(
    app_spec: str, task_name: str, args_json: str, wait: bool, timeout_seconds: float, delay_seconds: int, queue: str | None
) -> None:
    """Send TASK of APP with JSON arguments; prints the task id (and the result with --wait)."""
    app = load_app(app_spec)
    try:
        args = json.loads(args_json)
    except ValueError as exc:
        _fail(f"JSON arguments do not parse: {exc}", EXIT_USAGE)
    if not isinstance(args, dict):
        _fail('JSON arguments must be an object, e.g. \'{"x": 1}\'', EXIT_USAGE)
    handle = app.send(task_name, args, delay_seconds=delay_seconds, queue=queue)
    click.echo(handle.id)
    if wait:
        value = handle.get(timeout_seconds=timeout_seconds)
        click.echo(json.dumps(_jsonable(handle, value)))


def _jsonable(handle: AsyncResult, value: Any) -> Any:
    record = handle.record()
    return json.loads(record.result_json) if record and record.result_json else value


@main.command()
@click.argument("task_id")
@click.option("--app", "app_spec", default=None, help="APP (module:attribute) to rebuild the value; default: raw JSON.")
@click.option("--wait", is_flag=True, help="Wait until the task is SUCCESS or FAILURE.")
@click.option("--timeout-seconds", default=60.0, show_default=True, type=_Finite(), help="How long --wait waits.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def result(task_id: str, app_spec: str | None, wait: bool, timeout_seconds: float, as_json: bool) -> None:
    """Show a task's status and result by id (table from --app or SQSQ_RESULTS_TABLE/SQSQ_APP_NAME)."""
    app = load_app(app_spec) if app_spec else App(os.environ.get("SQSQ_APP_NAME", "sqsq"))
    handle = AsyncResult(task_id, app=app)
    try:
        if wait:
            try:
                handle.get(timeout_seconds=timeout_seconds)
            except TaskFailed:
                pass
        record = handle.record()
    except ResultsTableNotFound as exc:
        if app_spec or os.environ.get("SQSQ_APP_NAME") or os.environ.get("SQSQ_RESULTS_TABLE"):
            raise
        raise ResultsTableNotFound(
            f"{exc}. Which app's table? Pass --app module:attribute, or set SQSQ_APP_NAME (or SQSQ_RESULTS_TABLE)",
            code=exc.code,
        ) from exc
    if as_json:
        click.echo(json.dumps(record.__dict__ if record else {"task_id": task_id, "status": "PENDING"}, default=str))
    elif record is None:
        click.echo(f"{task_id} PENDING")
        click.echo(f"(no record in table {app.settings.table_name}: not run yet, expired, or another app's task; "
                   "pass --app to read another app's table)", err=True)
    elif record.status is Status.SUCCESS:
        click.echo(f"{task_id} SUCCESS {record.result_json}")
    else:
        click.echo(f"{task_id} {record.status.value} attempts={record.attempts} {record.error_type or ''}: "
                   f"{record.error_message or ''}".rstrip(": "))
    if record is not None and record.status is Status.FAILURE:
        sys.exit(EXIT_TASK_FAILED)
    if wait and (record is None or not record.status.is_final):
        sys.exit(EXIT_TIMEOUT)


@main.command()
@click.argument("app_spec", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def queues(app_spec: str, as_json: bool) -> None:
    """Depth, in flight, delayed and DLQ depth of each of APP's queues."""
    if not as_json:
        require("sqsq queues without --json", "rich")
    app = load_app(app_spec)
    rows = []
    for logical in app.logical_queues():
        name = app.queue_name(logical)
        d = app.transport.depth(name)
        info = app.transport.queue_info(name)
        dlq = info.dead_letter_target_arn.rsplit(":", 1)[1] if info.dead_letter_target_arn else None
        dlq_depth = app.transport.depth(dlq).visible if dlq else None
        rows.append({"queue": name, "visible": d.visible, "in_flight": d.in_flight, "delayed": d.delayed,
                     "dlq": dlq, "dlq_visible": dlq_depth, "max_receive_count": info.max_receive_count})
    if as_json:
        click.echo(json.dumps(rows))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("queue", "visible", "in flight", "delayed", "DLQ", "DLQ visible", "maxReceiveCount")
    for r in rows:
        table.add_row(*(str(r[k]) if r[k] is not None else "-" for k in
                        ("queue", "visible", "in_flight", "delayed", "dlq", "dlq_visible", "max_receive_count")))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)  # piped output: never truncate queue names
    console.print(table)


# -- dead-letter queues ---------------------------------------------------------------------------------------

_DLQ_PROGRESS_MIN_MESSAGES = 50
"""Redrives of at least this many messages (DLQ depth) show progress on stderr."""


def _dlq_option_visibility(fn: Any) -> Any:
    return click.option(
        "--visibility-timeout-seconds",
        "visibility_timeout_seconds",
        default=120,
        show_default=True,
        type=click.IntRange(1, 43_200),
        help="How long DLQ messages stay hidden while this command reads them; they are made visible again "
        "at the end (or reappear after this long if the command dies).",
    )(fn)


def _open_dlq(app_spec: str, queue: str, visibility_timeout_seconds: int = 120) -> Any:
    from sqsq.dlq import DeadLetterQueue

    app = load_app(app_spec)
    try:
        return DeadLetterQueue(app, queue, visibility_timeout_seconds=visibility_timeout_seconds)
    except QueueNotFound as exc:
        known = ", ".join(app.logical_queues())
        raise QueueNotFound(f"{exc}. {app_spec}'s queues are: {known}", code=exc.code) from exc


def _dlq_console() -> Any:
    from rich.console import Console

    # Not a terminal (pipes, CI): no wrapping, so ids and errors stay on one line each.
    return Console() if sys.stdout.isatty() else Console(width=400, soft_wrap=True)


_DLQ_SHOW_BODY_MAX_CHARS = 4_000
"""Longest undecodable body ``dlq show`` prints as text (``--json`` prints it whole)."""


def _rendering_failed(exc: Exception) -> str:
    return f"cannot be shown ({type(exc).__name__})"


def _dlq_row(e: Any, now: float) -> list[str]:
    from sqsq.dlq import format_age

    error = f"{e.error_type or '-'}: {e.error_message or ''}".rstrip(": ")
    return [
        e.task_name, e.task_id, e.args_summary(), "-" if e.attempts is None else str(e.attempts), error[:120],
        format_age(e.age_seconds(now)),
    ]


def _print_dlq_table(entries: list[Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    now = time.time()
    table = Table("task", "task id", "args", "attempts", "error", "age")
    for e in entries:
        try:
            row = _dlq_row(e, now)
        except Exception as exc:  # one letter that cannot be rendered is listed by message id; the others still list
            row = _dlq_row(e.as_unreadable(_rendering_failed(exc)), now)
        table.add_row(*(Text(_printable(c)) for c in row))  # Text: never rich markup ("[/x]" in args would raise)
    _dlq_console().print(table)


def _dlq_entry_json(e: Any, now: float | None = None, detail: bool = False) -> str:
    """One entry as JSON text; an entry whose rendering fails becomes its unreadable form (message id, size)."""
    try:
        return _json(e.detail_json(now) if detail else e.to_json(now))
    except Exception as exc:
        plain = e.as_unreadable(_rendering_failed(exc))
        return _json(plain.detail_json(now) if detail else plain.to_json(now))


@main.group()
def dlq() -> None:
    """Dead-letter queues of APP's queues: list, show, redrive and purge their messages.

    \b
    Every subcommand takes APP (module:attribute) and QUEUE, the *source* queue whose DLQ is meant:
    a logical name ("default", "images") or the physical SQS name ("shop-default"). The DLQ is the target
    of QUEUE's redrive policy; failure reasons come from APP's results table.

    Reading a DLQ hides its messages while the command runs (--visibility-timeout-seconds) and makes them
    visible again at the end; only `redrive` removes messages (after sending them back) and `purge` deletes.

    \b
    Examples:
      sqsq dlq list shop.app:app default --error RuntimeError
      sqsq dlq show shop.app:app default 5f0c…
      sqsq dlq redrive shop.app:app default --task shop.resize --dry-run
      sqsq dlq purge shop.app:app images --yes
    """


@dlq.command("list")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--task", "task_names", multiple=True, help="Only this task name (repeatable; '<undecodable>' too).")
@click.option("--error", "error_types", multiple=True, help="Only this recorded error type, e.g. RuntimeError.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@_dlq_option_visibility
def dlq_list(
    app_spec: str, queue: str, task_names: tuple[str, ...], error_types: tuple[str, ...], as_json: bool,
    visibility_timeout_seconds: int,
) -> None:
    """List the messages in QUEUE's DLQ: task, task id, args, attempts, failure reason, age (oldest first).

    Undecodable bodies are listed as task '<undecodable>', keyed by their SQS message id.
    """
    from sqsq.dlq import Selection

    if not as_json:
        require("sqsq dlq list without --json", "rich")
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    selection = None
    if task_names or error_types:
        selection = Selection(task_names=frozenset(task_names), error_types=frozenset(error_types))
    entries = d.entries(selection)
    if as_json:
        now = time.time()
        click.echo("[" + ", ".join(_dlq_entry_json(e, now) for e in entries) + "]")
        return
    if not entries:
        _echo(f"{d.dlq_name} (DLQ of {d.source_queue}): no messages" + (" match" if selection else ""))
        return
    _print_dlq_table(entries)
    _echo(f"{len(entries)} message(s) in {d.dlq_name} (DLQ of {d.source_queue})")


@dlq.command("show")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.argument("task_id", metavar="TASK_ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_dlq_option_visibility
def dlq_show(app_spec: str, queue: str, task_id: str, as_json: bool, visibility_timeout_seconds: int) -> None:
    """Show one DLQ message by TASK_ID (or SQS message id): full envelope and the recorded error.

    Exits 3 when no message of QUEUE's DLQ has that id. A letter that cannot be shown (nested too deeply,
    not decodable) is one line: its message id, size and why.
    """
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    entry = d.find(task_id)
    if entry is None:
        _fail(f"no message for task {task_id} in {d.dlq_name} (DLQ of {d.source_queue})", EXIT_CONFIG)
    if as_json:
        click.echo(_dlq_entry_json(entry, detail=True))
        return
    try:
        lines = _dlq_show_lines(entry)
    except Exception as exc:  # rendering failed: say so in one line, as for any unreadable letter
        lines = [entry.as_unreadable(_rendering_failed(exc)).one_line()]
    for line in lines:
        _echo(line)


def _dlq_show_lines(entry: Any) -> list[str]:
    """What ``dlq show`` prints for one entry (one line for an unreadable one); built whole before printing."""
    from sqsq.dlq import format_age

    if entry.unreadable:
        return [entry.one_line()]
    detail = entry.detail_json()
    lines = [f"{key}: {'-' if detail[key] is None else detail[key]}" for key in (
        "task_id", "task", "message_id", "status", "attempts", "generation", "error_type", "error_message")]
    lines.append(f"sent: {format_age(entry.age_seconds())} ago ({entry.sent_at:.3f})")
    lines.append(f"size: {detail['size_bytes']} bytes")
    if entry.envelope is not None:
        lines.append("envelope:")
        lines.append(json.dumps(_finite_or_none(detail["envelope"]), indent=2, ensure_ascii=False, allow_nan=False))
    else:
        body = entry.message.body
        lines.append(f"body (undecodable: {entry.decode_error}):")
        lines.append(body if len(body) <= _DLQ_SHOW_BODY_MAX_CHARS else
                     f"{body[:_DLQ_SHOW_BODY_MAX_CHARS]}… ({len(body)} characters in all; --json prints it whole)")
    if detail["traceback"]:
        lines.append("traceback:")
        lines.append(detail["traceback"].rstrip())
    return lines


class _RedriveProgressDisplay:
    """Progress on stderr: a rich bar on a terminal, else one plain line at most every 0.5 s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> _RedriveProgressDisplay:
        if self.enabled and sys.stderr.isatty():
            require("sqsq dlq redrive's progress bar (on a terminal)", "rich")
            from rich.console import Console
            from rich.progress import Progress

            self._bar = Progress(console=Console(stderr=True), transient=False)
            self._bar.start()
            self._task = self._bar.add_task("redrive", total=None)
        return self

    def __call__(self, p: Any) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=p.scanned, total=p.total_estimate,
                             description=f"redrive: moved {p.moved}")
            return
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            click.echo(f"redrive: scanned {p.scanned} of ~{p.total_estimate}, moved {p.moved}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@dlq.command("redrive")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--task-id", "task_ids", multiple=True, help="This task id (or message id); repeatable.")
@click.option("--task", "task_names", multiple=True, help="Messages of this task name; repeatable.")
@click.option("--error", "error_types", multiple=True, help="Messages whose recorded error type is this; repeatable.")
@click.option("--all", "everything", is_flag=True, help="Every message (narrowed by any other filter given).")
@click.option("--dry-run", is_flag=True, help="Only list what would move; move nothing.")
@click.option("--native", is_flag=True,
              help="With --all alone: let SQS move everything server-side (StartMessageMoveTask). Bodies move "
              "unchanged, so result records keep their FAILURE; falls back to a client-side move where the "
              "endpoint does not support it.")
@click.option("--max-per-second", type=_Finite(at_least=0.1), default=None,
              help="Send at most this many messages per second (default: as fast as SQS answers).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_dlq_option_visibility
def dlq_redrive(
    app_spec: str, queue: str, task_ids: tuple[str, ...], task_names: tuple[str, ...], error_types: tuple[str, ...],
    everything: bool, dry_run: bool, native: bool, max_per_second: float | None, as_json: bool,
    visibility_timeout_seconds: int,
) -> None:
    """Send selected messages of QUEUE's DLQ back to QUEUE, then delete them from the DLQ.

    Filters combine with AND (values of one filter with OR). Each task runs again with a fresh attempt
    count and a new generation, so its result record moves on from FAILURE. Send comes before delete: a crash
    mid-way can leave a message in both queues, never in neither. Exits 4 if some messages could not be moved
    (they stay in the DLQ and are listed).
    """
    from sqsq.dlq import Selection

    selection = Selection(frozenset(task_ids), frozenset(task_names), frozenset(error_types), everything)
    if selection.is_empty:
        _fail("say what to redrive: --task-id ID, --task NAME, --error TYPE or --all", EXIT_USAGE)
    if native and (not everything or task_ids or task_names or error_types):
        _fail("--native moves every message server-side: use it with --all and no other filter", EXIT_USAGE)
    if dry_run and not as_json:
        require("sqsq dlq redrive --dry-run without --json", "rich")
    d = _open_dlq(app_spec, queue, visibility_timeout_seconds)
    with _RedriveProgressDisplay(enabled=not dry_run and d.depth() >= _DLQ_PROGRESS_MIN_MESSAGES) as progress:
        report = d.redrive(selection, dry_run=dry_run, native=native, max_per_second=max_per_second,
                           on_progress=progress)
    if report.native_fallback_reason:
        _echo(f"note: StartMessageMoveTask not available ({report.native_fallback_reason}); "
              "moved the messages client-side", err=True)
    if as_json:
        click.echo(_json(report.to_json()))
    elif report.native_task_handle is not None:
        click.echo(f"SQS is moving every message of {d.dlq_name} to {d.source_queue} server-side "
                   f"(task handle {report.native_task_handle}); bodies are unchanged")
    elif dry_run:
        if report.selected:
            _print_dlq_table(report.selected)
        click.echo(f"dry run: {len(report.selected)} of {report.scanned} message(s) in {d.dlq_name} would move "
                   f"to {d.source_queue}; nothing was moved")
    else:
        click.echo(f"moved {len(report.moved)} of {len(report.selected)} selected message(s) from {d.dlq_name} "
                   f"to {d.source_queue} ({report.scanned} read)")
    for task_id in report.not_found:
        _echo(f"not in {d.dlq_name}: {task_id}", err=True)
    for task_id, reason in report.failed.items():
        _echo(f"not moved (still in the DLQ): {task_id}: {reason}", err=True)
    for task_id, reason in report.not_deleted.items():
        _echo(f"duplicated: {task_id}: {reason}", err=True)
    if not report.ok:
        sys.exit(EXIT_AWS)


@dlq.command("sweep")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def dlq_sweep(app_spec: str, queue: str, as_json: bool) -> None:
    """Rescue or record what SQS's redrive policy moved to QUEUE's DLQ without an outcome (workers do it every
    minute): a message with rescues left goes back as a fresh copy, the others get FAILURE with the reason."""
    from sqsq.sweep import sweep_dead_letters

    report = sweep_dead_letters(load_app(app_spec), queue)
    if as_json:
        click.echo(_json({"dlq": report.dlq, "scanned": report.scanned, "rescued": report.rescued,
                          "recorded": report.recorded, "failed": report.failed}))
    else:
        click.echo(f"{report.dlq}: scanned {report.scanned}, rescued {len(report.rescued)}, recorded "
                   f"{len(report.recorded)} FAILURE(s)" + "".join(f"\n  {k}: {v}" for k, v in report.recorded.items()))
    if report.failed:
        for task_id, why in report.failed.items():
            _echo(f"not rescued {task_id}: {why}", err=True)
        sys.exit(EXIT_AWS)


@dlq.command("purge")
@click.argument("app_spec", metavar="APP")
@click.argument("queue", metavar="QUEUE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_purge(app_spec: str, queue: str, yes: bool) -> None:
    """Delete every message in QUEUE's DLQ (PurgeQueue).

    SQS allows one purge per queue per 60 s and may take up to 60 s to finish: messages sent to the DLQ in
    the next 60 s may be deleted too. A second purge within 60 s exits 75 with "purge already in progress;
    retry after ~N s". sqsq remembers its purges in $XDG_CACHE_HOME/sqsq/purges.json (default
    ~/.cache/sqsq/purges.json), so the rule holds even where the endpoint does not enforce it.
    """
    from sqsq.errors import PurgeInProgress

    d = _open_dlq(app_spec, queue)
    warning = (f"messages sent to {d.dlq_name} in the next 60 s may be deleted too "
               "(SQS takes up to 60 s to purge)")
    if not yes:
        click.confirm(f"Delete every message (~{d.depth()}) in {d.dlq_name}, the DLQ of {d.source_queue}? "
                      f"Note: {warning}.", abort=True, err=True)
    try:
        d.purge()
    except PurgeInProgress as exc:
        _fail(str(exc), EXIT_PURGE_IN_PROGRESS)
    click.echo(f"purged {d.dlq_name} (DLQ of {d.source_queue}); {warning}")


# -- SAM template and local Lambda ------------------------------------------------------------------------------


def _parameters(pairs: tuple[str, ...], stage: str | None) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--parameter takes KEY=VALUE, got {pair!r}", EXIT_USAGE)
        out[key] = value
    if stage:
        out["Stage"] = stage
    return out


@main.command()
@click.argument("app_spec", metavar="APP")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the template to FILE, with its layer folder and (if absent) samconfig.toml beside it. "
                   "Without it the template is printed.")
@click.option("--check", "check_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Check FILE instead of rendering: B12/B14/B15 (visibility vs timeout, ReportBatchItemFailures, "
                   "maxReceiveCount) and packaging (handler importable from CodeUri + layer; layer has sqsq, "
                   "pydantic, Powertools); a built template (.aws-sam/build) is import-tested. Exit 3 on findings.")
@click.option("--parameter", "parameters", multiple=True, help="With --check: template parameter KEY=VALUE.")
@click.option("--handler", default=None, help="Functions' Handler (default: sqsq's generic sqsq.lambda_entry.handler).")
@click.option("--code-uri", default=None,
              help="Functions' CodeUri (default: the folder of APP's top-level package, relative to the template).")
@click.option("--layer-dir", default="sqsq-layer", show_default=True,
              help="Dependencies layer folder (relative to the template), where its requirements.txt is written.")
@click.option("--runtime", default="python3.11", show_default=True, help="Lambda runtime.")
@click.option("--memory-size-mb", default=512, show_default=True, type=click.IntRange(128, 10240),
              help="Default MemorySize (app.declare_queue(..., memory_size_mb=) wins per queue).")
@click.option("--batch-size", default=10, show_default=True, type=click.IntRange(1, 10))
@click.option("--batching-window-seconds", default=0, show_default=True, type=click.IntRange(0, 300))
@click.option("--maximum-concurrency", default=10, show_default=True, type=click.IntRange(2, 1000))
@click.option("--max-receive-count", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Default of the MaxReceiveCount parameter.")
@click.option("--stage", default="dev", show_default=True, help="Default of the Stage parameter.")
@click.option("--samconfig/--no-samconfig", default=True, show_default=True,
              help="With -o: write samconfig.toml beside the template when there is none.")
@click.option("--fargate", is_flag=True,
              help="Add an ECS Fargate service running `sqsq worker` for the queues declared consumer='worker' (all "
                   "queues when none is), with backlog-per-task auto scaling; with -o, also a Dockerfile if absent.")
@click.option("--fargate-cpu", default=512, show_default=True, type=int, help="Worker task CPU units.")
@click.option("--fargate-memory-mb", default=1024, show_default=True, type=int, help="Worker task memory, MB.")
@click.option("--fargate-concurrency", default=8, show_default=True, type=int, help="The worker's -c.")
@click.option("--fargate-max-tasks", default=10, show_default=True, type=int, help="Most worker tasks.")
@click.option("--signing-keys-parameter", default=None,
              help="SSM SecureString parameter (name or ARN) holding the signing keys: consumers get "
                   "SQSQ_SIGNING_KEYS_PARAMETER and ssm:GetParameter on exactly it.")
@click.option("--signing-keys-secret", default=None,
              help="Secrets Manager secret (name or ARN) holding the signing keys: consumers get "
                   "SQSQ_SIGNING_KEYS_SECRET and secretsmanager:GetSecretValue on exactly it.")
def template(
    app_spec: str,
    output: str | None,
    check_path: str | None,
    parameters: tuple[str, ...],
    handler: str | None,
    code_uri: str | None,
    layer_dir: str,
    runtime: str,
    memory_size_mb: int,
    batch_size: int,
    batching_window_seconds: int,
    maximum_concurrency: int,
    max_receive_count: int,
    stage: str,
    samconfig: bool,
    fargate: bool,
    fargate_cpu: int,
    fargate_memory_mb: int,
    fargate_concurrency: int,
    fargate_max_tasks: int,
    signing_keys_parameter: str | None,
    signing_keys_secret: str | None,
) -> None:
    """Write the SAM template (queues, DLQs, results table, one consumer function per queue) for APP, or --check one.

    With -o FILE: also the layer folder's requirements.txt (sqsq and its Lambda dependencies) and a samconfig.toml,
    so that `sam build && sam deploy` deploy the built artifacts.
    """
    require("sqsq template", "yaml")
    from sqsq.template import GENERIC_HANDLER, TemplateOptions, render_template_yaml
    from sqsq.template.fargate import FargateOptions

    if check_path:
        _check_template_file(check_path, _parameters(parameters, None))
        return
    app = load_app(app_spec)
    options = TemplateOptions(
        app_spec=app_spec,
        layer_uri=layer_dir,
        runtime=runtime,
        memory_size_mb=memory_size_mb,
        batch_size=batch_size,
        batching_window_seconds=batching_window_seconds,
        maximum_concurrency=maximum_concurrency,
        max_receive_count=max_receive_count,
        stage=stage,
        handler=handler or GENERIC_HANDLER,
        fargate=FargateOptions(cpu=fargate_cpu, memory_mb=fargate_memory_mb, concurrency=fargate_concurrency,
                               max_tasks=fargate_max_tasks) if fargate else None,
        signing_keys_parameter=signing_keys_parameter,
        signing_keys_secret=signing_keys_secret,
    )
    if not output:
        click.echo(render_template_yaml(app, options), nl=False)
        return
    from pathlib import Path

    from sqsq.template.project import resolve_code_uri, write_project

    out = Path(output)
    if not out.resolve().parent.is_dir():
        _fail(f"folder {out.resolve().parent} does not exist: create it, or write the template elsewhere", EXIT_CONFIG)
    options = resolve_code_uri(app_spec, out.resolve().parent, options, code_uri)
    written = write_project(app, out, options, samconfig=samconfig)
    if written.layer_requirements is not None:
        click.echo(f"wrote {out} (CodeUri {options.code_uri}) and {written.layer_requirements} (sqsq: "
                   f"{written.sqsq_requirement})")
    else:
        click.echo(f"wrote {out} (ECS Fargate workers for every queue; no Lambda functions, so no layer)")
    for path, new in ((written.dockerfile, written.dockerfile_written), (written.samconfig, written.samconfig_written)):
        if path is not None:
            click.echo(f"{'wrote' if new else 'kept the existing'} {path}")
    click.echo("next: sam build && sam deploy" + (" (build and push the worker image first: see the Dockerfile)"
                                                  if written.dockerfile else ""))


def _check_template_file(path: str, parameters: dict[str, str]) -> None:
    from sqsq.template import check_template, load_template, sqs_functions
    from sqsq.template.packaging_checks import check_packaging

    template = load_template(path)
    try:
        findings = check_template(template, parameters) + check_packaging(path, template, parameters)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        _fail(f"{path}: the template is malformed where sqsq reads it ({type(exc).__name__}: {str(exc)[:200]}); "
              "check it with `sam validate --lint`", EXIT_CONFIG)
    for finding in findings:
        click.echo(f"{path}: [{finding.code}] {finding.resource}: {finding.message}", err=True)
    if findings:
        sys.exit(EXIT_CONFIG)
    if not sqs_functions(template, parameters):
        click.echo(f"{path}: ok (no SQS-triggered functions to check)")
        return
    click.echo(
        f"{path}: ok (ReportBatchItemFailures on every SQS event; VisibilityTimeout >= 6 x function timeout "
        "+ batching window; maxReceiveCount >= 5 or MaximumConcurrency set; handlers and layer packaged)"
    )


@main.command("lambda-local")
@click.option("--template", "template_path", default="template.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False), help="SAM template whose functions to run.")
@click.option("--stage", default=None, help="Stage parameter (default: the template's).")
@click.option("--parameter", "parameters", multiple=True, help="Template parameter KEY=VALUE (repeatable).")
@click.option("--endpoint-url", default=None, envvar="AWS_ENDPOINT_URL", help="Local AWS endpoint.")
@click.option("--stop-when-empty", is_flag=True, help="Exit once the queues are empty and nothing runs.")
@click.option("--timeout-seconds", default=None, type=_Finite(),
              help="Stop polling after this many seconds; invocations in flight still finish (within their function's "
                   "Timeout), as when an event source mapping is disabled. Ctrl-C or SIGTERM stops them at once.")
@click.option("--built/--in-process", "built", default=None,
              help="Run the functions as built artifacts in runtime processes, or import them here; default: "
                   "built when the template is `sam build` output.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's counters as JSON.")
def lambda_local(
    template_path: str,
    stage: str | None,
    parameters: tuple[str, ...],
    endpoint_url: str | None,
    stop_when_empty: bool,
    timeout_seconds: float | None,
    built: bool | None,
    as_json: bool,
) -> None:
    """Run the template's SQS-triggered functions, polling like Lambda's event source mapping.

    Deploy the template first (`sqsq local APP --template FILE`). Two modes:

    \b
    built (`sam build` output, e.g. --template .aws-sam/build/template.yaml): each function runs in processes of
      Lambda's runtime interface client (awslambdaric), on a local Runtime API, with the artifact's code and
      layers only on sys.path, its Timeout killing the process and MemorySize as a memory limit; logs go to
      .aws-sam/sqsq-local-logs/<FunctionId>.log. Chosen automatically for `sam build` output (its resources carry
      Metadata.SamResourceId; see sqsq.local.lambda_runtime).
    in-process (a source template): the handlers are imported and called on threads here
      (differences from Lambda: see sqsq.local.esm).
    """
    from sqsq.local.esm import run_local_esm
    from sqsq.local.lambda_runtime import is_built_template, run_built_template

    if not endpoint_url:
        _fail("no endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL (start one with `sqsq local`)", EXIT_CONFIG)
    params = _parameters(parameters, stage)
    require("sqsq lambda-local", "yaml")
    if built is None:
        built = is_built_template(template_path, params)
    require(f"sqsq lambda-local {'--built' if built else '--in-process'}",
            "awslambdaric" if built else "aws_lambda_powertools")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the function processes are stopped, never orphaned

    signal.signal(signal.SIGTERM, interrupted)
    stop = threading.Event()
    pools: dict[str, Any] = {}
    try:
        if built:
            stats, pools = run_built_template(template_path, endpoint_url, parameters=params,
                                              stop_when_empty=stop_when_empty, timeout_seconds=timeout_seconds,
                                              stop=stop)
        else:
            stats = run_local_esm(template_path, endpoint_url, parameters=params, stop_when_empty=stop_when_empty,
                                  timeout_seconds=timeout_seconds, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        return
    counters: dict[str, Any] = {**stats.as_dict(), **({"functions": pools} if built else {})}
    if as_json:
        click.echo(json.dumps(counters))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in stats.as_dict().items()))
        for function_id, pool in pools.items():
            init = ", ".join(f"{s:.3f}" for s in pool["init_seconds"])
            click.echo(f"{function_id}: " + " ".join(f"{k}={v}" for k, v in pool.items() if k != "init_seconds")
                       + f" init_seconds=[{init}]")


if __name__ == "__main__":
    main()
