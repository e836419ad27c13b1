"""EventBridge Scheduler through boto3: :class:`AwsScheduler`, the :class:`~sqsq.transport.schedules.Scheduler`
that delivers sends due more than 900 s ahead.

Requests per delayed task: one CreateSchedule (one more DeleteSchedule on cancel; EventBridge deletes a fired
one-time schedule itself, ``ActionAfterCompletion: DELETE``). API: https://docs.aws.amazon.com/scheduler/latest/APIReference/
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.errors import AwsError, ConfigError
from sqsq.transport.aws import AwsClients, wrap_boto_error
from sqsq.transport.schedules import OneTimeSchedule


class AwsScheduler:
    """:class:`Scheduler` on EventBridge Scheduler.

    Args:
        clients: shared boto3 clients.
        create_missing_group: create the schedule group on first use when it does not exist (the local AWS and
            ``sqsq provision``); False on AWS, where the template declares it.
    """

    def __init__(self, clients: AwsClients, *, create_missing_group: bool):
        self._clients = clients
        self._create_missing_group = create_missing_group
        self._groups_ready: set[str] = set()
        self._lock = threading.Lock()

    @property
    def _client(self) -> Any:
        return self._clients.client("scheduler", read_timeout_seconds=15)

    def _call(self, doing: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_boto_error(exc, doing, self._clients.describe_endpoint()) from exc

    def ensure_group(self, group: str) -> None:
        """Create the schedule group if missing (once per process and group). Raises AwsError."""
        if group in self._groups_ready:
            return
        with self._lock:
            try:
                self._call(f"reading schedule group {group}", "get_schedule_group", Name=group)
            except AwsError as exc:
                if exc.code != "ResourceNotFoundException":
                    raise
                try:
                    self._call(f"creating schedule group {group}", "create_schedule_group", Name=group)
                except AwsError as again:
                    if again.code != "ConflictException":
                        raise
            self._groups_ready.add(group)

    def create(self, schedule: OneTimeSchedule) -> bool:
        """CreateSchedule; a ConflictException (the name exists: a retried send of the same task) is False.

        Raises:
            ConfigError: the schedule group does not exist (on AWS: deploy the template that declares it).
            AwsError: any other refusal.
        """
        if self._create_missing_group:
            self.ensure_group(schedule.group)
        try:
            self._call(f"creating schedule {schedule.name}", "create_schedule", **schedule.request())
        except AwsError as exc:
            if exc.code == "ConflictException":
                return False
            if exc.code == "ResourceNotFoundException":
                raise ConfigError(
                    f"schedule group {schedule.group!r} does not exist at {self._clients.describe_endpoint()}; "
                    "deploy the app's template (`sqsq template APP`), run `sqsq provision APP`, or set "
                    "SQSQ_SCHEDULE_GROUP"
                ) from exc
            raise
        return True

    def delete(self, group: str, name: str) -> bool:
        """DeleteSchedule; ResourceNotFoundException (fired or never created) is False. Raises AwsError."""
        try:
            self._call(f"deleting schedule {name}", "delete_schedule", GroupName=group, Name=name)
        except AwsError as exc:
            if exc.code == "ResourceNotFoundException":
                return False
            raise
        return True
