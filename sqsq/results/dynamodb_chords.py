"""The chord counters on DynamoDB (see :mod:`sqsq.results.chords`): conditional UpdateItem, BatchGetItem.

Counter item: ``task_id`` (the counter id), ``status`` STARTED, ``task_name`` ``sqsq.chord``, ``members: NS``,
``n: N`` (the set's size), ``fired``/``failed: BOOL`` (set once each), ``expires_at: N``. AWS: an UpdateItem costs
one write unit per KB of the item (a number in a set takes about 3 bytes), ReturnValues UPDATED_NEW returns the
updated attributes; BatchGetItem reads at most 100 keys per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.results import ResultRecord, Status
from sqsq.results.items import from_item

if TYPE_CHECKING:  # sqsq.results.chords is imported where a chord is counted (issue 11: consumers load it then)
    from sqsq.results.chords import ChordState, Transition
    from sqsq.transport.aws import AwsClients

_BATCH_GET_KEYS = 100
_ADD = (
    "ADD members :member, n :one SET #status = if_not_exists(#status, :started), "
    "task_name = if_not_exists(task_name, :name), attempts = if_not_exists(attempts, :zero), "
    "generation = if_not_exists(generation, :zero), updated_at = :now, expires_at = :exp"
)
_NEW_MEMBER = "attribute_not_exists(members) OR NOT contains(members, :number)"
_FLAG_BASE = (
    "SET {flag} = :true, #status = if_not_exists(#status, :started), task_name = if_not_exists(task_name, :name), "
    "attempts = if_not_exists(attempts, :zero), generation = if_not_exists(generation, :zero), "
    "updated_at = :now, expires_at = if_not_exists(expires_at, :exp)"
)
_CONDITIONS = {
    "fired": "attribute_exists(n) AND n >= :target AND attribute_not_exists(fired)",
    "failed": "attribute_not_exists(fired) AND attribute_not_exists(failed)",
}


class DynamoChords:
    """The :class:`sqsq.results.chords.ChordStore` half of :class:`sqsq.results.dynamodb.DynamoResults`."""

    _clients: AwsClients
    table_name: str

    def _error(self, exc: ClientError | BotoCoreError, doing: str) -> Exception:
        raise NotImplementedError  # DynamoResults._error

    def _counter_values(self, expires_at: int) -> dict[str, dict[str, Any]]:
        from sqsq.results.chords import CHORD_TASK_NAME

        return {
            ":started": {"S": Status.STARTED.value}, ":name": {"S": CHORD_TASK_NAME}, ":zero": {"N": "0"},
            ":now": {"N": repr(round(time.time(), 6))}, ":exp": {"N": str(expires_at)},
        }

    def add_member(self, counter_id: str, member: int, expires_at: int) -> int:
        """Conditional UpdateItem adding ``member`` to the set (ReturnValues UPDATED_NEW: the new ``n``); on a
        refusal (already counted) a consistent read of ``n``. Raises AwsError."""
        try:
            response = self._clients.dynamodb.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": counter_id}},
                UpdateExpression=_ADD,
                ConditionExpression=_NEW_MEMBER,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    **self._counter_values(expires_at), ":one": {"N": "1"},
                    ":member": {"NS": [str(member)]}, ":number": {"N": str(member)},
                },
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._error(exc, f"counting member {member} in {counter_id}") from exc
            state = self.chord_state(counter_id)
            return 0 if state is None else state.done
        except BotoCoreError as exc:
            raise self._error(exc, f"counting member {member} in {counter_id}") from exc
        return int(response["Attributes"]["n"]["N"])

    def chord_state(self, counter_id: str) -> ChordState | None:
        """Strongly consistent GetItem of the counter. Raises AwsError."""
        try:
            item = self._clients.dynamodb.get_item(
                TableName=self.table_name, Key={"task_id": {"S": counter_id}}, ConsistentRead=True,
                ProjectionExpression="n, fired, failed",  # not the set: only its size
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, f"reading chord counter {counter_id}") from exc
        if not item:
            return None
        from sqsq.results.chords import ChordState

        return ChordState(
            counter_id=counter_id,
            done=int(item.get("n", {}).get("N", "0")),
            fired=bool(item.get("fired", {}).get("BOOL", False)),
            failed=bool(item.get("failed", {}).get("BOOL", False)),
        )

    def chord_transition(self, counter_id: str, flag: Transition, target: int, expires_at: int) -> bool:
        """Conditional UpdateItem setting ``flag`` (see :class:`~sqsq.results.chords.ChordStore`). Raises AwsError."""
        target_value = {":target": {"N": str(target)}} if flag == "fired" else {}
        try:
            self._clients.dynamodb.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": counter_id}},
                UpdateExpression=_FLAG_BASE.format(flag=flag),
                ConditionExpression=_CONDITIONS[flag],
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={**self._counter_values(expires_at), ":true": {"BOOL": True}, **target_value},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._error(exc, f"marking chord {counter_id} {flag}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"marking chord {counter_id} {flag}") from exc
        return True

    def get_many(self, task_ids: Sequence[str]) -> dict[str, ResultRecord]:
        """BatchGetItem (consistent, 100 keys a request, unprocessed keys asked again). Raises AwsError."""
        found: dict[str, ResultRecord] = {}
        now = time.time()
        unique = list(dict.fromkeys(task_ids))
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            pending: dict[str, Any] = {self.table_name: {
                "Keys": [{"task_id": {"S": i}} for i in unique[start:start + _BATCH_GET_KEYS]], "ConsistentRead": True,
            }}
            while pending:
                try:
                    response = self._clients.dynamodb.batch_get_item(RequestItems=pending)
                except (ClientError, BotoCoreError) as exc:
                    raise self._error(exc, f"reading {len(unique)} results") from exc
                for item in response.get("Responses", {}).get(self.table_name, []):
                    record = from_item(item)
                    if record.expires_at > now:
                        found[record.task_id] = record
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    time.sleep(0.05)
        return found
