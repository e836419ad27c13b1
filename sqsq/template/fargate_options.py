"""The options of the Fargate worker section (:mod:`sqsq.template.fargate`): task size, worker flags, scaling,
with the ECS, Application Auto Scaling and CloudWatch Logs limits they are checked against. Pure; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqsq.errors import ConfigError

__all__ = [
    "FARGATE_MAX_STOP_TIMEOUT_SECONDS",
    "FargateOptions",
    "LOG_RETENTION_DAYS",
    "MAX_METRIC_QUERIES",
    "MAX_SHUTDOWN_GRACE_SECONDS",
    "MAX_WORKER_QUEUES",
    "STOP_MARGIN_SECONDS",
    "WORKER_MAX_CONCURRENCY",
    "fargate_memory_choices_mb",
]

FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120
"""Longest ECS StopTimeout on Fargate (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html)."""
STOP_MARGIN_SECONDS = 10
"""StopTimeout beyond the worker's grace period: releasing what still runs and flushing acknowledgements."""
MAX_SHUTDOWN_GRACE_SECONDS = FARGATE_MAX_STOP_TIMEOUT_SECONDS - STOP_MARGIN_SECONDS
MAX_METRIC_QUERIES = 10
"""Metric data queries one target tracking metric specification may hold; counted here with the expression, which
leaves room for 8 queues (https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking-metric-math.html)."""
MAX_WORKER_QUEUES = MAX_METRIC_QUERIES - 2
WORKER_MAX_CONCURRENCY = 256
"""The largest ``sqsq worker -c``."""
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
"""CloudWatch Logs' allowed RetentionInDays (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html)."""


def fargate_memory_choices_mb(cpu: int) -> tuple[int, ...]:
    """Memory sizes (MB) Fargate accepts with ``cpu`` units; empty for a cpu value Fargate does not offer.

    From AWS's table (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html);
    8192 and 16384 units need Linux platform 1.4.0, which ``LATEST`` is.
    """
    if cpu == 256:
        return (512, 1024, 2048)
    ranges = {512: (1024, 1024, 4096), 1024: (2048, 1024, 8192), 2048: (4096, 1024, 16384),
              4096: (8192, 1024, 30720), 8192: (16384, 4096, 61440), 16384: (32768, 8192, 122880)}
    if cpu not in ranges:
        return ()
    low, step, high = ranges[cpu]
    return tuple(range(low, high + 1, step))


@dataclass(frozen=True)
class FargateOptions:
    """Size, worker flags and scaling of the Fargate workers.

    Attributes:
        cpu: task CPU units (256 = 0.25 vCPU): 256, 512, 1024, 2048, 4096, 8192 or 16384.
        memory_mb: task memory, MB; one of :func:`fargate_memory_choices_mb` for ``cpu``.
        concurrency: the worker's ``-c``, 1-256 (threads, or child processes with ``pool="process"``).
        pool: ``"thread"`` or ``"process"`` (CPU-bound tasks; then keep ``concurrency`` near the vCPUs).
        min_tasks: fewest running tasks, >= 1 (backlog per task is undefined at zero; see the module notes).
        max_tasks: most running tasks, >= ``min_tasks``.
        target_backlog_per_task: visible messages per running task the policy holds, > 0; e.g. acceptable latency
            / average seconds per message x ``concurrency``.
        shutdown_grace_seconds: the worker's ``--shutdown-grace-seconds``, 0-110 (StopTimeout adds 10 s; 120 max).
        log_retention_days: the log group's retention, one of CloudWatch's values (1, 3, 5, 7, 14, 30, ...).
        cpu_architecture: ``"X86_64"`` or ``"ARM64"``; must match the image.
        scale_out_cooldown_seconds: ScaleOutCooldown, >= 0.
        scale_in_cooldown_seconds: ScaleInCooldown, >= 0.
    """

    cpu: int = 256
    memory_mb: int = 512
    concurrency: int = 4
    pool: str = "thread"
    min_tasks: int = 1
    max_tasks: int = 4
    target_backlog_per_task: float = 100.0
    shutdown_grace_seconds: float = 30.0
    log_retention_days: int = 30
    cpu_architecture: str = "X86_64"
    scale_out_cooldown_seconds: int = 60
    scale_in_cooldown_seconds: int = 300

    def __post_init__(self) -> None:
        choices = fargate_memory_choices_mb(self.cpu)
        if not choices:
            raise ConfigError(f"cpu={self.cpu} is not a Fargate size; use 256, 512, 1024, 2048, 4096, 8192 or 16384")
        if self.memory_mb not in choices:
            shown = ", ".join(str(m) for m in choices) if len(choices) <= 8 else (
                f"{choices[0]}-{choices[-1]} in steps of {choices[1] - choices[0]}")
            raise ConfigError(f"memory_mb={self.memory_mb} does not fit Fargate's cpu={self.cpu}; use {shown} "
                              "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html)")
        if not 1 <= self.concurrency <= WORKER_MAX_CONCURRENCY:
            raise ConfigError(f"concurrency={self.concurrency} must be within 1..{WORKER_MAX_CONCURRENCY} (sqsq worker -c)")
        if self.pool not in ("thread", "process"):
            raise ConfigError(f"pool={self.pool!r} must be 'thread' or 'process'")
        if self.min_tasks < 1:
            raise ConfigError(f"min_tasks={self.min_tasks}: backlog per task cannot scale out from zero running tasks; "
                              "use min_tasks >= 1")
        if self.max_tasks < self.min_tasks:
            raise ConfigError(f"max_tasks={self.max_tasks} is below min_tasks={self.min_tasks}; raise max_tasks")
        if not self.target_backlog_per_task > 0:
            raise ConfigError(f"target_backlog_per_task={self.target_backlog_per_task} must be > 0 (messages per task)")
        if not 0 <= self.shutdown_grace_seconds <= MAX_SHUTDOWN_GRACE_SECONDS:
            raise ConfigError(
                f"shutdown_grace_seconds={self.shutdown_grace_seconds} must be within 0..{MAX_SHUTDOWN_GRACE_SECONDS}: "
                f"Fargate kills a container {FARGATE_MAX_STOP_TIMEOUT_SECONDS} s after SIGTERM at most, and the worker "
                f"needs {STOP_MARGIN_SECONDS} s after the grace period to release messages and flush deletes")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ConfigError(f"log_retention_days={self.log_retention_days} is not a CloudWatch Logs retention; use "
                              f"one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.cpu_architecture not in ("X86_64", "ARM64"):
            raise ConfigError(f"cpu_architecture={self.cpu_architecture!r} must be 'X86_64' or 'ARM64'")
        if self.scale_out_cooldown_seconds < 0 or self.scale_in_cooldown_seconds < 0:
            raise ConfigError("scale_out_cooldown_seconds and scale_in_cooldown_seconds must be >= 0")

    @property
    def stop_timeout_seconds(self) -> int:
        """The container's StopTimeout: the grace period (rounded up) + :data:`STOP_MARGIN_SECONDS`."""
        return math.ceil(self.shutdown_grace_seconds) + STOP_MARGIN_SECONDS
