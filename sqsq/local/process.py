"""The local AWS in a child process (:class:`LocalAwsServer`), for tests, the CLI, the demo and the benchmark.

The child runs ``python -m sqsq.local.server`` (see :mod:`sqsq.local.server`) in its own process group. This
module does not import :mod:`sqsq.local.server`, so that running that module as ``__main__`` never loads it twice.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any, Self

from sqsq.errors import LocalServerError
from sqsq.extras import require
from sqsq.local.services import default_services
from sqsq.local.services.moto_version import check_moto_version

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LOCAL_CREDENTIALS", "READY_LINE_PREFIX", "LocalAwsServer"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
"""moto accepts any credentials; these are the conventional dummy ones, so no real key is ever sent locally."""
READY_LINE_PREFIX = "sqsq local AWS listening on "

_START_TIMEOUT_SECONDS = 30.0
_STOP_TIMEOUT_SECONDS = 5.0

_log = logging.getLogger("sqsq.local.server")


class LocalAwsServer:
    """The local AWS in a child process: ``python -m sqsq.local.server`` in its own process group.

    Args:
        port: TCP port; None or 0 picks a free one (read it from :attr:`endpoint_url` after :meth:`start`).
        host: address to bind; default ``127.0.0.1``.

    Example:
        >>> with LocalAwsServer() as aws:  # doctest: +SKIP
        ...     sqs = boto3.client("sqs", endpoint_url=aws.endpoint_url, region_name="us-east-1")
        ...     aws.request_counts()
        {'sqs:CreateQueue': 1}
    """

    def __init__(self, port: int | None = None, host: str = DEFAULT_HOST) -> None:
        self._host = host
        self._port = port or 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._endpoint_url: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def client_environment(self, region: str = "us-east-1") -> dict[str, str]:
        """The variables a process (boto3 or sqsq) needs to use this server: endpoint, region, dummy credentials.

        Raises:
            LocalServerError: the server is not running.
        """
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server.

        Raises:
            LocalServerError: the server is not running (call :meth:`start` first).
        """
        if self._endpoint_url is None:
            raise LocalServerError("the local AWS server is not running; call LocalAwsServer.start() first")
        return self._endpoint_url

    @property
    def pid(self) -> int | None:
        """Process id of the server (also its process group id), or None when not started."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout_seconds: float = _START_TIMEOUT_SECONDS) -> str:
        """Launch the server and wait until it answers HTTP.

        Args:
            timeout_seconds: longest wait for the server to answer; default 30.

        Returns:
            the endpoint URL, ``http://HOST:PORT``.

        Raises:
            LocalServerError: already started; or the server exited or did not answer within
                ``timeout_seconds`` (the message includes its stderr).
            MissingExtra: moto's server is not installed (``pip install "sqsq[local]"``); nothing is started.
            MotoVersionMismatch: the installed moto is not the one the patches were written for; nothing is started.
        """
        require("the local AWS (sqsq.local.server.LocalAwsServer)", "moto")
        check_moto_version(default_services())
        if self._process is not None:
            raise LocalServerError(f"the local AWS server is already running at {self._endpoint_url}")
        # files, not pipes: nobody has to drain them, and they live until stop() closes them
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "sqsq.local.server", "--host", self._host, "--port", str(self._port)]
        env = dict(os.environ)
        # let the child import this same sqsq, wherever the parent's working directory is
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._process = subprocess.Popen(
            command, stdout=self._stdout, stderr=self._stderr, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )
        try:
            self._endpoint_url = self._wait_ready(time.monotonic() + timeout_seconds, timeout_seconds)
        except BaseException:
            self.stop()
            raise
        return self._endpoint_url

    def _wait_ready(self, deadline: float, timeout_seconds: float) -> str:
        assert self._process is not None and self._stdout is not None
        url: str | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LocalServerError(
                    f"the local AWS server exited with code {self._process.returncode} before it was ready; "
                    f"stderr:\n{self._stderr_text()}"
                )
            if url is None:
                self._stdout.seek(0)
                for line in self._stdout.read().decode("utf-8", "replace").splitlines():
                    if line.startswith(READY_LINE_PREFIX):
                        url = line[len(READY_LINE_PREFIX):].strip()
            if url is not None:
                try:
                    with urllib.request.urlopen(f"{url}/_sqsq/requests", timeout=2.0) as response:
                        if response.status == 200:
                            return url
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.05)
        raise LocalServerError(
            f"the local AWS server did not answer within {timeout_seconds:.0f} s; is the machine overloaded? "
            f"stderr:\n{self._stderr_text()}"
        )

    def _stderr_text(self, limit_bytes: int = 8000) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        data = self._stderr.read()
        return data[-limit_bytes:].decode("utf-8", "replace")

    def stop(self, timeout_seconds: float = _STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server: SIGTERM to its process group, then SIGKILL after ``timeout_seconds``.

        Safe to call twice or before :meth:`start`. Leaves no process of the group behind.

        Args:
            timeout_seconds: how long to wait after SIGTERM before SIGKILL; default 5.
        """
        process, self._process = self._process, None
        self._endpoint_url = None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                _log.warning("local AWS server pid %s ignored SIGTERM for %.0f s; killing it", process.pid,
                             timeout_seconds)
            # the group may hold more than the server (anything it spawned): make sure none survives
            _signal_group(process.pid, signal.SIGKILL)
            if process.returncode is None:
                process.wait()
        for stream in (self._stdout, self._stderr):
            if stream is not None:
                stream.close()
        self._stdout = self._stderr = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- control endpoints --------------------------------------------------------------------------------------

    def request_counts(self) -> dict[str, int]:
        """Requests served since start or the last reset, by ``"service:Action"`` (e.g. ``"sqs:SendMessage"``).

        Returns:
            ``{"sqs:SendMessageBatch": 3, "dynamodb:PutItem": 7, ...}``; faulted requests are included.
        """
        counts: dict[str, int] = self._call("GET", "/_sqsq/requests")
        return counts

    def reset_request_counts(self) -> None:
        """Zero the request counters."""
        self._call("POST", "/_sqsq/requests/reset")

    def set_faults(
        self, rate: float | dict[str, float], services: list[str], kinds: list[str], seed: int | None = None
    ) -> None:
        """Make a share of requests fail before they reach moto.

        Args:
            rate: share of matching requests that fail, 0.0-1.0; or a share per service, e.g.
                ``{"dynamodb": 0.4, "sqs": 0.2}`` (then ``services`` is not consulted).
            services: services whose requests may fail, e.g. ``["sqs", "dynamodb"]``.
            kinds: faults to choose from at random: ``"throttle"`` (HTTP 400 with the service's throttling
                error: SQS ``RequestThrottled``, DynamoDB ``ProvisionedThroughputExceededException`` for item
                operations and ``ThrottlingException`` otherwise), ``"500"`` (HTTP 500 internal error),
                ``"drop"`` (connection closed with no response).
            seed: seed of the choice, for a repeatable sequence; None = random.

        Raises:
            LocalServerError: the server rejected the settings (the message says why) or is not running.
        """
        self._call("POST", "/_sqsq/faults", {"rate": rate, "services": services, "kinds": kinds, "seed": seed})

    def fault_counts(self) -> dict[str, int]:
        """Faults injected since :meth:`set_faults`, by kind (``{"throttle": 3, "drop": 1}``)."""
        counts: dict[str, int] = self._call("GET", "/_sqsq/faults")
        return counts

    def clear_faults(self) -> dict[str, int]:
        """Stop injecting faults.

        Returns:
            the faults injected since :meth:`set_faults`, by kind.
        """
        counts: dict[str, int] = self._call("DELETE", "/_sqsq/faults")
        return counts

    def advance_clock(self, seconds: float) -> float:
        """Move the local AWS's scheduled-time clock forward (issue 12; see :mod:`sqsq.local.services.clock`).

        SQS message delays and the local EventBridge Scheduler run on it; visibility timeouts keep real time.
        Schedules that became due have fired (into their queues) when this returns.

        Args:
            seconds: how far, >= 0.

        Returns:
            the clock's total offset from real time, in seconds.

        Raises:
            LocalServerError: a negative ``seconds``, or the server is not running.
        """
        answer: dict[str, float] = self._call("POST", "/_sqsq/clock", {"advance_seconds": seconds})
        return answer["offset_seconds"]

    def clock(self) -> dict[str, float]:
        """The scheduled-time clock: ``{"offset_seconds": ..., "now": epoch seconds}``."""
        answer: dict[str, float] = self._call("GET", "/_sqsq/clock")
        return answer

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            self.endpoint_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10.0) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise LocalServerError(f"{method} {path} failed with HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LocalServerError(
                f"{method} {path}: the local AWS server at {self._endpoint_url} does not answer ({exc})"
            ) from exc


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass
