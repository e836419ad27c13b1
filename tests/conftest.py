"""Shared fixtures: one local AWS (moto server, patched) per test session, fresh resources per test.

Tests never purge: each test gets its own queue prefix and results table (purge is rate limited on AWS).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sqsq.app import App
from sqsq.local.provision import provision
from sqsq.local.server import LocalAwsServer

ROOT = Path(__file__).resolve().parent.parent
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".sqsq", ".aws-sam", "node_modules"
)


@pytest.fixture(scope="session")
def sqsq_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sqsq's wheel, built from this tree with ``python -m build --wheel`` (PyPA build, isolated build env).

    Built once per test run: from a copy of the source (so no ``build/`` left over from an earlier build can slip
    into it), and under pytest-xdist the first worker builds under a lock while the others wait and reuse it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    out = shared / "sqsq-wheel"
    with open(shared / "sqsq-wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = sorted(out.glob("sqsq-*.whl"))
        if not wheels:
            src = shared / "sqsq-src"
            shutil.rmtree(src, ignore_errors=True)
            shutil.copytree(ROOT, src, ignore=_NOT_SOURCE)
            built = subprocess.run(
                [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
                capture_output=True, text=True, timeout=600,
            )
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
            wheels = sorted(out.glob("sqsq-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAwsServer]:
    """The embedded local AWS on 127.0.0.1 (a free port), stopped after the session."""
    for k in [k for k in os.environ if k.startswith("SQSQ_")]:
        del os.environ[k]
    server = LocalAwsServer(port=None)
    server.start()
    os.environ.update(server.client_environment())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqsq_local_aws_server(local_aws: LocalAwsServer) -> LocalAwsServer:
    """The sqsq pytest plugin's server fixture, overridden: its ``sqsq_local_aws`` uses this session's server."""
    return local_aws


@dataclass
class Deployed:
    """An app bound to fresh resources on the local AWS, plus what a subprocess needs to reach them."""

    app: App
    env: dict[str, str]
    server: LocalAwsServer
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``python -m sqsq.cli ARGS`` in its own process group (killed at teardown)."""
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "sqsq.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def cli(self, *args: str, timeout_seconds: float = 120, extra_env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m sqsq.cli ARGS`` to completion."""
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [sys.executable, "-m", "sqsq.cli", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_seconds,
        )

    def queue(self, logical: str = "default") -> str:
        return self.app.queue_name(logical)

    def close(self) -> None:
        """SIGKILL every process :meth:`spawn` started that still runs, and close their pipes."""
        for proc in self.procs:
            if proc.poll() is None:
                stop_process(proc, signal.SIGKILL, timeout_seconds=10)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()


def deploy(app: App, server: LocalAwsServer, tmp: Path, **settings: object) -> Deployed:
    """Point ``app`` at fresh, uniquely named resources on ``server`` and provision them."""
    unique = uuid.uuid4().hex[:8]
    overrides: dict[str, object] = {
        "endpoint_url": server.endpoint_url,
        "queue_prefix": f"t{unique}-",
        "results_table": f"t{unique}-results",
        "visibility_timeout_seconds": 2,
        "max_receive_count": 3,
        **settings,
    }
    app.configure(**overrides)
    provision(app)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")},
        **server.client_environment(),
        "PYTHONPATH": str(ROOT),
        "SHOP_TEST_SINK": str(tmp / "sink.txt"),
        "SQSQ_PROCESSES": "1",  # the tests pin the single-process worker; tests of --processes pass it explicitly
        **{f"SQSQ_{k.upper()}": str(v) for k, v in overrides.items() if k != "endpoint_url"},
    }
    return Deployed(app=app, env=env, server=server, tmp=tmp)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_seconds: float = 30) -> int:
    """Signal a process group, wait, and SIGKILL it if it does not exit in time. Returns the exit code."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


@pytest.fixture
def shop(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    """``tests.apps.shop:app`` on fresh queues (VisibilityTimeout 2 s, maxReceiveCount 3) and a fresh table."""
    from tests.apps.shop import app

    deployed = deploy(app, local_aws, tmp_path)
    try:
        yield deployed
    finally:
        deployed.close()
