"""One-time schedules as data: the :class:`Scheduler` seam (create, delete) and its in-memory twin.

The boto3 implementation is :class:`sqsq.transport.scheduler.AwsScheduler`; this module imports no boto3, so
the App can name the seam without loading botocore. Requests per delayed task: one
CreateSchedule (and one DeleteSchedule on cancel; EventBridge deletes a fired one-time schedule itself with
``ActionAfterCompletion: DELETE``). API: https://docs.aws.amazon.com/scheduler/latest/APIReference/
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

UNIVERSAL_SEND_MESSAGE_ARN = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
"""The universal target that calls SQS SendMessage with the schedule's Input as the request (so DelaySeconds
can be set, which the templated SQS target cannot)."""

RETRY_MAX_ATTEMPTS = 185
"""RetryPolicy.MaximumRetryAttempts: EventBridge's maximum; a firing SQS refused is retried for up to a day."""
RETRY_MAX_EVENT_AGE_SECONDS = 86_400
"""RetryPolicy.MaximumEventAgeInSeconds: EventBridge's maximum (24 h); then the event goes to the DLQ."""


@dataclass(frozen=True)
class OneTimeSchedule:
    """A one-time schedule that sends one SQS message.

    Attributes:
        name: schedule name (1-64 of ``[0-9a-zA-Z-_.]``), derived from the task id.
        group: schedule group name.
        expression: ``at(yyyy-mm-ddThh:mm:ss)``, UTC.
        queue_url: the target queue's URL (SendMessage's QueueUrl).
        queue_arn: the target queue's ARN (for the error message; the target is the universal SendMessage).
        body: the message body (the task's envelope).
        delay_seconds: SendMessage's DelaySeconds, 0-900.
        role_arn: the role EventBridge Scheduler assumes to send (needs ``sqs:SendMessage`` on the queue).
        dead_letter_arn: the queue's DLQ ARN: where a firing that failed all retries goes; ``None``: none.
        description: free text (which task, which id, when due).
    """

    name: str
    group: str
    expression: str
    queue_url: str
    queue_arn: str
    body: str
    delay_seconds: int
    role_arn: str
    dead_letter_arn: str | None = None
    description: str = ""

    def target_input(self) -> str:
        """The Input of the universal SendMessage target: SendMessage's request as JSON."""
        return json.dumps({"QueueUrl": self.queue_url, "MessageBody": self.body, "DelaySeconds": self.delay_seconds})

    def request(self) -> dict[str, Any]:
        """The CreateSchedule request."""
        target: dict[str, Any] = {
            "Arn": UNIVERSAL_SEND_MESSAGE_ARN,
            "RoleArn": self.role_arn,
            "Input": self.target_input(),
            "RetryPolicy": {
                "MaximumRetryAttempts": RETRY_MAX_ATTEMPTS,
                "MaximumEventAgeInSeconds": RETRY_MAX_EVENT_AGE_SECONDS,
            },
        }
        if self.dead_letter_arn is not None:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return {
            "Name": self.name,
            "GroupName": self.group,
            "ScheduleExpression": self.expression,
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "State": "ENABLED",
            "Description": self.description[:512],
            "Target": target,
        }


class Scheduler(Protocol):
    """Where one-time schedules are created. Methods may raise :class:`sqsq.errors.AwsError`."""

    def create(self, schedule: OneTimeSchedule) -> bool:
        """Create it; False when a schedule of that name already exists in the group (a retried send)."""
        ...

    def delete(self, group: str, name: str) -> bool:
        """Delete it; False when there is none (fired and deleted already, or never created)."""
        ...


class MemoryScheduler:
    """The in-memory twin of :class:`AwsScheduler`: keeps schedules; never fires them (tests fire by hand)."""

    def __init__(self) -> None:
        self.schedules: dict[tuple[str, str], OneTimeSchedule] = {}
        self._lock = threading.Lock()

    def create(self, schedule: OneTimeSchedule) -> bool:
        """Keep it; False when the name exists in the group."""
        with self._lock:
            key = (schedule.group, schedule.name)
            if key in self.schedules:
                return False
            self.schedules[key] = schedule
            return True

    def delete(self, group: str, name: str) -> bool:
        """Forget it; False when there is none."""
        with self._lock:
            return self.schedules.pop((group, name), None) is not None
