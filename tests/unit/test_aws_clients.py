"""sqsq's own AWS clients come from botocore alone; other services keep boto3's customisations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
from sqsq.config import load_settings
from sqsq.transport.aws import AwsClients
clients = AwsClients(load_settings({}, endpoint_url="http://127.0.0.1:9", region="us-east-1"))
sqs, receive, ddb = clients.sqs, clients.sqs_receive, clients.dynamodb
print(sqs.meta.service_model.service_name, ddb.meta.service_model.service_name, receive is not sqs)
print("boto3" in sys.modules, "s3transfer" in sys.modules)
s3 = clients.client("s3")
print(hasattr(s3, "upload_fileobj"))
"""


def test_sqs_and_dynamodb_clients_are_built_without_importing_boto3_and_s3_keeps_its_transfer_methods() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "AWS_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["sqs dynamodb True", "False False", "True"]
