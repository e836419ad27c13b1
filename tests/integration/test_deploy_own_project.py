"""A project of one's own, outside this repository, taken all the way to a deployment, as a new user would:

install sqsq from its wheel into a fresh venv, render the project's template (`sqsq template -o template.yaml`),
`sam build` it (SAM CLI from PyPI, in its own venv), run the *built* functions in the real Lambda runtime interface
client against the local AWS, break the layer on purpose, and `sam package` the build into the local S3.

The SAM CLI lives in `.venv-sam` (installed by `make test`; it pins its own boto3, so it has a venv of its own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from sqsq.local.cloudformation import deploy_template, settings_exports
from sqsq.local.lambda_runtime.built import run_built_template
from sqsq.local.server import LocalAwsServer
from sqsq.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
APP = "orders.tasks:app"
TASKS = '''"""The orders app: two tasks on two queues."""

import sqsq

app = sqsq.App("orders")


@app.task(name="orders.total", queue="totals")
def total(prices: list[int]) -> int:
    return sum(prices)


@app.task(name="orders.refuse", queue="checks", max_retries=0)
def refuse(order_id: str) -> None:
    raise ValueError(f"order {order_id} is not allowed")
'''
SEND = """
import json, sqsq
from orders.tasks import refuse, total
ids = [sqsq.send(total, {"prices": [1, 2, 3]}).id, sqsq.send(total, {"prices": [40, 2]}).id,
       sqsq.send(refuse, {"order_id": "A7"}).id]
print(json.dumps(ids))
"""
OUTCOMES = """
import json, sys, sqsq
from orders.tasks import app
out = []
for task_id in json.loads(sys.argv[1]):
    record = sqsq.AsyncResult(task_id, app=app).record()
    out.append(None if record is None else [record.status.value, record.result_json, record.error_type, record.error_message])
print(json.dumps(out))
"""


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@dataclass
class Project:
    folder: Path
    python: Path
    sqsq: Path

    @property
    def build(self) -> Path:
        return self.folder / ".aws-sam" / "build"


def _sam_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "VIRTUAL_ENV"))}
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, sqsq_wheel: Path) -> Project:
    assert SAM.exists(), f"{SAM} is missing: `make test` installs the SAM CLI into .venv-sam"
    base = tmp_path_factory.mktemp("own-project")
    folder = base / "orders-service"
    (folder / "orders").mkdir(parents=True)
    (folder / "orders" / "__init__.py").write_text("")
    (folder / "orders" / "tasks.py").write_text(TASKS)
    (folder / "tests").mkdir()
    (folder / "tests" / "test_orders.py").write_text("def test_nothing() -> None:\n    assert True\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "README.md").write_text("# orders\n")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], base)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{sqsq_wheel}[lambda,cli]"], base)
    project = Project(folder, venv / "bin" / "python", venv / "bin" / "sqsq")
    rendered = _run([str(project.sqsq), "template", APP, "-o", "template.yaml"], folder, _sam_env())
    assert "CodeUri orders" in rendered, rendered
    _run([str(SAM), "build"], folder, _sam_env(), timeout=900)
    return project


def test_the_template_command_writes_what_sam_build_needs_and_nothing_from_this_repo(project: Project) -> None:
    template = load_template(project.folder / "template.yaml")
    functions = {rid: r["Properties"] for rid, r in template["Resources"].items()
                 if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == {"TotalsFunction", "ChecksFunction", "DefaultFunction"}
    for props in functions.values():
        assert (props["CodeUri"], props["Handler"]) == ("orders", "sqsq.lambda_entry.handler")
        assert props["Environment"]["Variables"]["SQSQ_APP"] == APP
    requirements = (project.folder / "sqsq-layer" / "requirements.txt").read_text().splitlines()
    assert next(line for line in requirements if not line.startswith("#")).startswith(".sqsq/wheels/sqsq-")
    samconfig = (project.folder / "samconfig.toml").read_text()
    assert "template_file" not in samconfig and "[default.deploy.parameters]" in samconfig


def test_the_built_layer_holds_sqsq_and_its_dependencies_and_the_function_only_the_app(project: Project) -> None:
    layer = project.build / "DependenciesLayer" / "python"
    for package in ("sqsq", "pydantic", "pydantic_core", "aws_lambda_powertools", "boto3"):
        assert (layer / package).is_dir(), package
    assert not (layer / "rich").exists(), "the CLI's terminal UI does not belong in the layer"
    code = project.build / "TotalsFunction"
    assert sorted(p.name for p in code.iterdir()) == ["__init__.py", "tasks.py"]
    checked = _run([str(project.sqsq), "template", APP, "--check", str(project.build / "template.yaml")],
                   project.folder, _sam_env())
    assert ": ok" in checked


def _deploy(local_aws: LocalAwsServer, template: Path, **parameters: str) -> dict[str, str]:
    stage = f"t{uuid.uuid4().hex[:8]}"
    stack = deploy_template(template, local_aws.endpoint_url, parameters={"Stage": stage, **parameters})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    return {**env, **local_aws.client_environment(), **settings_exports(stack), "STAGE": stage}


def test_built_functions_in_the_runtime_client_run_the_tasks_and_dead_letter_the_failure_with_its_reason(
    project: Project, local_aws: LocalAwsServer
) -> None:
    env = _deploy(local_aws, project.folder / "template.yaml")
    ids = json.loads(_run([str(project.python), "-c", SEND], project.folder, env))
    stats, pools = run_built_template(project.build, local_aws.endpoint_url, parameters={"Stage": env["STAGE"]},
                                      timeout_seconds=120)
    outcomes = json.loads(_run([str(project.python), "-c", OUTCOMES, json.dumps(ids)], project.folder, env))
    assert [o[:2] for o in outcomes[:2]] == [["SUCCESS", "6"], ["SUCCESS", "42"]]
    assert outcomes[2][0] == "FAILURE" and outcomes[2][2] == "ValueError" and "A7 is not allowed" in outcomes[2][3]
    letters = json.loads(_run([str(project.sqsq), "dlq", "list", APP, "checks", "--json"], project.folder, env))
    assert [(d["task_id"], d["error_type"]) for d in letters] == [(ids[2], "ValueError")]
    assert pools["TotalsFunction"]["cold_starts"] >= 1 and pools["ChecksFunction"]["cold_starts"] >= 1
    print(f"\ncold starts (init seconds): { {f: p['init_seconds'] for f, p in pools.items()} }")
    assert stats.records_deleted == 3  # two successes; the failure was copied to the DLQ and deleted by sqsq


def test_a_layer_without_pydantic_shows_the_import_error_and_loses_no_message(
    project: Project, local_aws: LocalAwsServer, tmp_path: Path
) -> None:
    broken = tmp_path / "build"
    shutil.copytree(project.build, broken, symlinks=True)
    shutil.rmtree(broken / "DependenciesLayer" / "python" / "pydantic")
    template = load_template(broken / "template.yaml")
    for res in template["Resources"].values():  # quick returns for the test: 2 s visibility, 2 receives
        if res["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in res["Properties"]:
            res["Properties"]["VisibilityTimeout"] = 2
    (broken / "template.yaml").write_text(json.dumps(template))
    env = _deploy(local_aws, broken / "template.yaml", MaxReceiveCount="2")
    ids = json.loads(_run([str(project.python), "-c", SEND], project.folder, env))
    logs = tmp_path / "logs"
    stats, pools = run_built_template(broken, local_aws.endpoint_url, parameters={"Stage": env["STAGE"]},
                                      log_dir=logs, timeout_seconds=25, stop_when_empty=True)
    assert stats.records_deleted == 0 and pools["TotalsFunction"]["init_errors"] >= 1
    assert "No module named 'pydantic'" in (logs / "TotalsFunction.log").read_text()
    sqs = boto3.client("sqs", endpoint_url=local_aws.endpoint_url, region_name="us-east-1")
    in_dlqs = 0
    for queue in ("totals", "checks"):
        url = sqs.get_queue_url(QueueName=f"{env['SQSQ_QUEUE_PREFIX']}{queue}-dlq")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        in_dlqs += int(attrs["ApproximateNumberOfMessages"])
    assert in_dlqs == len(ids), "every message the broken function could not run is in a DLQ"
    letters = json.loads(_run([str(project.sqsq), "dlq", "list", APP, "totals", "--json"], project.folder, env))
    assert {d["task_id"] for d in letters} == set(ids[:2])
    assert all(d["error_type"] == "NoOutcomeRecorded" and "receives" in d["error_message"] for d in letters), letters


def _zip_names(s3: Any, bucket: str, key: str) -> list[str]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    print(f"\nsam package uploaded {key}: {len(body)} bytes")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sqsq-{uuid.uuid4().hex}.zip"
    path.write_bytes(body)
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    finally:
        path.unlink()


def test_sam_package_uploads_a_layer_with_the_dependencies_and_functions_with_only_the_app(
    project: Project, local_aws: LocalAwsServer
) -> None:
    bucket = f"pkg-{uuid.uuid4().hex[:10]}"
    # SAM builds path-style S3 URLs for moto only when the endpoint says "localhost" (not 127.0.0.1).
    endpoint = local_aws.endpoint_url.replace("127.0.0.1", "localhost")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    env = {**_sam_env(), **local_aws.client_environment(), "AWS_ENDPOINT_URL": endpoint}
    _run([str(SAM), "package", "--s3-bucket", bucket, "--output-template-file", "packaged.yaml"], project.folder, env)
    packaged = load_template(project.folder / "packaged.yaml")
    layer_uri = packaged["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"]
    layer = _zip_names(s3, bucket, layer_uri.rsplit("/", 1)[1])
    for package in ("sqsq", "pydantic", "aws_lambda_powertools"):
        assert f"python/{package}/__init__.py" in layer, package
    code_uri = packaged["Resources"]["TotalsFunction"]["Properties"]["CodeUri"]
    code = _zip_names(s3, bucket, code_uri.rsplit("/", 1)[1])
    assert sorted(code) == ["__init__.py", "tasks.py"]
    stack = deploy_template(project.folder / "packaged.yaml", local_aws.endpoint_url,
                            parameters={"Stage": f"p{uuid.uuid4().hex[:8]}"})
    assert {"TotalsFunction", "ChecksFunction", "DefaultFunction"} <= set(stack.physical_ids)


@pytest.fixture
def fargate_template(project: Project) -> Iterator[Path]:
    folder = project.folder / "with-workers"
    folder.mkdir(exist_ok=True)
    shutil.copytree(project.folder / "orders", folder / "orders", dirs_exist_ok=True)
    _run([str(project.sqsq), "template", APP, "-o", "template.yaml", "--fargate"], folder, _sam_env())
    yield folder / "template.yaml"


@pytest.mark.parametrize("which", ["lambda", "fargate"])
def test_sam_validate_lint_and_cfn_lint_pass_on_the_rendered_templates(
    project: Project, fargate_template: Path, which: str
) -> None:
    template = project.folder / "template.yaml" if which == "lambda" else fargate_template
    env = {**_sam_env(), "AWS_DEFAULT_REGION": "us-east-1"}
    out = _run([str(SAM), "validate", "--lint", "-t", str(template)], template.parent, env)
    assert "is a valid SAM Template" in out or "valid" in out.lower(), out
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    _run([str(cfn_lint), str(template)], template.parent)
    if which == "fargate":
        assert (template.parent / "Dockerfile").read_text().count(f'"sqsq", "worker", "{APP}"') == 1
