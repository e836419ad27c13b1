"""Without an optional dependency, every command and entry point says which `pip install` to run, in one line.

Each case runs as a real subprocess in which the optional modules are unimportable (``sys.modules[name] = None``,
what ``import name`` meets when the distribution is not installed), then runs the entry point as ``python -m``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, Deployed, stop_process

APP = "tests.apps.shop:app"

RUN_WITHOUT = """
import runpy, sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
"""``python -c RUN_WITHOUT BLOCKED MODULE ARGS...``: ``python -m MODULE ARGS...`` with BLOCKED unimportable."""

CLI = 'error: sqsq {} needs {}: pip install "sqsq[{}]"'

CASES = {
    "template": (["yaml"], ["sqsq.cli", "template", APP], CLI.format("template", "PyYAML", "cli")),
    "template --check": (
        ["yaml"], ["sqsq.cli", "template", APP, "--check", "template.yaml"], CLI.format("template", "PyYAML", "cli")),
    "local": (["moto"], ["sqsq.cli", "local", APP, "--port", "0"], CLI.format("local", "moto[server]", "local")),
    "local, moto without its server extra": (
        ["flask"], ["sqsq.cli", "local", APP, "--port", "0"], CLI.format("local", "moto[server]", "local")),
    "local --template": (
        ["samtranslator"], ["sqsq.cli", "local", APP, "--port", "0", "--template", "template.yaml"],
        CLI.format("local --template", "aws-sam-translator", "local")),
    "local --template --run-lambdas": (
        ["aws_lambda_powertools"],
        ["sqsq.cli", "local", APP, "--port", "0", "--template", "template.yaml", "--run-lambdas"],
        CLI.format("local --template --run-lambdas", "aws-lambda-powertools", "lambda")),
    "local without any extra": (
        ["rich", "yaml", "moto", "samtranslator", "aws_lambda_powertools"],
        ["sqsq.cli", "local", APP, "--port", "0", "--template", "template.yaml", "--run-lambdas"],
        CLI.format("local --template --run-lambdas",
                   "moto[server], PyYAML, aws-sam-translator and aws-lambda-powertools", "lambda,local")),
    "lambda-local": (
        ["yaml"], ["sqsq.cli", "lambda-local", "--endpoint-url", "http://127.0.0.1:9"],
        CLI.format("lambda-local", "PyYAML", "cli")),
    "lambda-local, no powertools": (
        ["aws_lambda_powertools"], ["sqsq.cli", "lambda-local", "--endpoint-url", "http://127.0.0.1:9"],
        CLI.format("lambda-local --in-process", "aws-lambda-powertools", "lambda")),
    "queues": (["rich"], ["sqsq.cli", "queues", APP], CLI.format("queues without --json", "rich", "cli")),
    "dlq list": (["rich"], ["sqsq.cli", "dlq", "list", APP, "default"], CLI.format("dlq list without --json", "rich", "cli")),
    "dlq redrive --dry-run": (
        ["rich"], ["sqsq.cli", "dlq", "redrive", APP, "default", "--all", "--dry-run"],
        CLI.format("dlq redrive --dry-run without --json", "rich", "cli")),
    "python -m sqsq.demo": (
        ["rich", "moto"], ["sqsq.demo", "--limit", "1"],
        'error: python -m sqsq.demo needs rich and moto[server]: pip install "sqsq[local]"'),
    "python -m sqsq.demo --runtime lambda": (
        ["aws_lambda_powertools"], ["sqsq.demo", "--limit", "1", "--runtime", "lambda"],
        'error: python -m sqsq.demo --runtime lambda needs aws-lambda-powertools: pip install "sqsq[lambda]"'),
    "python -m sqsq.local.server": (
        ["moto"], ["sqsq.local.server", "--port", "0"],
        'error: python -m sqsq.local.server needs moto[server]: pip install "sqsq[local]"'),
}


def run_without(blocked: list[str], module_and_args: list[str], env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` with the ``blocked`` modules unimportable, from the repository root."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_WITHOUT, ",".join(blocked), *module_and_args],
        cwd=ROOT, env=env or {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc, signal.SIGKILL, timeout_seconds=10)  # type: ignore[arg-type]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("case", CASES)
def test_missing_optional_dependency_is_one_line_naming_the_install(case: str) -> None:
    blocked, module_and_args, expected = CASES[case]
    done = run_without(blocked, module_and_args)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.stderr.splitlines() == [expected]
    assert (done.returncode, done.stdout) == (3, "")


def test_lambda_handler_without_powertools_raises_missing_extra() -> None:
    code = (
        "import sqsq\n"
        "app = sqsq.App('shop')\n"
        "try:\n"
        "    sqsq.lambda_handler(app)\n"
        "except sqsq.ConfigError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules['aws_lambda_powertools'] = None\n{code}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'MissingExtra sqsq.lambda_handler needs aws-lambda-powertools: pip install "sqsq[lambda]"\n'


def test_every_module_but_the_lambda_entry_points_imports_without_any_extra() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "for name in ('rich', 'yaml', 'moto', 'werkzeug', 'flask', 'samtranslator', 'aws_lambda_powertools'):\n"
        "    sys.modules[name] = None\n"
        "import sqsq\n"
        "failed = []\n"
        "for info in pkgutil.walk_packages(sqsq.__path__, 'sqsq.'):\n"
        "    try:\n"
        "        importlib.import_module(info.name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{info.name}: {type(exc).__name__}')\n"
        "print(failed)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # sqsq.lambda_entry builds its handler at import (Lambda's init phase), so it needs the lambda extra too; of
    # the sqsq.lambda_handler package, the modules that import Powertools need it (its __init__ imports nothing)
    assert done.stdout.strip() == (
        "['sqsq.lambda_entry: MissingExtra', 'sqsq.lambda_handler.batch: MissingExtra', "
        "'sqsq.lambda_handler.handler: MissingExtra', 'sqsq.lambda_handler.metrics: MissingExtra']"
    )


def test_json_output_needs_no_rich(shop: Deployed) -> None:
    queues = run_without(["rich"], ["sqsq.cli", "queues", APP, "--json"], env=shop.env)
    assert queues.returncode == 0, queues.stderr
    assert [row["queue"] for row in json.loads(queues.stdout)] == [shop.queue(q) for q in shop.app.logical_queues()]
    listed = run_without(["rich"], ["sqsq.cli", "dlq", "list", APP, "default", "--json"], env=shop.env)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, []), listed.stderr
    dry_run = run_without(["rich"], ["sqsq.cli", "dlq", "redrive", APP, "default", "--all", "--dry-run", "--json"],
                          env=shop.env)
    assert dry_run.returncode == 0, dry_run.stderr
    assert json.loads(dry_run.stdout)["scanned"] == 0
