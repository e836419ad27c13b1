"""API action names of REST-JSON requests (EventBridge Scheduler), which carry no ``X-Amz-Target`` or ``Action``.

Used by :meth:`sqsq.local.services.base.AwsRequest.classify` so the request counter names scheduler calls
(``scheduler:CreateSchedule``) rather than ``scheduler:unknown``. Paths from
https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Operations.html
"""

from __future__ import annotations

_SCHEDULER: dict[tuple[str, str], str] = {
    ("POST", "schedules/*"): "CreateSchedule",
    ("GET", "schedules/*"): "GetSchedule",
    ("PUT", "schedules/*"): "UpdateSchedule",
    ("DELETE", "schedules/*"): "DeleteSchedule",
    ("GET", "schedules"): "ListSchedules",
    ("POST", "schedule-groups/*"): "CreateScheduleGroup",
    ("GET", "schedule-groups/*"): "GetScheduleGroup",
    ("DELETE", "schedule-groups/*"): "DeleteScheduleGroup",
    ("GET", "schedule-groups"): "ListScheduleGroups",
    ("GET", "tags/*"): "ListTagsForResource",
    ("POST", "tags/*"): "TagResource",
    ("DELETE", "tags/*"): "UntagResource",
}


def rest_action(service: str, method: str, path: str) -> str | None:
    """The action of a REST request to ``service`` (only ``"scheduler"`` is known), or None."""
    if service != "scheduler":
        return None
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    shape = parts[0] if len(parts) == 1 else f"{parts[0]}/*"
    return _SCHEDULER.get((method.upper(), shape))
