"""A ``sam build`` output (``.aws-sam/build/template.yaml``) run by the local event source mapping, each function
in its own pool of runtime processes.

After ``sam build``, a function's ``CodeUri`` is a folder beside the built template (``FilesFunction``) and a
layer's (``AWS::Serverless::LayerVersion``, referenced with ``Ref`` in the function's ``Layers``) ``ContentUri``
is one too (``DependenciesLayer``, holding ``python/...``); sam build marks each resource with
``Metadata.SamResourceId``: see :func:`is_built_template`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqsq.config import load_settings
from sqsq.errors import ConfigError
from sqsq.local.esm import DEFAULT_MAXIMUM_CONCURRENCY, EsmStats, LocalFunction, run_functions
from sqsq.local.lambda_runtime.pool import FunctionPool
from sqsq.local.lambda_runtime.sandbox import PYTHON_VERSION
from sqsq.local.lambda_runtime.spec import LAMBDA_DEFAULT_MEMORY_MB, BuiltFunctionSpec
from sqsq.local.server import LOCAL_CREDENTIALS
from sqsq.template import FunctionSpec, Resolver, load_template, sqs_functions
from sqsq.transport.aws import AwsClients
from sqsq.transport.sqs import SqsTransport

LOG_FOLDER_NAME = "sqsq-local-logs"
"""The functions' logs go to ``<build dir>/../sqsq-local-logs/<FunctionId>.log`` (``.aws-sam/sqsq-local-logs``)."""


def _template_path(build: str | Path) -> Path:
    path = Path(build)
    return path / "template.yaml" if path.is_dir() else path


def _properties(template: Mapping[str, Any], resource_id: str) -> dict[str, Any]:
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    return {**globals_fn, **(template["Resources"][resource_id].get("Properties") or {})}


def _layer_folders(r: Resolver, function_id: str, layers: Any, root: Path) -> tuple[Path, ...]:
    out = []
    for item in layers or []:
        rid = item.get("Ref") if isinstance(item, dict) else None
        res = r.resources.get(rid) if isinstance(rid, str) else None
        if res is None or res.get("Type") not in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            raise ConfigError(f"function {function_id}: layer {item!r} is not a layer of this template (Ref to an "
                              "AWS::Serverless::LayerVersion); an external layer ARN cannot be run locally")
        props = res.get("Properties") or {}
        uri = r.resolve(props.get("ContentUri", props.get("Content")))
        if not isinstance(uri, str) or not (root / uri).is_dir():
            raise ConfigError(f"layer {rid}: ContentUri {uri!r} is not a folder beside {root}; run `sam build` first")
        out.append((root / uri).resolve())
    return tuple(out)


def _built_spec(r: Resolver, fn: FunctionSpec, root: Path) -> BuiltFunctionSpec:
    props = _properties(r.template, fn.resource_id)
    code_uri = r.resolve(props.get("CodeUri"))
    if not isinstance(code_uri, str) or not (root / code_uri).is_dir():
        raise ConfigError(f"function {fn.resource_id}: CodeUri {code_uri!r} is not a folder beside {root}; "
                          "run `sam build` and pass .aws-sam/build/template.yaml")
    runtime = str(r.resolve(props.get("Runtime", PYTHON_VERSION)))
    if runtime != PYTHON_VERSION:
        raise ConfigError(f"function {fn.resource_id}: Runtime {runtime} but this Python is {PYTHON_VERSION}; run "
                          f"sqsq with {runtime} (the built packages are for it)")
    concurrency = sum(ev.maximum_concurrency or DEFAULT_MAXIMUM_CONCURRENCY for ev in fn.events if ev.enabled)
    if fn.reserved_concurrency is not None:
        concurrency = min(concurrency, fn.reserved_concurrency)
    name = r.resolve(props.get("FunctionName")) or fn.resource_id
    return BuiltFunctionSpec(
        function_id=fn.resource_id,
        function_name=str(name),
        handler=fn.handler,
        task_root=(root / code_uri).resolve(),
        layers=_layer_folders(r, fn.resource_id, props.get("Layers"), root),
        timeout_seconds=float(fn.timeout_seconds),
        memory_mb=int(r.resolve(props.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB))),
        runtime=runtime,
        environment=dict(fn.environment),
        region=str(r.values["AWS::Region"]),
        max_processes=max(1, concurrency),
    )


def built_functions(
    build: str | Path, parameters: Mapping[str, str] | None = None
) -> list[tuple[FunctionSpec, BuiltFunctionSpec]]:
    """The SQS-triggered functions of a built template, with what their processes need.

    Args:
        build: the build folder (``.aws-sam/build``) or its ``template.yaml``.
        parameters: template parameter values (e.g. ``{"Stage": "dev"}``).

    Raises:
        ConfigError: the template is missing or not built (a CodeUri or ContentUri is not a folder beside it), a
            layer is external, or the function's Runtime is not this Python's.
    """
    path = _template_path(build)
    template = load_template(path)
    r = Resolver(template, parameters)
    root = path.resolve().parent
    return [(fn, _built_spec(r, fn, root)) for fn in sqs_functions(template, parameters)]


def is_built_template(template_path: str | Path, parameters: Mapping[str, str] | None = None) -> bool:
    """Whether a template is ``sam build`` output, which marks every resource it copies with
    ``Metadata.SamResourceId``, and whose functions' CodeUri folders exist beside it; False when it cannot be read.

    (A source template's CodeUri can be a folder beside it too, ``sqsq template`` narrows it to the app's package,
    so the folders alone do not tell.)
    """
    path = _template_path(template_path)
    try:
        template = load_template(path)
        functions = sqs_functions(template, parameters)
    except ConfigError:
        return False
    resources = template.get("Resources") or {}
    root = path.resolve().parent
    for fn in functions:
        if "SamResourceId" not in (resources[fn.resource_id].get("Metadata") or {}):
            return False
        if not isinstance(fn.code_uri, str) or not (root / fn.code_uri).is_dir():
            return False
    return bool(functions)


def functions_from_built_template(
    build: str | Path,
    endpoint_url: str,
    parameters: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
) -> list[LocalFunction]:
    """The built template's SQS-triggered functions, each handled by a :class:`FunctionPool` of runtime processes.

    Close each function's pool (``function.handler.close()``) when done, or use :func:`run_built_template`.

    Args:
        build: the build folder (``.aws-sam/build``) or its ``template.yaml``.
        endpoint_url: the local AWS endpoint, for the functions and for polling their queues.
        parameters: template parameter values.
        log_dir: where ``<FunctionId>.log`` files go; default ``<build folder>/../sqsq-local-logs``.

    Raises:
        ConfigError: see :func:`built_functions`; also when awslambdaric is not installed.
    """
    path = _template_path(build)
    logs = log_dir or path.resolve().parent.parent / LOG_FOLDER_NAME
    out: list[LocalFunction] = []
    try:
        for fn, spec in built_functions(path, parameters):
            client_env = {**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint_url, "AWS_REGION": spec.region,
                          "AWS_DEFAULT_REGION": spec.region}
            # The handler lives in another process: poll with a transport built from the function's own settings.
            settings = load_settings(environ={**fn.environment, **client_env})
            pool = FunctionPool(spec, client_env, logs)
            out.append(LocalFunction(fn, pool, SqsTransport(AwsClients(settings)), settings.region, owns_timeout=True))
    except BaseException:
        close_functions(out)
        raise
    return out


def close_functions(functions: list[LocalFunction]) -> None:
    """Close the pools of :func:`functions_from_built_template`'s functions (stops their processes)."""
    for function in functions:
        close = getattr(function.handler, "close", None)
        if callable(close):
            close()


def run_built_template(
    build: str | Path,
    endpoint_url: str,
    *,
    parameters: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    stop_when_empty: bool = True,
    timeout_seconds: float | None = None,
    wait_time_seconds: int | None = None,
    stop: threading.Event | None = None,
) -> tuple[EsmStats, dict[str, dict[str, Any]]]:
    """Run a built template's functions in runtime processes, polling like Lambda's event source mapping.

    Args:
        build: the build folder (``.aws-sam/build``) or its ``template.yaml``.
        endpoint_url: the local AWS endpoint (deploy the template there first).
        parameters: template parameter values (e.g. ``{"Stage": "dev"}``).
        log_dir: where the functions' logs go (default ``.aws-sam/sqsq-local-logs``).
        stop_when_empty, timeout_seconds, wait_time_seconds, stop: as for :func:`sqsq.local.esm.run_functions`.

    Returns:
        The event source mappings' counters, and each function's pool counters by logical id (cold starts,
        init seconds, invocations, errors, timeouts, init errors, exits).

    Raises:
        ConfigError: the template is not built or cannot run here (see :func:`built_functions`).

    Example:
        >>> stats, pools = run_built_template(".aws-sam/build", "http://127.0.0.1:4566")  # doctest: +SKIP
    """
    functions = functions_from_built_template(build, endpoint_url, parameters, log_dir)
    try:
        stats = run_functions(functions, stop_when_empty=stop_when_empty, timeout_seconds=timeout_seconds,
                              wait_time_seconds=wait_time_seconds, stop=stop)
    finally:
        close_functions(functions)
    pools = {f.spec.resource_id: f.handler.stats.as_dict() for f in functions if isinstance(f.handler, FunctionPool)}
    return stats, pools

