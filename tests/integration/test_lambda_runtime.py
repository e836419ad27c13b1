"""Built functions in the real runtime interface client: a fake ``sam build`` output (task root + dependencies
layer) run by ``sqsq.local.lambda_runtime`` against the local AWS, each invocation in an ``awslambdaric`` process."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sqsq
from sqsq.errors import LocalInvocationTimedOut
from sqsq.local.cloudformation import deploy_template, settings_exports
from sqsq.local.esm import EsmStats, lambda_record
from sqsq.local.lambda_runtime import (
    FunctionPool,
    built_functions,
    functions_from_built_template,
    is_built_template,
    run_built_template,
)
from sqsq.local.server import LocalAwsServer
from sqsq.results import Status
from sqsq.template import TemplateOptions, dump_template, render_template
from tests.apps import runtime_app

ROOT = Path(__file__).resolve().parents[2]
MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT_SECONDS = 4
FUNCTION_TIMEOUT_SECONDS = 3
LAYER_DISTRIBUTIONS = ("pydantic", "pydantic-core", "typing-extensions", "annotated-types", "typing-inspection",
                       "aws-lambda-powertools", "jmespath")
HANDLER_SOURCE = "import sqsq\nfrom myapp.tasks import app\n\nhandler = sqsq.lambda_handler(app)\n"


def _copy_distribution(name: str, dest: Path) -> None:
    """Copy an installed distribution's files (its RECORD: modules, .pyc, dist-info) into ``dest``."""
    dist = metadata.distribution(name)
    for file in dist.files or []:
        if file.parts[0] == "..":
            continue  # console scripts
        src = Path(str(dist.locate_file(file)))
        if src.is_file():
            (dest / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / file)


def _layer(dest: Path, distributions: tuple[str, ...]) -> None:
    python = dest / "python"
    python.mkdir(parents=True)
    for name in distributions:
        _copy_distribution(name, python)
    # sqsq is installed editable here (its RECORD lists no modules): copy the package itself, as pip would.
    shutil.copytree(Path(sqsq.__file__).parent, python / "sqsq", ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact folders ``sam build`` would produce: the function's code and two layers."""
    root = tmp_path_factory.mktemp("sam-build")
    code = root / "DefaultFunction"
    (code / "myapp").mkdir(parents=True)
    (code / "myapp" / "__init__.py").write_text("")
    shutil.copy2(Path(runtime_app.__file__), code / "myapp" / "tasks.py")
    (code / "handler.py").write_text(HANDLER_SOURCE)
    _layer(root / "DependenciesLayer", LAYER_DISTRIBUTIONS)
    _layer(root / "NoPydanticLayer", tuple(d for d in LAYER_DISTRIBUTIONS if not d.startswith("pydantic")))
    return root


@dataclass
class Built:
    build: Path
    parameters: dict[str, str]
    endpoint_url: str
    log_dir: Path

    def run(self, **kwargs: Any) -> tuple[EsmStats, dict[str, Any]]:
        kwargs.setdefault("stop_when_empty", True)
        kwargs.setdefault("timeout_seconds", 60)
        return run_built_template(self.build, self.endpoint_url, parameters=self.parameters, log_dir=self.log_dir,
                                  **kwargs)

    @property
    def log_text(self) -> str:
        return (self.log_dir / "DefaultFunction.log").read_text()

    def pool(self) -> FunctionPool:
        (function,) = functions_from_built_template(self.build, self.endpoint_url, self.parameters, self.log_dir)
        assert isinstance(function.handler, FunctionPool)
        return function.handler


def _deploy(server: LocalAwsServer, sources: Path, tmp: Path, *, layer: str = "DependenciesLayer",
            memory_mb: int = 512, concurrency: int = 2) -> Built:
    options = TemplateOptions(handler="handler.handler", code_uri="DefaultFunction", layer_uri=layer,
                              memory_size_mb=memory_mb, maximum_concurrency=concurrency)
    template = render_template(runtime_app.app, options)
    res = template["Resources"]
    res["DefaultFunction"]["Properties"]["Timeout"] = FUNCTION_TIMEOUT_SECONDS
    for r in res.values():
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]:
            r["Properties"]["VisibilityTimeout"] = VISIBILITY_TIMEOUT_SECONDS
    for rid, r in res.items():  # as sam build marks what it copies
        r.setdefault("Metadata", {})["SamResourceId"] = rid
    build = tmp / "build"
    build.mkdir()
    for folder in ("DefaultFunction", layer):
        (build / folder).symlink_to(sources / folder, target_is_directory=True)
    (build / "template.yaml").write_text(dump_template(template))
    parameters = {"Stage": f"t{uuid.uuid4().hex[:8]}", "MaxReceiveCount": str(MAX_RECEIVE_COUNT)}
    stack = deploy_template(template, server.endpoint_url, parameters=parameters)
    env = settings_exports(stack)
    runtime_app.app.configure(endpoint_url=server.endpoint_url, queue_prefix=env["SQSQ_QUEUE_PREFIX"],
                              results_table=env["SQSQ_RESULTS_TABLE"])
    return Built(build, parameters, server.endpoint_url, tmp / "logs")


@pytest.fixture
def built(local_aws: LocalAwsServer, sources: Path, tmp_path: Path) -> Built:
    return _deploy(local_aws, sources, tmp_path)


def _queue() -> str:
    return runtime_app.app.queue_name(None)


def _event(count: int = 1) -> dict[str, Any]:
    """An SQS event of the next ``count`` messages of the queue, as Lambda would send it."""
    transport = runtime_app.app.transport
    messages = transport.receive(_queue(), count, 1)
    assert len(messages) == count
    arn = transport.queue_info(_queue()).arn
    return {"Records": [lambda_record(m, arn, "us-east-1") for m in messages]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_good_task_succeeds_in_the_built_function(built: Built) -> None:
    handle = runtime_app.app.send("rt.add", {"x": 2, "y": 3})

    stats, pools = built.run()

    assert handle.get(timeout_seconds=5) == 5
    assert (stats.records_received, stats.records_deleted) == (1, 1)
    pool = pools["DefaultFunction"]
    assert (pool["invocations"], pool["cold_starts"], len(pool["init_seconds"])) == (1, 1, 1)
    print(f"cold start (init) seconds: {pool['init_seconds'][0]:.3f}")
    assert "START RequestId" in built.log_text and "Init Duration" in built.log_text


def test_function_imports_only_from_its_artifact_and_the_runtime(built: Built) -> None:
    handle = runtime_app.app.send("rt.where", {})

    built.run()

    where = handle.get(timeout_seconds=5)
    task_root = str((built.build / "DefaultFunction").resolve())
    layer = (built.build / "DependenciesLayer").resolve()
    assert where["task_root"] == where["cwd"] == task_root
    first = list(dict.fromkeys(where["sys_path"]))  # `python -m` also puts the cwd (the task root) first
    assert first[:3] == [task_root, f"{layer}/python/lib/python3.11/site-packages", f"{layer}/python"]
    assert "/sqsq-runtime-DefaultFunction-" in first[3]
    assert where["pydantic"].startswith(f"{layer}/python/")
    assert "/sqsq-runtime-DefaultFunction-" in where["boto3"]  # Lambda's runtime provides boto3
    assert not any("site-packages" in p and str(layer) not in p for p in where["sys_path"])


def test_failing_task_ends_failure_and_in_the_dlq(built: Built) -> None:
    handle = runtime_app.app.send("rt.poison", {"key": "p"})

    stats, pools = built.run()

    record = runtime_app.app.results.get(handle.id)
    assert record is not None and record.status is Status.FAILURE and record.error_type == "ValueError"
    assert record.attempts == MAX_RECEIVE_COUNT
    assert runtime_app.app.transport.depth(runtime_app.app.settings.dlq_name("default")).visible == 1
    assert stats.records_received == MAX_RECEIVE_COUNT
    pool = pools["DefaultFunction"]
    assert pool["invocations"] == MAX_RECEIVE_COUNT
    assert pool["cold_starts"] <= 2 < MAX_RECEIVE_COUNT  # two pollers, two processes at most: warm ones reused


def test_invocation_over_timeout_is_killed_and_its_batch_returns(built: Built) -> None:
    runtime_app.app.send("rt.sleep", {"seconds": 60})

    stats, pools = built.run(stop_when_empty=False, timeout_seconds=1)

    assert stats.batch_timeouts == 1
    assert (stats.records_deleted, stats.records_failed) == (0, 1)
    assert pools["DefaultFunction"]["timeouts"] == 1
    depth = runtime_app.app.transport.depth(_queue())
    assert depth.visible + depth.in_flight == 1
    assert "Status: timeout" in built.log_text


def test_invocation_after_a_timeout_is_a_cold_start_in_a_new_process(built: Built) -> None:
    runtime_app.app.send("rt.sleep", {"seconds": 60})
    pool = built.pool()
    try:
        with pytest.raises(LocalInvocationTimedOut):
            pool(_event(), None)
        assert pool.processes() == []
        first = pool.stats.as_dict()

        handle = runtime_app.app.send("rt.add", {"x": 1, "y": 1})
        response = pool(_event(), None)
    finally:
        pool.close()

    assert response == {"batchItemFailures": []}
    assert handle.get(timeout_seconds=5) == 2
    assert (first["cold_starts"], first["timeouts"]) == (1, 1)
    assert pool.stats.cold_starts == 2


def test_layer_without_pydantic_fails_at_import_and_deletes_nothing(
    local_aws: LocalAwsServer, sources: Path, tmp_path: Path
) -> None:
    broken = _deploy(local_aws, sources, tmp_path, layer="NoPydanticLayer")
    runtime_app.app.send("rt.add", {"x": 1, "y": 1})

    stats, pools = broken.run(stop_when_empty=False, timeout_seconds=6)  # room for a cold start on a busy machine

    assert stats.batch_errors >= 1 and stats.records_deleted == 0
    pool = pools["DefaultFunction"]
    assert pool["init_errors"] == pool["cold_starts"] >= 1  # every invocation re-tried the init
    assert "No module named 'pydantic'" in broken.log_text
    assert "Runtime.ImportModuleError" in broken.log_text
    depth = runtime_app.app.transport.depth(_queue())
    assert depth.visible + depth.in_flight == 1  # it comes back


def test_cold_starts_happen_once_per_process_and_warm_processes_are_reused(built: Built) -> None:
    runtime_app.app.send_many("rt.sleep", [{"seconds": 1.5}, {"seconds": 1.5}])
    events = [_event(), _event()]
    pool = built.pool()
    try:
        threads = [threading.Thread(target=pool, args=(e, None)) for e in events]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        pids = set(pool.processes())
        for _ in range(3):
            runtime_app.app.send("rt.add", {"x": 1, "y": 2})
            pool(_event(), None)
        assert set(pool.processes()) == pids
    finally:
        pool.close()

    assert len(pids) == 2
    assert pool.stats.cold_starts == 2 and len(pool.stats.init_seconds) == 2
    assert pool.stats.invocations == 5
    assert not any(_alive(pid) for pid in pids)  # close() stopped them


def test_memory_size_limits_what_the_function_can_allocate(
    local_aws: LocalAwsServer, sources: Path, tmp_path: Path
) -> None:
    small = _deploy(local_aws, sources, tmp_path, memory_mb=128)
    too_much = runtime_app.app.send("rt.allocate", {"mb": 256})
    fits = runtime_app.app.send("rt.allocate", {"mb": 16})

    small.run()

    record = runtime_app.app.results.get(too_much.id)
    assert record is not None and record.status is Status.FAILURE and record.error_type == "MemoryError"
    assert fits.get(timeout_seconds=5) == 16


def test_built_template_is_detected_and_the_source_template_is_not(built: Built) -> None:
    assert is_built_template(built.build / "template.yaml")
    assert not is_built_template(ROOT / "template.yaml")  # a source template: no SamResourceId from sam build
    ((_, spec),) = built_functions(built.build, built.parameters)
    assert (spec.timeout_seconds, spec.max_processes, spec.memory_mb) == (FUNCTION_TIMEOUT_SECONDS, 2, 512)


def test_cli_lambda_local_runs_a_built_template_in_runtime_processes(built: Built) -> None:
    handle = runtime_app.app.send("rt.add", {"x": 20, "y": 22})

    done = subprocess.run(
        [sys.executable, "-m", "sqsq.cli", "--log-level", "WARNING", "lambda-local", "--template",
         str(built.build / "template.yaml"), "--stage", built.parameters["Stage"], "--parameter",
         f"MaxReceiveCount={MAX_RECEIVE_COUNT}", "--stop-when-empty", "--timeout-seconds", "60", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
        env={**os.environ, "AWS_ENDPOINT_URL": built.endpoint_url},
    )

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["records_received"], out["records_deleted"]) == (1, 1)
    assert out["functions"]["DefaultFunction"]["cold_starts"] == 1
    assert handle.get(timeout_seconds=5) == 42
    assert (built.build.parent / "sqsq-local-logs" / "DefaultFunction.log").exists()


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    """Every test leaves no function process behind (each pool stops its processes by PID)."""
    yield
    import psutil

    mine = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "awslambdaric" in " ".join(p.cmdline()):
                mine.append(p.pid)
        except psutil.Error:  # exited meanwhile
            pass
    assert mine == []


def test_a_process_the_handler_started_is_stopped_with_its_function_and_does_not_hold_the_run(
    built: Built, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    handle = runtime_app.app.send("rt.spawn", {"pid_file": str(pid_file)})
    stats, _ = built.run()
    assert handle.get(timeout_seconds=5) > 0 and stats.records_deleted == 1
    pid = int(pid_file.read_text())
    # the run is over and its processes stopped: the handler's child went with its process group
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"child {pid} outlived its function"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie (exited, not yet reaped by init) is not running
        return f.read().split()[2] != "Z"
