"""``sqsq worker``: run a poller worker for APP (or, with ``--reload``, a child worker restarted on code change)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import click

from sqsq.cli.group import LOG_LEVEL_KEY
from sqsq.cli.options import Finite, app_argument, load_app


@click.command()
@app_argument
@click.option("-Q", "--queue", "queues", multiple=True, help="Logical queue to consume (repeatable); default: all.")
@click.option("-c", "--concurrency", default=4, show_default=True, type=click.IntRange(1, 256), help="Tasks at once.")
@click.option("--prefetch", default=10, show_default=True, type=click.IntRange(0, 100),
              help="Messages received ahead of free threads.")
@click.option("--wait-time-seconds", default=None, type=click.IntRange(0, 20),
              help="Long poll WaitTimeSeconds (default 20).")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.option("--shutdown-grace-seconds", default=30.0, show_default=True, type=Finite(),
              help="After SIGTERM, how long running tasks may finish.")
@click.option("--pool", type=click.Choice(["thread", "process"]), default="thread", show_default=True,
              help="Run def tasks on threads, or in -c child processes (CPU-bound tasks; they import APP).")
@click.option("--dlq-sweep-interval-seconds", default=60.0, show_default=True, type=Finite(),
              help="How often to sweep the queues' DLQs: rescue or record what SQS's redrive moved there without an "
                   "outcome (0: never).")
@click.option("--registry-interval-seconds", default=30.0, show_default=True, type=Finite(),
              envvar="SQSQ_REGISTRY_INTERVAL_SECONDS", show_envvar=True,
              help="How often the worker reports itself to the results table for the dashboard (one PutItem; 0: "
                   "never).")
@click.option("--emf-metrics", is_flag=True, envvar="SQSQ_EMF_METRICS", show_envvar=True,
              help="Print CloudWatch embedded-metric-format lines (task counts, in flight) every registry interval.")
@click.option("-l", "--loglevel", "--log-level", "log_level", default=None,
              help="Logging level of this worker (default: sqsq's --log-level, INFO).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines as text, or as JSON objects with the task id and name on every line logged by a task.")
@click.option("--reload", is_flag=True,
              help="Development only: run the worker in a child process and restart it when a .py file under the "
                   "current directory changes (needs watchfiles: sqsq[reload]).")
@click.option("--processes", type=click.IntRange(1, 256), default=None, envvar="SQSQ_PROCESSES", show_envvar=True,
              help="Worker processes under one supervisor, each with its own receivers and -c pool; one that dies is "
                   f"restarted. 1: one process, no supervisor. [default: the CPUs, os.cpu_count() = {os.cpu_count()} "
                   "here]")
@click.pass_context
def worker(
    ctx: click.Context,
    app_spec: str,
    queues: tuple[str, ...],
    concurrency: int,
    prefetch: int,
    wait_time_seconds: int | None,
    burst: bool,
    shutdown_grace_seconds: float,
    pool: str,
    dlq_sweep_interval_seconds: float,
    registry_interval_seconds: float,
    emf_metrics: bool,
    log_level: str | None,
    log_format: Literal["text", "json"],
    reload: bool,
    processes: int | None,
) -> None:
    """Run a poller worker for APP: long-poll its queues, run tasks, record results, delete in batches.

    APP may also be given as -A APP (Celery's form).
    """
    from sqsq.logs import configure_logging, flush_logs

    level = log_level or ctx.meta.get(LOG_LEVEL_KEY) or "INFO"
    if reload:
        if log_level or log_format != "text":
            configure_logging(level, log_format)
        from sqsq.cli.reload import run_with_reload

        sys.exit(run_with_reload(sys.argv[1:], Path.cwd()))
    from sqsq.supervisor import default_processes, run_worker

    supervised = (processes or default_processes()) > 1
    # A worker's one line per task is written in batches (a thread); a supervisor, which forks, has no thread.
    configure_logging(level, log_format, batched=not supervised)
    ctx.call_on_close(flush_logs)
    from sqsq import startup_gc

    startup_gc.pause()  # until the first receive (sqsq.worker.startup), the supervisor's start, or an error
    ctx.call_on_close(startup_gc.finish)
    app = load_app(app_spec)  # a bad APP fails here, once, before any worker process starts
    if supervised:
        _preload()
    child_args = [  # one supervised child: this command with --processes 1
        "worker", app_spec, *[arg for q in queues for arg in ("-Q", q)], "-c", str(concurrency),
        "--prefetch", str(prefetch),
        *(["--wait-time-seconds", str(wait_time_seconds)] if wait_time_seconds is not None else []),
        *(["--burst"] if burst else []), "--shutdown-grace-seconds", repr(shutdown_grace_seconds), "--pool", pool,
        "--dlq-sweep-interval-seconds", repr(dlq_sweep_interval_seconds), "--loglevel", str(level),
        "--registry-interval-seconds", repr(registry_interval_seconds), *(["--emf-metrics"] if emf_metrics else []),
        "--log-format", log_format, "--processes", "1",
    ]

    def build() -> Any:  # in a single worker process, or in each forked child of a supervisor
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
            registry_interval_seconds=registry_interval_seconds,
            emf_metrics=emf_metrics,
        )

    sys.exit(run_worker(build, processes=processes, child_args=child_args, burst=burst,
                        in_child=lambda: configure_logging(level, log_format, batched=True)))


def _preload() -> None:
    """Import what a worker imports at its start, once in the supervisor, so forked children need not (no I/O)."""
    import sqsq.worker  # noqa: F401
    from sqsq.backends import import_aws_backend_modules

    import_aws_backend_modules()
