"""What the Lambda entry point loads: no CLI/terminal modules, no Powertools parser models, no DLQ tooling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import json, sys
import sqsq.lambda_entry
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_importing_the_entry_point() -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _loaded(modules: set[str], *tops: str) -> list[str]:
    return sorted(m for m in modules if any(m == t or m.startswith(t + ".") for t in tops))


def test_lambda_entry_point_loads_no_cli_terminal_or_local_modules() -> None:
    modules = _modules_after_importing_the_entry_point()
    assert "sqsq.lambda_handler.handler" in modules  # the handler was built
    assert _loaded(modules, "click", "rich", "yaml", "pygments", "moto", "sqsq.cli", "sqsq.local", "sqsq.template") == []


def test_lambda_entry_point_loads_powertools_batch_before_pydantic_so_no_parser_models() -> None:
    modules = _modules_after_importing_the_entry_point()
    assert "pydantic" in modules and "aws_lambda_powertools.utilities.batch" in modules
    assert _loaded(modules, "aws_lambda_powertools.utilities.parser") == []


def test_importing_sqsq_loads_neither_pydantic_nor_boto3() -> None:
    code = "import sys, sqsq; print([m for m in ('pydantic', 'boto3', 'aws_lambda_powertools') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_sqsq_lambda_handler_is_callable_whatever_was_imported_first() -> None:
    code = (
        "from sqsq.lambda_handler import SqsLambdaHandler, lambda_handler\n"
        "import sqsq.lambda_handler.handler\n"
        "import sqsq\n"
        "h = sqsq.lambda_handler(sqsq.App('t'), emit_metrics=False)\n"
        "print(type(h).__name__, sqsq.lambda_handler is lambda_handler, isinstance(h, SqsLambdaHandler))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "SqsLambdaHandler True True\n"), done.stderr


FIRST_INVOCATION_PATH = """
import json, sys
import sqsq.lambda_entry, sqsq.transport.sqs, sqsq.results.dynamodb
from sqsq.config import load_settings
from sqsq.transport.aws import AwsClients
clients = AwsClients(load_settings({}, endpoint_url="http://127.0.0.1:9", region="us-east-1"))
clients.sqs, clients.sqs_receive, clients.dynamodb  # built, no request made
print(json.dumps(sorted(sys.modules)))
"""

NOT_ON_THE_LAMBDA_PATH = (
    "click", "rich", "yaml", "fastapi", "croniter", "moto", "boto3", "s3transfer", "multiprocessing",
    "sqsq.cli", "sqsq.local", "sqsq.template", "sqsq.sweep", "sqsq.dlq", "sqsq.worker",
)


def test_lambda_path_with_its_aws_clients_loads_no_cli_boto3_transfer_or_dlq_modules() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "AWS_"))}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT),
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    done = subprocess.run([sys.executable, "-c", FIRST_INVOCATION_PATH], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"sqsq.lambda_handler.handler", "botocore.client"} <= modules
    assert _loaded(modules, *NOT_ON_THE_LAMBDA_PATH) == []
