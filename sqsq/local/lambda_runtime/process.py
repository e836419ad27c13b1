"""One function process: ``python -m awslambdaric HANDLER`` in the function's task root, on its own Runtime API.

Lifecycle, as a Lambda execution environment's (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html):

* :meth:`FunctionProcess.start` is a cold start: the process starts, the runtime imports the handler module and
  asks for its first invocation; the time until then is the init duration. An import failure is posted by the
  runtime to ``/runtime/init/error`` (``Runtime.ImportModuleError``) and the process exits. An init that takes
  longer than the init limit (Lambda: 10 s) is killed.
* :meth:`FunctionProcess.invoke` runs one event. A process that overruns the function's Timeout is killed
  (SIGKILL, by its PID) and must be replaced; one whose handler raised stays warm, as on Lambda.

Every line the process writes (stdout and stderr, merged) goes to the logger ``sqsq.local.lambda.<FunctionId>``
and to the function's log file, with Lambda-style START/END/REPORT lines (durations in seconds).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqsq.local.lambda_runtime import sandbox
from sqsq.local.lambda_runtime.api import RuntimeApiServer
from sqsq.local.lambda_runtime.spec import BuiltFunctionSpec

_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Outcome:
    """How an invocation (or a cold start) ended.

    Attributes:
        status: ``"success"``, ``"error"`` (the handler raised), ``"timeout"``, ``"init_error"`` or ``"exited"``
            (the process died without answering).
        response: the handler's return value (``"success"`` only).
        error_type: Lambda's errorType (``"ValueError"``, ``"Runtime.ImportModuleError"``, ``"Sandbox.Timedout"``...).
        error_message: Lambda's errorMessage.
    """

    status: str
    response: Any = None
    error_type: str | None = None
    error_message: str = ""


class FunctionLog:
    """A function's log: each line to the logger ``sqsq.local.lambda.<FunctionId>`` (INFO) and to ``path``.

    Args:
        function_id: the function's logical id.
        path: the log file (appended to; its folder is created).
    """

    def __init__(self, function_id: str, path: Path):
        self.path = path
        self.logger = logging.getLogger(f"sqsq.local.lambda.{function_id}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        """Log one line (a runtime's ``\\r``-joined multi-line record is split into lines)."""
        for part in line.split("\r"):
            self.logger.info("%s", part)
            with self._lock:
                if self._file is not None:
                    self._file.write(part + "\n")
                    self._file.flush()

    def close(self) -> None:
        """Close the file (later lines go to the logger only)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class FunctionProcess:
    """One execution environment of a built function.

    Args:
        spec: the function.
        runtime_folder: from :func:`sandbox.make_runtime_folder`.
        client_env: endpoint, region and dummy credentials for the function's AWS clients.
        log: where its output goes.
    """

    def __init__(self, spec: BuiltFunctionSpec, runtime_folder: Path, client_env: dict[str, str], log: FunctionLog):
        self.spec = spec
        self.runtime_folder = runtime_folder
        self.client_env = client_env
        self.log = log
        self.init_seconds: float | None = None
        """Duration of the cold start (process start to the first ``next``), once it succeeded."""
        self._api = RuntimeApiServer(spec.function_id)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The process id (None before :meth:`start`)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """The process runs."""
        return self._proc is not None and self._proc.poll() is None

    def _environment(self, api_address: str) -> dict[str, str]:
        spec = self.spec
        lambda_env = {
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{spec.function_id}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "_HANDLER": spec.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_RUNTIME_API": api_address,
            "LAMBDA_TASK_ROOT": str(spec.task_root),
            "LAMBDA_RUNTIME_DIR": str(self.runtime_folder),
        }
        return sandbox.process_environment(
            function_env=spec.environment,
            client_env=self.client_env,
            lambda_env=lambda_env,
            import_path=sandbox.sys_path(spec.task_root, spec.layers, self.runtime_folder),
        )

    def start(self) -> Outcome | None:
        """Cold start: start the process and wait until its runtime asks for an invocation.

        Returns:
            None when the process is ready (``init_seconds`` is set); else how the init failed (``"init_error"``,
            ``"exited"`` or ``"timeout"``), the process then being stopped.
        """
        address = self._api.start()
        started = time.monotonic()
        self._proc = subprocess.Popen(
            sandbox.command(self.spec.handler, self.spec.memory_mb),
            cwd=self.spec.task_root,
            env=self._environment(address),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal does not reach it; close() stops it by PID
        )
        self._reader = threading.Thread(
            target=self._pump, args=(self._proc.stdout,), name=f"sqsq-lambda-log-{self.spec.function_id}", daemon=True
        )
        self._reader.start()
        self.log.write(f"INIT_START pid {self._proc.pid} handler {self.spec.handler}")
        deadline = started + self.spec.init_limit_seconds
        while True:
            state = self._api.wait_for_runtime(_POLL_SECONDS)
            if state == "ready":
                self.init_seconds = time.monotonic() - started
                return None
            if state == "init_error":
                report = self._api.init_error
                payload = report.payload if report is not None else None
                self.stop()
                return Outcome("init_error", None, report.error_type if report else None, _message(payload))
            if not self.alive:
                self.stop()
                return Outcome("exited", None, "Runtime.ExitError", f"the runtime exited during init ({self._exit()})")
            if time.monotonic() >= deadline:
                self.stop()
                return Outcome("timeout", None, "Sandbox.Timedout",
                               f"init did not finish within {self.spec.init_limit_seconds:.2f} seconds")

    def invoke(self, event: Any) -> Outcome:
        """Run one invocation; kill the process if it overruns the function's Timeout.

        Args:
            event: the JSON-serialisable event.

        Returns:
            The outcome; after ``"timeout"`` or ``"exited"`` the process is gone.
        """
        spec = self.spec
        invocation = self._api.submit(event, spec.timeout_seconds, spec.function_arn)
        rid = invocation.request_id
        self.log.write(f"START RequestId: {rid} Version: $LATEST")
        started = time.monotonic()
        deadline = started + spec.timeout_seconds
        outcome: Outcome | None = None
        while outcome is None:
            report = self._api.wait_for_report(rid, min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            if report is None and not self.alive:
                report = self._api.wait_for_report(rid, 0)  # it may have answered just before exiting
            if report is not None and report.kind == "response":
                outcome = Outcome("success", report.payload)
            elif report is not None:
                outcome = Outcome("error", None, report.error_type, _message(report.payload))
            elif not self.alive:
                self.stop()
                outcome = Outcome("exited", None, "Runtime.ExitError", f"the runtime exited ({self._exit()})")
            elif time.monotonic() >= deadline:
                self.stop()
                outcome = Outcome("timeout", None, "Sandbox.Timedout",
                                  f"Task timed out after {spec.timeout_seconds:.2f} seconds")
        duration = time.monotonic() - started
        self.log.write(f"END RequestId: {rid}")
        init = f" Init Duration: {self.init_seconds:.3f} s" if self.init_seconds is not None else ""
        self.log.write(f"REPORT RequestId: {rid} Duration: {duration:.3f} s{init} Status: {outcome.status}")
        self.init_seconds = None  # reported once, with the first invocation, as Lambda does
        return outcome

    def stop(self) -> None:
        """SIGKILL the process and every process it started (its process group: Lambda freezes the whole sandbox),
        reap it, and stop its Runtime API. A child the handler started never keeps the run going."""
        proc = self._proc
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session): the group is its pid
            except (ProcessLookupError, PermissionError):
                pass
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._api.close()
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()  # a grandchild that escaped the group cannot hold the log reader open
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _exit(self) -> str:
        code = self._proc.returncode if self._proc is not None else None
        return f"exit status {code}" if code is None or code >= 0 else f"signal {-code}"

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        try:
            while raw := stream.readline(LOG_LINE_MAX_BYTES + 1):
                line = raw[:LOG_LINE_MAX_BYTES].decode("utf-8", "replace").rstrip("\n")
                if len(raw) > LOG_LINE_MAX_BYTES:
                    line += " [cut at 256 KB, as Lambda cuts a log event]"
                    while raw and not raw.endswith(b"\n"):  # skip the rest of the line without holding it
                        raw = stream.readline(LOG_LINE_MAX_BYTES)
                self.log.write(line)
        except (ValueError, OSError):  # the stream was closed under us by stop()
            pass


LOG_LINE_MAX_BYTES = 256 * 1024
"""Longest log line kept (CloudWatch Logs' event limit is 256 KB; Lambda cuts longer ones too)."""


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        return str(payload.get("errorMessage", payload))
    return "" if payload is None else str(payload)
