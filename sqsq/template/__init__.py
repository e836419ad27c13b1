"""The SAM template of an app, rendered from its task definitions, and the checks every template must pass.

``template.yaml`` owns every cloud resource (see the architecture notes). :func:`render_template` builds it from an
:class:`sqsq.App`; ``sqsq template APP`` writes it with the layer's requirements and a ``samconfig.toml``.

* :mod:`~sqsq.template.plan`: per-queue plans (function timeout from the queue's task time limits, visibility
  timeout = 6 x timeout + window, memory/batch/concurrency from ``app.declare_queue``); shared with provisioning;
* :mod:`~sqsq.template.resources`: one builder per resource kind (queues and DLQs with SSE and redrive, DLQ alarms,
  the results table with TTL and PITR, the consumer role, the layer, one function per queue);
* :mod:`~sqsq.template.fargate`: the ECS Fargate service for ``sqsq worker`` pollers (``--fargate``);
* :mod:`~sqsq.template.render`: assembly and YAML;
* :mod:`~sqsq.template.packaging`: the layer's requirements and the functions' CodeUri;
* :mod:`~sqsq.template.reading` and :mod:`~sqsq.template.checks`: loading templates, resolving intrinsics offline,
  and the checks (B12, B14, B15 and packaging).
"""

from __future__ import annotations

from sqsq.template.checks import Finding, TemplateCheckFailed, check_template
from sqsq.template.naming import logical_id
from sqsq.template.options import (
    DEFAULT_FUNCTION_TIMEOUT_SECONDS,
    FUNCTION_TIMEOUT_MARGIN_SECONDS,
    GENERIC_HANDLER,
    LAMBDA_DEFAULT_TIMEOUT_SECONDS,
    MIN_SAFE_MAX_RECEIVE_COUNT,
    TemplateOptions,
)
from sqsq.template.plan import (
    QueuePlan,
    function_timeout_seconds,
    plan_queues,
    required_visibility_timeout_seconds,
)
from sqsq.template.reading import FunctionSpec, Resolver, SqsEventSpec, load_template, sqs_functions
from sqsq.template.render import dump_template, render_template, render_template_yaml

__all__ = [
    "DEFAULT_FUNCTION_TIMEOUT_SECONDS",
    "FUNCTION_TIMEOUT_MARGIN_SECONDS",
    "GENERIC_HANDLER",
    "LAMBDA_DEFAULT_TIMEOUT_SECONDS",
    "MIN_SAFE_MAX_RECEIVE_COUNT",
    "Finding",
    "FunctionSpec",
    "QueuePlan",
    "Resolver",
    "SqsEventSpec",
    "TemplateCheckFailed",
    "TemplateOptions",
    "check_template",
    "dump_template",
    "function_timeout_seconds",
    "load_template",
    "logical_id",
    "plan_queues",
    "render_template",
    "render_template_yaml",
    "required_visibility_timeout_seconds",
    "sqs_functions",
]
