"""A pool of function processes for one built function: Lambda's execution environments, locally.

Processes start lazily, one per concurrent invocation up to ``max_processes`` (each start is a cold start), and
are reused while warm. A process whose invocation timed out or that died is replaced by a cold start on a later
invocation; so is one whose init failed (Lambda re-runs the init on the next invocation after an init error).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqsq.errors import LocalInvocationFailed, LocalInvocationTimedOut
from sqsq.local.lambda_runtime import sandbox
from sqsq.local.lambda_runtime.process import FunctionLog, FunctionProcess, Outcome
from sqsq.local.lambda_runtime.spec import BuiltFunctionSpec

log = logging.getLogger("sqsq.local.lambda_runtime")


@dataclass
class PoolStats:
    """Counters of one function's pool.

    Attributes:
        cold_starts: processes started (successful or not).
        init_seconds: each successful cold start's init duration, in order.
        invocations: events handed to the pool.
        errors: invocations whose handler raised (``Lambda-Runtime-Function-Error-Type`` reported).
        timeouts: invocations (or inits) killed at their limit.
        init_errors: cold starts whose handler could not be loaded (``Runtime.ImportModuleError``...).
        exits: processes that died without answering.
    """

    cold_starts: int = 0
    init_seconds: list[float] = field(default_factory=list)
    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    init_errors: int = 0
    exits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters by name (thread-safe)."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (``init_seconds`` a list of floats)."""
        with self._lock:
            return {k: list(v) if isinstance(v, list) else v for k, v in self.__dict__.items() if not k.startswith("_")}


class FunctionPool:
    """Runs a built function's invocations in up to ``spec.max_processes`` warm processes.

    Callable as a Lambda handler (``pool(event, context)``), so the local event source mapping can use it; the
    pool enforces the function's Timeout itself (the context is not used).

    Args:
        spec: the function.
        client_env: endpoint, region and dummy credentials for the function (see
            ``LocalAwsServer.client_environment()``).
        log_dir: the function's output goes to ``log_dir/<FunctionId>.log``.

    Raises:
        ConfigError: awslambdaric or boto3 is not installed here.

    Example:
        >>> pool = FunctionPool(spec, server.client_environment(), Path(".aws-sam/sqsq-local-logs"))  # doctest: +SKIP
        >>> try:
        ...     pool.invoke({"Records": []})
        ... finally:
        ...     pool.close()
    """

    owns_timeout = True
    """Tells the local event source mapping that this handler stops overrunning invocations itself."""

    def __init__(self, spec: BuiltFunctionSpec, client_env: dict[str, str], log_dir: Path):
        self.spec = spec
        self.client_env = dict(client_env)
        self.stats = PoolStats()
        self.log = FunctionLog(spec.function_id, log_dir / f"{spec.function_id}.log")
        self._runtime_dir = Path(tempfile.mkdtemp(prefix=f"sqsq-runtime-{spec.function_id}-"))
        sandbox.make_runtime_folder(self._runtime_dir / "runtime")
        self._cond = threading.Condition()
        self._idle: list[FunctionProcess] = []
        self._all: set[FunctionProcess] = set()
        self._closed = False

    @property
    def log_path(self) -> Path:
        """The function's log file."""
        return self.log.path

    def processes(self) -> list[int]:
        """PIDs of the processes running now."""
        with self._cond:
            return [p.pid for p in self._all if p.alive and p.pid is not None]

    def __call__(self, event: Any, context: Any = None) -> Any:
        """Lambda's handler signature; see :meth:`invoke`."""
        return self.invoke(event)

    def invoke(self, event: Any) -> Any:
        """Run one event in a warm process, or in a new one (a cold start) if none is idle.

        Args:
            event: the JSON-serialisable event.

        Returns:
            The handler's response.

        Raises:
            LocalInvocationTimedOut: the invocation (or the cold start) overran its limit; the process was killed.
            LocalInvocationFailed: the handler raised, could not be loaded, or its process died.
        """
        self.stats.add(invocations=1)
        process = self._acquire()
        outcome = None
        try:
            if process.pid is None:  # never started: a cold start
                outcome = self._cold_start(process)
            if outcome is None:
                outcome = process.invoke(event)
        finally:
            self._release(process, keep=outcome is not None and outcome.status in ("success", "error"))
        return self._result(outcome)

    def _cold_start(self, process: FunctionProcess) -> Outcome | None:
        self.stats.add(cold_starts=1)
        failed = process.start()
        if failed is None:
            with self.stats._lock:
                self.stats.init_seconds.append(process.init_seconds or 0.0)
            log.info("function %s: cold start in %.3f s (pid %s)", self.spec.function_id, process.init_seconds,
                     process.pid)
            return None
        self.stats.add(init_errors=int(failed.status == "init_error"))
        return failed

    def _result(self, outcome: Outcome) -> Any:
        fid = self.spec.function_id
        if outcome.status == "success":
            return outcome.response
        if outcome.status == "timeout":
            self.stats.add(timeouts=1)
            raise LocalInvocationTimedOut(fid, self.spec.timeout_seconds)
        self.stats.add(errors=int(outcome.status == "error"), exits=int(outcome.status == "exited"))
        raise LocalInvocationFailed(fid, outcome.error_type or "Runtime.Unknown", outcome.error_message)

    def _acquire(self) -> FunctionProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise LocalInvocationFailed(self.spec.function_id, "Runtime.Shutdown", "the pool is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < max(1, self.spec.max_processes):
                    process = FunctionProcess(self.spec, self._runtime_dir / "runtime", self.client_env, self.log)
                    self._all.add(process)
                    return process
                self._cond.wait()

    def _release(self, process: FunctionProcess, keep: bool) -> None:
        keep = keep and process.alive
        if not keep:
            process.stop()
        with self._cond:
            if keep and not self._closed:
                self._idle.append(process)
            else:
                self._all.discard(process)
                if keep:
                    process.stop()
            self._cond.notify_all()

    def close(self) -> None:
        """Stop every process (SIGKILL by PID), close the log, remove the runtime folder. Idempotent."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [p for p in self._all if p not in idle]
            self._all.clear()
            self._cond.notify_all()
        for process in idle + busy:
            process.stop()
        self.log.close()
        shutil.rmtree(self._runtime_dir, ignore_errors=True)
