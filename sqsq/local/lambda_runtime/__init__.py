"""Run the *built* Lambda functions of a ``sam build`` output locally, in Lambda's runtime interface client.

Modules, one job each:

* :mod:`~sqsq.local.lambda_runtime.api`: a local Lambda Runtime API (2018-06-01), one server per process;
* :mod:`~sqsq.local.lambda_runtime.sandbox`: a process's sys.path, environment and memory limit, as on Lambda;
* :mod:`~sqsq.local.lambda_runtime.process`: one function process (cold start, invocation, kill at Timeout);
* :mod:`~sqsq.local.lambda_runtime.pool`: a function's processes (lazy cold starts, warm reuse, counters);
* :mod:`~sqsq.local.lambda_runtime.built`: a built template's functions, run by the local event source mapping.

Example:
    >>> from sqsq.local.lambda_runtime import run_built_template
    >>> stats, pools = run_built_template(".aws-sam/build", "http://127.0.0.1:4566")  # doctest: +SKIP
    >>> pools["ConsumerFunction"]["cold_starts"]
"""

from __future__ import annotations

from sqsq.local.lambda_runtime.api import RuntimeApiServer
from sqsq.local.lambda_runtime.built import (
    LOG_FOLDER_NAME,
    built_functions,
    close_functions,
    functions_from_built_template,
    is_built_template,
    run_built_template,
)
from sqsq.local.lambda_runtime.pool import FunctionPool, PoolStats
from sqsq.local.lambda_runtime.process import FunctionProcess, Outcome
from sqsq.local.lambda_runtime.spec import BuiltFunctionSpec

__all__ = [
    "LOG_FOLDER_NAME",
    "BuiltFunctionSpec",
    "FunctionPool",
    "FunctionProcess",
    "Outcome",
    "PoolStats",
    "RuntimeApiServer",
    "built_functions",
    "close_functions",
    "functions_from_built_template",
    "is_built_template",
    "run_built_template",
]
