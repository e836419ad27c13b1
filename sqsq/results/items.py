"""A task's :class:`sqsq.results.ResultRecord` as a DynamoDB item and back (the shape is described in
:mod:`sqsq.results.dynamodb`). Pure: no I/O, no boto3.
"""

from __future__ import annotations

from typing import Any

from sqsq.results import ResultRecord, Status, stored_sent_at

__all__ = ["from_item", "item_number", "item_string", "storable", "to_item"]


def storable(text: str) -> str:
    """``text`` as DynamoDB accepts it: lone surrogates (e.g. from surrogateescape file names) are escaped."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def to_item(r: ResultRecord) -> dict[str, dict[str, str]]:
    """The record as a DynamoDB item (attribute values in the low-level client's form); absent fields are left out."""
    item: dict[str, dict[str, str]] = {
        "task_id": {"S": r.task_id},
        "status": {"S": r.status.value},
        "task_name": {"S": storable(r.task_name)},
        "attempts": {"N": str(r.attempts)},
        "generation": {"N": str(r.generation)},
        "updated_at": {"N": repr(round(r.updated_at, 6))},
        "expires_at": {"N": str(r.expires_at)},
    }
    optional: dict[str, Any] = {
        "result": r.result_json,
        "error_type": r.error_type,
        "error_message": r.error_message,
        "traceback": r.traceback,
    }
    for key, value in optional.items():
        if value is not None:
            item[key] = {"S": storable(value)}
    sent_at = stored_sent_at(r.sent_at)
    if sent_at is not None:
        item["sent_at"] = {"N": repr(sent_at)}
    if r.lease_expires_at is not None:
        item["lease_expires_at"] = {"N": repr(round(r.lease_expires_at, 6))}
    if r.due_at is not None:
        item["due_at"] = {"N": repr(round(r.due_at, 6))}
    if r.runtime_seconds is not None:
        item["runtime_seconds"] = {"N": repr(round(r.runtime_seconds, 6))}
    if r.args_preview is not None:
        item["args_preview"] = {"S": storable(r.args_preview)}
    return item


def item_string(item: dict[str, dict[str, str]], key: str) -> str | None:
    """The string attribute ``key`` of a DynamoDB item (``{"S": ...}``), or None when absent."""
    v = item.get(key)
    return v["S"] if v else None


def item_number(item: dict[str, dict[str, str]], key: str) -> float | None:
    """The number attribute ``key`` of a DynamoDB item (``{"N": ...}``) as a float, or None when absent."""
    v = item.get(key)
    return float(v["N"]) if v else None


def from_item(item: dict[str, dict[str, str]]) -> ResultRecord:
    """The record a DynamoDB item holds (the inverse of :func:`to_item`)."""

    def s(key: str) -> str | None:
        return item_string(item, key)

    def n(key: str) -> float | None:
        return item_number(item, key)

    return ResultRecord(
        task_id=item["task_id"]["S"],
        status=Status(item["status"]["S"]),
        task_name=s("task_name") or "",
        result_json=s("result"),
        error_type=s("error_type"),
        error_message=s("error_message"),
        traceback=s("traceback"),
        attempts=int(n("attempts") or 0),
        generation=int(n("generation") or 0),
        sent_at=n("sent_at"),
        updated_at=n("updated_at") or 0.0,
        expires_at=int(n("expires_at") or 0),
        lease_expires_at=n("lease_expires_at"),
        due_at=n("due_at"),
        runtime_seconds=n("runtime_seconds"),
        args_preview=s("args_preview"),
    )
