"""The supervisor's restart policy and stop, on tiny ``python -c`` children (no AWS)."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from sqsq.retry import Backoff
from sqsq.supervisor import Supervisor, describe_exit

QUICK = Backoff(base_seconds=0.01, factor=1.0, max_seconds=0.01, jitter=False)


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def fails_until(marker: Path, failures: int, then: str = "0") -> list[str]:
    """A child that exits 1 on its first ``failures`` runs (counted in ``marker``), then ``sys.exit(then)``."""
    return child(
        f"import sys, pathlib; p = pathlib.Path({str(marker)!r}); n = len(p.read_text()) if p.exists() else 0; "
        f"p.write_text('x' * (n + 1)); sys.exit(1 if n < {failures} else {then})"
    )


def starts(caplog: pytest.LogCaptureFixture) -> int:
    return sum("started (pid" in r.getMessage() for r in caplog.records)


def test_a_child_that_keeps_dying_at_start_up_makes_the_supervisor_give_up_with_its_exit_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert Supervisor(child("raise SystemExit(9)"), 1, backoff=QUICK, give_up_after=3).run() == 9
    assert starts(caplog) == 3
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "died 3 times in a row, each within 30 s of starting (last: exit code 9): giving up" in error


def test_a_child_that_fails_with_a_configuration_error_is_not_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert Supervisor(child("raise SystemExit(3)"), 2, backoff=QUICK).run() == 3
    assert starts(caplog) <= 2  # the second may have started before the first failed; neither is started again
    assert "(configuration error, see its error above): a restart would fail the same way" in caplog.text


def test_a_restarted_child_that_then_drains_ends_a_burst_run_with_0(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    assert Supervisor(fails_until(tmp_path / "runs", 2), 1, burst=True, backoff=QUICK).run() == 0
    assert starts(caplog) == 3
    assert "drained its queues and exited 0: not restarted" in caplog.text


def test_a_child_that_lived_past_the_stable_period_starts_its_failure_count_again(tmp_path: Path) -> None:
    # give_up_after=2 would stop at the second failure in a row; with stable_seconds=0 no failure is "rapid".
    sup = Supervisor(fails_until(tmp_path / "runs", 4), 1, burst=True, backoff=QUICK, give_up_after=2,
                     stable_seconds=0)
    assert sup.run() == 0


def test_stop_forwards_sigterm_and_waits_for_every_child(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "sqsq.supervisor")
    sup = Supervisor(child("import sys, time; print('up', flush=True); time.sleep(120)"), 2)
    stopper = threading.Timer(1.0, sup.stop)  # not a timing: run() returns only once both children are gone
    stopper.start()
    try:
        assert sup.run() == 0
    finally:
        stopper.cancel()
        sup.kill()
    assert caplog.text.count("stopped (killed by SIGTERM)") == 2
    assert all(c.proc is None for c in sup.children)


def test_exits_are_described_by_code_or_signal_name() -> None:
    assert [describe_exit(c) for c in (0, 4, -9, -15)] == [
        "exit code 0", "exit code 4", "killed by SIGKILL", "killed by SIGTERM"]
