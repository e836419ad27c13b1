"""sqsq.logs: the JSON line format, the running task on every line, one line per finished task; -A and --loglevel."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from sqsq.cli import EXIT_USAGE, main
from sqsq.executor import Ack, DeadLetter, Release, RetryAfter
from sqsq.logs import JsonFormatter, configure_logging, log_task_finished, outcome_name, task_log_context


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """A JSON handler on a private logger tree, so pytest's own root handlers are left alone."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sqsq")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_running_task_and_only_while_it_runs(captured: io.StringIO) -> None:
    log = logging.getLogger("sqsq.test")
    log.info("before")
    with task_log_context("shop.add", "t-1"):
        log.warning("inside %d", 1)
    log.info("after")
    before, inside, after = lines(captured)
    assert set(before) == {"time", "level", "logger", "message"}
    assert inside == {**inside, "level": "WARNING", "logger": "sqsq.test", "message": "inside 1",
                      "task_name": "shop.add", "task_id": "t-1"}
    assert "task_id" not in after


def test_task_context_belongs_to_its_thread(captured: io.StringIO) -> None:
    log = logging.getLogger("sqsq.test")
    inside = threading.Event()
    done = threading.Event()

    def run() -> None:
        with task_log_context("shop.add", "t-2"):
            inside.set()
            done.wait(5)

    t = threading.Thread(target=run)
    t.start()
    inside.wait(5)
    log.info("from another thread")
    done.set()
    t.join()
    assert "task_id" not in lines(captured)[0]


def test_one_info_line_per_finished_task_with_name_id_duration_and_outcome(captured: io.StringIO) -> None:
    with task_log_context("shop.add", "t-3") as task_log:
        assert task_log.finished(Ack()) == Ack()
    log_task_finished("shop.add", "t-4", 0.25, "failure")
    first, second = lines(captured)
    assert (first["level"], first["logger"], first["task_id"], first["outcome"]) == ("INFO", "sqsq.task", "t-3", "success")
    assert isinstance(first["duration_seconds"], float)
    assert second == {**second, "task_name": "shop.add", "task_id": "t-4", "duration_seconds": 0.25,
                      "message": "task shop.add[t-4] failure in 0.250 s"}


def test_outcomes_have_short_names() -> None:
    assert [outcome_name(o) for o in (Ack(), Ack(duplicate=True), RetryAfter(1, "e"), DeadLetter("E", "m"),
                                      Release(1, "e"), Release(1, "e", deferred=True), None)] == [
        "success", "duplicate", "retry", "failure", "released", "deferred", "time_limit_exceeded"]


def test_configure_logging_leaves_a_root_logger_someone_else_configured() -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    saved = root.handlers[:]
    root.handlers[:] = [foreign]
    try:
        configure_logging("DEBUG", "json", stream=io.StringIO())
        assert root.handlers == [foreign]
    finally:
        root.handlers[:] = saved


def test_configure_logging_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        configure_logging("INFO", "text", stream=io.StringIO())
        stream = io.StringIO()
        configure_logging("WARNING", "json", stream=stream)
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        logging.getLogger("x").warning("hello")
        assert json.loads(stream.getvalue())["message"] == "hello"
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="'yaml'"):
        configure_logging("INFO", "yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [["worker"], ["worker", "a.b:app", "-A", "c.d:app"], ["queues", "--json"]])
def test_app_must_be_given_once_positional_or_dash_a(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_USAGE
    assert "APP" in result.output


def test_dash_a_and_loglevel_are_in_the_help() -> None:
    worker = CliRunner().invoke(main, ["worker", "--help"]).output
    assert "-A, --app APP" in worker and "--loglevel" in worker and "--log-format [text|json]" in worker
    assert "--reload" in worker
    assert "--log-level, --loglevel" in CliRunner().invoke(main, ["--help"]).output


def test_reload_without_watchfiles_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    from pathlib import Path

    from sqsq.cli.reload import run_with_reload
    from sqsq.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "watchfiles", None)
    with pytest.raises(MissingExtra, match=r'sqsq worker --reload needs watchfiles: pip install "sqsq\[reload\]"'):
        run_with_reload(["worker", "a.b:app", "--reload"], Path.cwd())
