"""What a worker counts since it started (for logs, the demo and tests)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WorkerStats:
    """Counters since start (for logs, the demo and tests)."""

    received: int = 0
    succeeded: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    released: int = 0
    deferred: int = 0
    deletes_failed: int = 0
    visibility_changes_failed: int = 0
    redelivered_while_held: int = 0
    waited_for_same_task: int = 0
    """Deliveries that waited for another delivery of their task id held here (:mod:`sqsq.worker.duplicates`)."""
    receive_failures: int = 0
    child_deaths: int = 0
    rescued: int = 0
    dlq_rescued: int = 0
    dlq_recorded: int = 0

    def summary(self) -> str:
        """One line for the log when the worker stops."""
        return (
            f"{self.received} received, {self.succeeded} succeeded, {self.duplicates} duplicates acknowledged, "
            f"{self.retried} retried, {self.dead_lettered} dead-lettered, {self.released} released, "
            f"{self.deferred} deferred, {self.rescued} rescued, {self.deletes_failed} deletes failed, "
            f"{self.child_deaths} pool process deaths, {self.redelivered_while_held} came back while held (not rerun), "
            f"{self.waited_for_same_task} waited for a delivery of the same task id"
        )
