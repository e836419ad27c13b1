"""The settings of one built function that its local processes need (read from a built template by ``built``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LAMBDA_INIT_LIMIT_SECONDS = 10.0
"""Lambda's limit on the Init phase (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html)."""
LAMBDA_DEFAULT_MEMORY_MB = 128
"""MemorySize when a function sets none."""


@dataclass(frozen=True)
class BuiltFunctionSpec:
    """One function of a ``sam build`` output.

    Attributes:
        function_id: the function's logical id (``ConsumerFunction``).
        function_name: its FunctionName (resolved), or the logical id when it has none.
        handler: ``Handler`` (``module.attribute``, the module path relative to the task root).
        task_root: the built code folder (``.aws-sam/build/ConsumerFunction``): cwd and LAMBDA_TASK_ROOT.
        layers: each layer's content folder (holding ``python/...``), in the function's Layers order.
        timeout_seconds: the function's Timeout.
        memory_mb: its MemorySize.
        runtime: its Runtime (``python3.11``).
        environment: its Environment.Variables, resolved.
        region: AWS_REGION of the process.
        max_processes: processes the pool may run at once (the events' MaximumConcurrency, summed, capped by
            ReservedConcurrentExecutions).
        init_limit_seconds: longest cold start before the process is killed (Lambda: 10 s).
    """

    function_id: str
    function_name: str
    handler: str
    task_root: Path
    layers: tuple[Path, ...]
    timeout_seconds: float
    memory_mb: int = LAMBDA_DEFAULT_MEMORY_MB
    runtime: str = "python3.11"
    environment: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    max_processes: int = 1
    init_limit_seconds: float = LAMBDA_INIT_LIMIT_SECONDS

    @property
    def function_arn(self) -> str:
        """The ARN the runtime is told it was invoked as (moto's default account)."""
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"
