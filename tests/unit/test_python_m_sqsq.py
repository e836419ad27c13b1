"""``python -m sqsq`` is the ``sqsq`` command; ``import sqsq`` alone still imports no click."""

from __future__ import annotations

import subprocess
import sys

from sqsq.cli import EXIT_CONFIG
from tests.conftest import ROOT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_python_m_sqsq_runs_the_command_line_under_the_name_sqsq() -> None:
    done = _run("-m", "sqsq", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: sqsq [OPTIONS] COMMAND") and "send" in done.stdout


def test_import_sqsq_alone_imports_no_click() -> None:
    done = _run("-c", "import sys, sqsq; print('click' in sys.modules, 'sqsq.__main__' in sys.modules)")
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_python_m_sqsq_without_the_cli_extra_says_which_install_brings_it() -> None:
    code = ("import runpy, sys; sys.modules['yaml'] = None; sys.argv = ['sqsq', 'template', 'tests.apps.shop:app']; "
            "runpy.run_module('sqsq', run_name='__main__', alter_sys=True)")
    done = _run("-c", code)
    assert done.returncode == EXIT_CONFIG
    assert done.stderr.strip().splitlines()[-1] == 'error: sqsq template needs PyYAML: pip install "sqsq[cli]"'
