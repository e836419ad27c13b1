"""Issue 9's forgeries and signed envelopes against the local AWS: a worker process, the DLQ CLI, SSM and
Secrets Manager on moto server."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from sqsq.app import App
from sqsq.errors import TaskIdConflict
from sqsq.local.server import LocalAwsServer
from sqsq.message import Envelope, undecodable_id
from sqsq.results import Status
from sqsq.transport import OutgoingMessage
from tests.conftest import Deployed, deploy
from tests.integration.test_dlq_cli import APP, run, run_worker_until_drained

SECRET = base64.b64encode(b"integration-secret-32-bytes-long").decode()
OLD_SECRET = base64.b64encode(b"older-secret-of-thirty-two-bytes").decode()
KEYS = f"k1:{SECRET}"


@pytest.fixture
def signed_shop(local_aws: LocalAwsServer, tmp_path: Path) -> Any:
    from tests.apps.shop import app

    deployed = deploy(app, local_aws, tmp_path, signing_keys=KEYS)
    try:
        yield deployed
    finally:
        deployed.close()
        app._setting_overrides.pop("signing_keys", None)
        app.configure()


def _send_raw(shop: Deployed, body: str) -> None:
    assert shop.app.transport.send_batch(shop.queue(), [OutgoingMessage("0", body)]) == []


def _dlq_list(shop: Deployed) -> list[dict[str, Any]]:
    listed = run("dlq", "list", APP, "default", "--json")
    assert listed.exit_code == 0, listed.output
    entries: list[dict[str, Any]] = json.loads(listed.stdout)
    return entries


def test_signed_worker_dead_letters_a_forgery_as_signature_missing_and_keeps_the_victims_result(
    signed_shop: Deployed,
) -> None:
    shop = signed_shop
    victim = shop.app.send("tests.add", {"x": 1, "y": 2})
    run_worker_until_drained(shop)
    assert victim.get(timeout_seconds=5) == 3
    forged = Envelope(id=victim.id, task="tests.apps.shop.echo_order", args={"order": {}}, generation=1).to_body()
    _send_raw(shop, forged)

    proc_log = _drain_and_log(shop)

    assert victim.get(timeout_seconds=5) == 3
    (entry,) = _dlq_list(shop)
    assert entry["error_type"] == "SignatureMissing" and entry["task_id"] == undecodable_id(forged)
    assert entry["status"] == "FAILURE"
    assert SECRET not in proc_log


def _drain_and_log(shop: Deployed) -> str:
    proc = shop.spawn("worker", APP, "--burst", "--wait-time-seconds", "1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def test_signed_worker_never_lets_a_forgery_pre_empt_a_delayed_task(signed_shop: Deployed) -> None:
    shop = signed_shop
    real = shop.app.send("tests.add", {"x": 20, "y": 22}, delay_seconds=2)
    forged = Envelope(id=real.id, task="tests.add", args={"x": 600, "y": 66}).to_body()
    _send_raw(shop, forged)

    run_worker_until_drained(shop)

    assert real.get(timeout_seconds=10) == 42
    assert [e["error_type"] for e in _dlq_list(shop)] == ["SignatureMissing"]


def test_unsigned_worker_refuses_a_forgery_of_another_task_over_a_finished_result(shop: Deployed) -> None:
    victim = shop.app.send("tests.add", {"x": 1, "y": 2})
    run_worker_until_drained(shop)
    forged = Envelope(id=victim.id, task="tests.apps.shop.mark", args={"tag": "FORGED"}, generation=1).to_body()
    _send_raw(shop, forged)

    run_worker_until_drained(shop)

    assert victim.get(timeout_seconds=5) == 3
    (entry,) = _dlq_list(shop)
    assert entry["error_type"] == "TaskIdConflict" and entry["task_id"] == undecodable_id(forged)


def test_unsigned_worker_dead_letters_the_real_run_a_forgery_pre_empted(shop: Deployed) -> None:
    # Signing off, a forgery of another task that arrives first: get() raises instead of returning its value,
    # and the real message is in the DLQ with TaskIdConflict (not silently acknowledged).
    real = shop.app.send("tests.add", {"x": 20, "y": 22}, delay_seconds=3)
    _send_raw(shop, Envelope(id=real.id, task="tests.apps.shop.mark", args={"tag": "666"}).to_body())
    run_worker_until_drained(shop)
    assert shop.app.results.get(real.id) is not None  # the forgery ran first and wrote under the id

    run_worker_until_drained(shop)  # now the delayed real one

    with pytest.raises(TaskIdConflict):
        real.get(timeout_seconds=5)
    entries = _dlq_list(shop)
    assert [(e["task"], e["error_type"]) for e in entries] == [("tests.add", "TaskIdConflict")]


def test_redrive_of_a_signed_dead_letter_re_signs_it_and_it_runs(signed_shop: Deployed, tmp_path: Path) -> None:
    shop = signed_shop
    marker = tmp_path / "fixed"
    handle = shop.app.send("tests.apps.shop.needs_marker", {"marker": str(marker)})
    run_worker_until_drained(shop)
    failed = handle.record()
    assert failed is not None and failed.status is Status.FAILURE
    marker.touch()

    moved = run("dlq", "redrive", APP, "default", "--all")
    assert moved.exit_code == 0, moved.output
    run_worker_until_drained(shop)

    assert handle.get(timeout_seconds=5) == "fixed"
    record = handle.record()
    assert record is not None and record.generation == 1
    assert _dlq_list(shop) == []


def test_redrive_refuses_to_re_sign_a_forgery(signed_shop: Deployed) -> None:
    shop = signed_shop
    forged = Envelope(id=str(uuid.uuid4()), task="tests.add", args={"x": 1, "y": 1}).to_body()
    _send_raw(shop, forged)
    run_worker_until_drained(shop)

    moved = run("dlq", "redrive", APP, "default", "--all", "--json")

    assert shop.app.results.get(Envelope.from_body(forged).id) is None
    assert "SignatureMissing" in moved.output and "not signed" in moved.output
    assert len(_dlq_list(shop)) == 1


def test_rotated_worker_runs_messages_signed_with_the_old_key(signed_shop: Deployed) -> None:
    shop = signed_shop
    shop.app.configure(signing_keys=f"k0:{OLD_SECRET}")  # the producer still on the old key
    handle = shop.app.send("tests.add", {"x": 2, "y": 5})
    shop.app.configure(signing_keys=KEYS)

    proc = shop.spawn("worker", APP, "--burst", "--wait-time-seconds", "1",
                      extra_env={"SQSQ_SIGNING_KEYS": f"k1:{SECRET},k0:{OLD_SECRET}"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()

    assert handle.get(timeout_seconds=5) == 7


def test_signing_keys_are_read_from_an_ssm_parameter_by_producer_and_worker(shop: Deployed) -> None:
    name = f"/sqsq-test/{uuid.uuid4().hex[:8]}/signing-keys"
    ssm = boto3.client("ssm", endpoint_url=shop.server.endpoint_url, region_name="us-east-1")
    ssm.put_parameter(Name=name, Value=KEYS, Type="SecureString")
    shop.app.configure(signing_keys_parameter=name)
    try:
        handle = shop.app.send("tests.add", {"x": 4, "y": 5})
        (message,) = shop.app.transport.receive(shop.queue(), 1, 1, visibility_timeout_seconds=0)
        assert Envelope.from_body(message.body).kid == "k1"

        err = _drain_and_log_env(shop, {"SQSQ_SIGNING_KEYS_PARAMETER": name})
        assert handle.get(timeout_seconds=5) == 9
        assert SECRET not in err
    finally:
        shop.app._setting_overrides.pop("signing_keys_parameter", None)
        shop.app.configure()


def _drain_and_log_env(shop: Deployed, env: dict[str, str]) -> str:
    proc = shop.spawn("worker", APP, "--burst", "--wait-time-seconds", "1", extra_env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    return err.decode()


def test_signing_keys_are_read_from_a_secrets_manager_secret(local_aws: LocalAwsServer) -> None:
    name = f"sqsq-test/{uuid.uuid4().hex[:8]}"
    sm = boto3.client("secretsmanager", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    sm.create_secret(Name=name, SecretString=f"k2:{OLD_SECRET},{KEYS}")
    app = App("secret-read", endpoint_url=local_aws.endpoint_url, signing_keys_secret=name)
    keyring = app.keyring
    assert keyring is not None and keyring.key_ids == ("k2", "k1")


def test_a_missing_parameter_is_a_config_error_naming_it(local_aws: LocalAwsServer) -> None:
    from sqsq.errors import ConfigError

    app = App("missing-param", endpoint_url=local_aws.endpoint_url, signing_keys_parameter="/no/such/param")
    with pytest.raises(ConfigError, match="/no/such/param"):
        _ = app.keyring


def test_lambda_handler_reads_the_parameter_once_at_init_and_verifies_with_it(shop: Deployed) -> None:
    from sqsq.lambda_handler import lambda_handler
    from sqsq.local.esm import lambda_record

    name = f"/sqsq-test/{uuid.uuid4().hex[:8]}/keys"
    boto3.client("ssm", endpoint_url=shop.server.endpoint_url, region_name="us-east-1").put_parameter(
        Name=name, Value=KEYS, Type="SecureString"
    )
    shop.app.configure(signing_keys_parameter=name)
    try:
        shop.server.reset_request_counts()
        handler = lambda_handler(shop.app, emit_metrics=False)  # what sqsq.lambda_entry does at init
        assert shop.server.request_counts().get("ssm:GetParameter") == 1
        good = shop.app.send("tests.add", {"x": 1, "y": 1})
        _send_raw(shop, Envelope(id="forged-id", task="tests.add", args={"x": 600, "y": 66}).to_body())
        arn = shop.app.transport.queue_info(shop.queue()).arn
        for _ in range(2):
            messages = shop.app.transport.receive(shop.queue(), 10, 1)
            handler({"Records": [lambda_record(m, arn, "us-east-1") for m in messages]}, None)

        assert good.get(timeout_seconds=5) == 2
        assert shop.app.results.get("forged-id") is None
        assert shop.server.request_counts().get("ssm:GetParameter") == 1
    finally:
        shop.app._setting_overrides.pop("signing_keys_parameter", None)
        shop.app.configure()
