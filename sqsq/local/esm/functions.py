"""The functions a local event source mapping invokes: their handlers imported and configured, and the context."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqsq.app import App
from sqsq.config import Settings
from sqsq.errors import ConfigError
from sqsq.template import (
    GENERIC_HANDLER,
    FunctionSpec,
    SqsEventSpec,
    TemplateOptions,
    load_template,
    plan_queues,
    sqs_functions,
)
from sqsq.transport import Transport

__all__ = [
    "Handler",
    "LocalContext",
    "LocalFunction",
    "functions_from_app",
    "functions_from_template",
    "load_handler",
]

log = logging.getLogger("sqsq.local.esm")

Handler = Callable[[dict[str, Any], Any], Any]


class LocalContext:
    """The Lambda context object as sqsq's local runtime provides it.

    Args:
        function_name: the function's name.
        timeout_seconds: the function's Timeout; ``get_remaining_time_in_millis`` counts down from it.
        memory_limit_in_mb: the function's MemorySize (informational).
    """

    def __init__(self, function_name: str, timeout_seconds: float, memory_limit_in_mb: int = 512):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.timeout_seconds = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout (0 once it has passed)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """A function to run locally with its SQS event sources.

    Attributes:
        spec: its template settings.
        handler: the callable Lambda would call (``handler(event, context)``).
        transport: the queue transport the event source mappings poll (the handler's app's, usually).
        region: the region named in records.
        owns_timeout: the handler enforces the function's Timeout itself and raises
            :class:`~sqsq.errors.LocalInvocationTimedOut` when it ran over (a built function's process pool, see
            :mod:`sqsq.local.lambda_runtime`); the mapping then waits for it instead of giving up at the Timeout.
    """

    spec: FunctionSpec
    handler: Handler
    transport: Transport
    region: str
    owns_timeout: bool = False


_SETTING_FIELDS = {f"SQSQ_{name.upper()}": name for name in Settings.model_fields if name != "app_name"}


def load_handler(spec: FunctionSpec, endpoint_url: str | None, root: Path | None = None) -> Handler:
    """Import a function's ``Handler`` (``path/module.attribute``) and point it at the function's environment.

    When the handler is sqsq's (:class:`sqsq.lambda_handler.SqsLambdaHandler`) its app is configured with the
    function's ``SQSQ_*`` variables and ``endpoint_url``, as a fresh Lambda process reading its environment
    would be. Other handlers see the variables in ``os.environ`` (set only where not already set).

    Args:
        spec: the function.
        endpoint_url: the local AWS endpoint.
        root: folder the handler path is relative to (added to ``sys.path``); default the current directory.

    Raises:
        ConfigError: the handler cannot be imported or is not callable.
    """
    module_path, _, attr = spec.handler.rpartition(".")
    if not module_path or not attr:
        raise ConfigError(f"function {spec.resource_id}: Handler {spec.handler!r} is not path/module.attribute")
    base = str((root or Path.cwd()).resolve())
    if base not in sys.path:
        sys.path.insert(0, base)
    env = dict(spec.environment)
    for key, value in env.items():
        if key not in _SETTING_FIELDS and key != "SQSQ_APP_NAME":
            os.environ.setdefault(key, value)
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except ImportError as exc:
        raise ConfigError(f"function {spec.resource_id}: cannot import {module_path!r}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ConfigError(f"function {spec.resource_id}: {spec.handler!r} is not a callable")
    app = getattr(handler, "app", None)
    if isinstance(app, App):
        expected = env.get("SQSQ_APP_NAME")
        if expected and expected != app.name:
            log.warning("function %s: SQSQ_APP_NAME=%s but its handler's app is %r", spec.resource_id, expected, app.name)
        app.configure(endpoint_url=endpoint_url, **{_SETTING_FIELDS[k]: v for k, v in env.items() if k in _SETTING_FIELDS})
    else:
        for key, value in env.items():
            os.environ.setdefault(key, value)
    return handler  # type: ignore[no-any-return]


def functions_from_template(
    template: str | Path | Mapping[str, Any],
    endpoint_url: str | None,
    parameters: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> list[LocalFunction]:
    """The template's SQS-triggered functions, their handlers imported and configured (see :func:`load_handler`).

    Raises:
        ConfigError: a handler cannot be imported, or a function's handler is not sqsq's and has no app to poll with.
    """
    out = []
    for spec in sqs_functions(load_template(template), parameters):
        handler = load_handler(spec, endpoint_url, root)
        app = getattr(handler, "app", None)
        if not isinstance(app, App):
            raise ConfigError(
                f"function {spec.resource_id}: its handler is not sqsq's; the local event source mapping needs "
                "sqsq's handler to find the transport"
            )
        out.append(LocalFunction(spec, handler, app.transport, app.settings.region))
    return out


def functions_from_app(app: App, options: TemplateOptions | None = None, **handler_options: Any) -> list[LocalFunction]:
    """The app's consumer functions as ``sqsq template`` declares them (one per Lambda queue), on its current queues.

    Queue names, visibility timeouts and maxReceiveCount are read from the queues themselves (so provisioned
    queues with any prefix work); timeout, batch size, window and concurrency come from the queue plans
    (:func:`sqsq.template.plan_queues`: ``app.declare_queue`` settings, else ``options``). One handler serves them all.
    """
    from sqsq.lambda_handler import lambda_handler

    handler = lambda_handler(app, **handler_options)
    out = []
    for plan in plan_queues(app, options):
        if plan.consumer != "lambda":
            continue
        name = app.queue_name(plan.logical)
        info = app.transport.queue_info(name)
        event = SqsEventSpec(
            event_id=f"{plan.resource_id}Messages",
            queue_resource_id=None,
            queue_name=name,
            visibility_timeout_seconds=info.visibility_timeout_seconds,
            max_receive_count=info.max_receive_count,
            batch_size=plan.batch_size,
            batching_window_seconds=plan.batching_window_seconds,
            report_batch_item_failures=True,
            maximum_concurrency=plan.maximum_concurrency,
            enabled=True,
        )
        spec = FunctionSpec(
            resource_id=f"{plan.resource_id}Function",
            handler=GENERIC_HANDLER,
            timeout_seconds=plan.function_timeout_seconds,
            reserved_concurrency=None,
            environment={},
            events=[event],
            memory_size_mb=plan.memory_size_mb,
        )
        out.append(LocalFunction(spec, handler, app.transport, app.settings.region))
    return out
