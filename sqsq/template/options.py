"""The choices of ``sqsq template`` that are not in the task definitions, and the defaults behind them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqsq.errors import ConfigError
from sqsq.queue_config import QueueConfig
from sqsq.template.fargate import FargateOptions

LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3
"""A function's timeout when the template does not set one."""
MIN_SAFE_MAX_RECEIVE_COUNT = 5
"""AWS's advice for SQS event sources: maxReceiveCount of at least 5, so throttling cannot dead-letter work (B15)."""
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 60
"""Function timeout when no task of the queue declares ``time_limit_seconds``."""
FUNCTION_TIMEOUT_MARGIN_SECONDS = 10
"""Added to the longest task time limit: start-up, result write and the partial-batch bookkeeping."""
DEFAULT_STAGE = "dev"
DEFAULT_RUNTIME = "python3.11"
GENERIC_HANDLER = "sqsq.lambda_entry.handler"
"""sqsq's own entry point, shipped in the layer: it imports the app named by ``SQSQ_APP`` (see :mod:`sqsq.lambda_entry`)."""
DEFAULT_LAYER_DIR = "sqsq-layer"
"""Folder (beside the template) whose ``requirements.txt`` ``sam build`` installs into the dependencies layer."""


@dataclass(frozen=True)
class TemplateOptions:
    """Choices for :func:`sqsq.template.render_template` that are not in the task definitions.

    Per-queue settings declared with ``app.declare_queue(...)`` win over the defaults here.

    Attributes:
        app_spec: the app as ``module:attribute``; the functions' ``SQSQ_APP``, read by the generic handler.
        handler: the functions' Handler; default sqsq's generic entry point ``sqsq.lambda_entry.handler``.
        code_uri: the functions' CodeUri: the folder of the app's own code, relative to the template.
        layer_uri: ContentUri of the dependencies layer: a folder with a ``requirements.txt`` that ``sam build``
            installs (sqsq with its lambda extra; see :mod:`sqsq.template.packaging`).
        runtime: Lambda runtime, e.g. ``python3.11``.
        memory_size_mb: default function MemorySize, 128-10,240 MB.
        batch_size: default records per invocation, 1-10.
        batching_window_seconds: default MaximumBatchingWindowInSeconds, 0-300.
        maximum_concurrency: default ScalingConfig.MaximumConcurrency per queue, 2-1,000 (always set: B15).
        max_receive_count: default of the ``MaxReceiveCount`` parameter (>= 5 unless you accept B15's risk).
        stage: default of the ``Stage`` parameter.
        fargate: render an ECS Fargate service for the worker queues (see :mod:`sqsq.template.fargate`).
        signing_keys_parameter: an SSM Parameter Store parameter (name or ARN; a SecureString) holding the signing
            keys: the consumers get ``SQSQ_SIGNING_KEYS_PARAMETER`` and ``ssm:GetParameter`` on exactly it.
        signing_keys_secret: a Secrets Manager secret (name or ARN) holding them instead: ``SQSQ_SIGNING_KEYS_SECRET``
            and ``secretsmanager:GetSecretValue`` on exactly it.

    Raises:
        ConfigError: a value outside AWS's range.
    """

    app_spec: str | None = None
    handler: str = GENERIC_HANDLER
    code_uri: str = "."
    layer_uri: str = DEFAULT_LAYER_DIR
    runtime: str = DEFAULT_RUNTIME
    memory_size_mb: int = 512
    batch_size: int = 10
    batching_window_seconds: int = 0
    maximum_concurrency: int = 10
    max_receive_count: int = MIN_SAFE_MAX_RECEIVE_COUNT
    stage: str = DEFAULT_STAGE
    fargate: FargateOptions | None = None
    signing_keys_parameter: str | None = None
    signing_keys_secret: str | None = None

    def __post_init__(self) -> None:
        # The same ranges as a declared queue's: one place checks them.
        QueueConfig(
            name="(template default)",
            memory_size_mb=self.memory_size_mb,
            batch_size=self.batch_size,
            batching_window_seconds=self.batching_window_seconds,
            maximum_concurrency=self.maximum_concurrency,
        )
        if not 1 <= self.max_receive_count <= 1000:
            raise ConfigError(f"max_receive_count={self.max_receive_count} must be within 1..1000")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", self.stage):
            raise ConfigError(f"stage={self.stage!r} must be 1-20 lowercase letters, digits or '-'")
        if self.signing_keys_parameter is not None and self.signing_keys_secret is not None:
            raise ConfigError("give signing_keys_parameter or signing_keys_secret, not both")
        if self.signing_keys_parameter is not None and not re.fullmatch(
            r"arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9_.\-/]{1,1011}|[A-Za-z0-9_.\-/]{1,1011}",
            self.signing_keys_parameter,
        ):
            raise ConfigError(
                f"signing_keys_parameter={self.signing_keys_parameter!r} is not an SSM parameter name "
                "(letters, digits, . _ - /) or parameter ARN"
            )
        if self.signing_keys_secret is not None and not re.fullmatch(
            r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}|[A-Za-z0-9/_+=.@-]{1,512}",
            self.signing_keys_secret,
        ):
            raise ConfigError(
                f"signing_keys_secret={self.signing_keys_secret!r} is not a Secrets Manager secret name "
                "(letters, digits, / _ + = . @ -) or secret ARN"
            )
        if not re.fullmatch(r"python3\.\d+", self.runtime):
            raise ConfigError(f"runtime={self.runtime!r} must be a Python Lambda runtime such as python3.11")

