"""A producer in another language: Node.js with the official @aws-sdk/client-sqs (infra/node-producer), driven by
`sqsq schema` output, sends to the local AWS and a real worker process runs what it sent.

Needs `node` and `npm ci` in infra/node-producer (.ci/run does both). Under CI=true a missing one fails the test;
elsewhere it skips with the command to run.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqsq.app import AsyncResult
from sqsq.errors import SignatureInvalid
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope, undecodable_id
from sqsq.results import Status
from sqsq.schema import app_schema
from sqsq.signing import KeyRing
from tests.apps import shop as shop_app
from tests.conftest import ROOT, Deployed, deploy

PRODUCER = ROOT / "infra" / "node-producer"
APP = "tests.apps.shop:app"
KEYS = "k1:" + base64.b64encode(b"node-producer-secret-of-32-bytes").decode()
OTHER_SECRET = base64.b64encode(b"a-different-secret-of-32-bytes!!").decode()


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, with the producer's npm dependencies installed."""
    found = shutil.which("node")
    problem = None
    if found is None:
        problem = "node is not installed (apt-get install -y nodejs npm)"
    elif not (PRODUCER / "node_modules" / "@aws-sdk" / "client-sqs").is_dir():
        problem = f"the Node producer's dependencies are not installed (cd {PRODUCER} && npm ci)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}: .ci/run must install them", pytrace=False)
        pytest.skip(problem)
    assert found is not None
    return found


def _produce(node: str, schema_file: Path, task: str, args: Any, env: dict[str, str], *extra: str
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [node, str(PRODUCER / "send.mjs"), "--schema", str(schema_file), "--task", task, "--args", json.dumps(args),
         *extra],
        env=env, capture_output=True, text=True, timeout=60,
    )


def _sent(node: str, schema_file: Path, task: str, args: Any, env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = _produce(node, schema_file, task, args, env, *extra)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _schema_file(shop: Deployed) -> Path:
    printed = shop.cli("schema", APP)
    assert printed.returncode == 0, printed.stderr
    path = shop.tmp / "schema.json"
    path.write_text(printed.stdout)
    return path


def _burst(shop: Deployed) -> None:
    proc = shop.spawn("worker", APP, "--wait-time-seconds", "1", "--burst")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-3000:]


@pytest.fixture
def signed_shop(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    deployed = deploy(shop_app.app, local_aws, tmp_path, signing_keys=KEYS)
    try:
        yield deployed
    finally:
        deployed.close()
        shop_app.app._setting_overrides.pop("signing_keys", None)
        shop_app.app.configure()


def test_node_signatures_verify_with_sqsqs_keyring(node: str, tmp_path: Path) -> None:
    schema = app_schema(shop_app.app)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(schema))
    rng = random.Random(10)
    floats = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30) for _ in range(300)]
    args = {
        "floats": floats, "whole": [2.0, 1e15, 1e16, 1e21, 1e22, -0.0, 0.0001, 0.00001, 123.456],
        "ints": [0, -7, 2**53, 10**20], "text": "caf\u00e9 \u2603 \U0001f40d \x7f \t\n \"q\" \\ \ufffe",
        "\uff61": 1, "\U0001f40d": 2, "z": {"b": [True, None, {}], "a": []},  # U+FF61 < U+1F40D by code point
    }
    env = {**os.environ, "SQSQ_SIGNING_KEYS": KEYS}
    ring = KeyRing.parse(KEYS)
    for sent_at in ("1764470000", "1764470000.125", "0.5"):
        done = _produce(node, schema_file, "tests.add", args, env, "--dry-run", "--sent-at", sent_at)
        assert done.returncode == 0, done.stderr
        envelope = Envelope.from_body(done.stdout.strip())
        ring.verify(envelope)
        assert envelope.kid == "k1" and envelope.args["text"] == args["text"]
    tampered = Envelope.from_body(done.stdout.strip().replace('"ints":[0', '"ints":[1'))
    with pytest.raises(SignatureInvalid):
        ring.verify(tampered)


def test_node_producer_tasks_run_on_a_worker_and_bad_args_are_recorded_failures(node: str, shop: Deployed) -> None:
    schema_file = _schema_file(shop)
    added = _sent(node, schema_file, "tests.add", {"x": 20, "y": 22}, shop.env)
    resized = _sent(node, schema_file, "tests.apps.shop.resize", {"key": "a.png"}, shop.env)
    wrong = _sent(node, schema_file, "tests.add", {"x": "one", "y": 2}, shop.env)
    assert (added["queue_name"], resized["queue_name"]) == (shop.queue("default"), shop.queue("images"))
    _burst(shop)
    assert AsyncResult(added["id"], app=shop.app, task=shop_app.add).get(timeout_seconds=10) == 42
    assert AsyncResult(resized["id"], app=shop.app).get(timeout_seconds=10) == {"key": "a.png", "width": 256}
    record = AsyncResult(wrong["id"], app=shop.app).record()
    assert record is not None and record.status is Status.FAILURE
    assert record.error_type == "ValidationError"
    assert "invalid arguments for task 'tests.add'" in (record.error_message or "")
    assert "x:" in (record.error_message or "")


def test_node_producer_refuses_a_task_the_schema_does_not_list(node: str, shop: Deployed) -> None:
    done = _produce(node, _schema_file(shop), "tests.nope", {}, shop.env)
    assert done.returncode == 3
    assert "tests.nope" in done.stderr


def test_signed_app_runs_node_signed_messages_and_dead_letters_a_wrong_key(node: str, signed_shop: Deployed) -> None:
    shop = signed_shop
    schema_file = _schema_file(shop)
    assert json.loads(schema_file.read_text())["signing"]["key_ids"] == ["k1"]
    unsigned_env = {k: v for k, v in shop.env.items() if k != "SQSQ_SIGNING_KEYS"}
    refused = _produce(node, schema_file, "tests.add", {"x": 1, "y": 1}, unsigned_env)
    assert refused.returncode == 3 and "SQSQ_SIGNING_KEYS" in refused.stderr
    signed = _sent(node, schema_file, "tests.add", {"x": 2, "y": 3}, shop.env)
    forger_env = {**shop.env, "SQSQ_SIGNING_KEYS": f"k1:{OTHER_SECRET}"}
    fixed = ("--id", "forged-1", "--sent-at", "1764470000.5")
    body = _produce(node, schema_file, "tests.add", {"x": 6, "y": 6}, forger_env, *fixed, "--dry-run").stdout.strip()
    forged = _sent(node, schema_file, "tests.add", {"x": 6, "y": 6}, forger_env, *fixed)
    assert signed["signed"] and forged["signed"]
    _burst(shop)
    assert AsyncResult(signed["id"], app=shop.app, task=shop_app.add).get(timeout_seconds=10) == 5
    assert AsyncResult(forged["id"], app=shop.app).record() is None  # never ran, nothing under the id it claims
    filed = AsyncResult(undecodable_id(body), app=shop.app).record()
    assert filed is not None and (filed.status, filed.error_type) == (Status.FAILURE, "SignatureInvalid")
