"""The ``sqsq`` command (click). APP is given as ``module:attribute`` (e.g. ``demo.app:app``).

Exit codes: 0 ok; 1 the task failed (``send --wait``/``result``); 2 usage error; 3 configuration or missing
resource (queue, table, app); 4 AWS error; 5 timed out waiting for a result.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import time
from typing import Any, NoReturn

import click

from sqsq.app import App, AsyncResult
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
from sqsq.results import Status

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AWS = 4
EXIT_TIMEOUT = 5


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


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
    """Import ``module:attribute`` and return the App (the current directory is importable).

    Raises:
        ConfigError: malformed spec, module not importable, or the attribute is not an App.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"APP must look like module:attribute (e.g. demo.app:app), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise ConfigError(f"{spec!r} is not a sqsq.App (got {type(app).__name__})")
    return app


class _Errors(click.Group):
    """Turns sqsq errors into one line on stderr and a named exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SqsqError as exc:
            _fail(str(exc), _exit_code(exc))


@click.group(cls=_Errors)
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def main(log_level: str) -> None:
    """sqsq: typed tasks on Amazon SQS, results in DynamoDB."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.command()
@click.argument("app_spec", metavar="APP")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback only by default).")
@click.option("--port", default=4566, show_default=True, type=int, help="Port of the local AWS endpoint.")
def local(app_spec: str, host: str, port: int) -> None:
    """Start the embedded local AWS (moto server) and provision APP's queues and results table.

    Runs in the foreground until interrupted (Ctrl-C).
    """
    from sqsq.local.provision import provision
    from sqsq.local.server import LocalAwsServer

    app = load_app(app_spec)
    server = LocalAwsServer(port=port, host=host)
    endpoint = server.start()
    try:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        app.configure(endpoint_url=endpoint)
        done = provision(app)
        click.echo(f"# sqsq local AWS at {endpoint}: queues {', '.join(done.queue_urls)}; table {done.table_name}")
        click.echo("# in another shell:")
        click.echo(f"export AWS_ENDPOINT_URL={endpoint}")
        click.echo(f"export AWS_REGION={app.settings.region}")
        click.echo("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing")
        sys.stdout.flush()
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
        click.echo(f"queue {name}: {url}")
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
@click.option("--shutdown-grace-seconds", default=30.0, show_default=True, type=float,
              help="After SIGTERM, how long running tasks may finish.")
def worker(
    app_spec: str,
    queues: tuple[str, ...],
    concurrency: int,
    prefetch: int,
    wait_time_seconds: int | None,
    burst: bool,
    shutdown_grace_seconds: float,
) -> None:
    """Run a poller worker for APP: long-poll its queues, run tasks, record results, delete in batches."""
    from sqsq.worker import Worker

    app = load_app(app_spec)
    w = Worker(
        app,
        list(queues) or None,
        concurrency=concurrency,
        prefetch=prefetch,
        wait_time_seconds=wait_time_seconds,
        burst=burst,
        shutdown_grace_seconds=shutdown_grace_seconds,
    )
    w.install_signal_handlers()
    sys.exit(w.run())


@main.command()
@click.argument("app_spec", metavar="APP")
@click.argument("task_name", metavar="TASK")
@click.argument("args_json", metavar="JSON", default="{}")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout-seconds", default=60.0, show_default=True, type=float, help="How long --wait waits.")
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
@click.option("--timeout-seconds", default=60.0, show_default=True, type=float)
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def result(task_id: str, app_spec: str | None, wait: bool, timeout_seconds: float, as_json: bool) -> None:
    """Show a task's status and result by id (table from --app or SQSQ_RESULTS_TABLE/SQSQ_APP_NAME)."""
    app = load_app(app_spec) if app_spec else App(os.environ.get("SQSQ_APP_NAME", "sqsq"))
    handle = AsyncResult(task_id, app=app)
    if wait:
        try:
            handle.get(timeout_seconds=timeout_seconds)
        except TaskFailed:
            pass
    record = handle.record()
    if as_json:
        click.echo(json.dumps(record.__dict__ if record else {"task_id": task_id, "status": "PENDING"}, default=str))
    elif record is None:
        click.echo(f"{task_id} PENDING")
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
    Console().print(table)


if __name__ == "__main__":
    main()
