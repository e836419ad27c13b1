"""The chord counter on DynamoDB (see :mod:`sqsq.results.chords`): TransactWriteItems, UpdateItem, BatchGetItem.

Counter item: ``task_id`` (the counter id), ``status`` STARTED, ``task_name`` ``sqsq.chord``, ``done: N``,
``size: N``, ``fired``/``failed: BOOL`` (set once each), ``expires_at: N``. AWS: a transaction of two writes costs
two write units per KB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html);
BatchGetItem reads at most 100 keys per request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.results import ResultRecord, Status
from sqsq.results.chords import CHORD_TASK_NAME, ChordState, Transition

if TYPE_CHECKING:
    from sqsq.transport.aws import AwsClients

_BATCH_GET_KEYS = 100
_COUNT = (
    "ADD done :one SET #size = :size, #status = if_not_exists(#status, :started), "
    "task_name = if_not_exists(task_name, :name), attempts = if_not_exists(attempts, :zero), "
    "generation = if_not_exists(generation, :zero), updated_at = :now, expires_at = :exp"
)
_FLAG_BASE = (
    "SET {flag} = :true, #status = if_not_exists(#status, :started), task_name = if_not_exists(task_name, :name), "
    "attempts = if_not_exists(attempts, :zero), generation = if_not_exists(generation, :zero), "
    "updated_at = :now, expires_at = if_not_exists(expires_at, :exp)"
)
_CONDITIONS = {
    "fired": "attribute_exists(done) AND done >= #size AND attribute_not_exists(fired)",
    "failed": "attribute_not_exists(fired) AND attribute_not_exists(failed)",
}


class DynamoChords:
    """The :class:`sqsq.results.chords.ChordStore` half of :class:`sqsq.results.dynamodb.DynamoResults`."""

    _clients: AwsClients
    table_name: str

    def _error(self, exc: ClientError | BotoCoreError, doing: str) -> Exception:
        raise NotImplementedError  # DynamoResults._error

    def _counter_values(self, expires_at: int) -> dict[str, dict[str, Any]]:
        return {
            ":started": {"S": Status.STARTED.value}, ":name": {"S": CHORD_TASK_NAME}, ":zero": {"N": "0"},
            ":now": {"N": repr(round(time.time(), 6))}, ":exp": {"N": str(expires_at)},
        }

    def put_counted(self, record: ResultRecord, counter_id: str, size: int) -> bool:
        """One TransactWriteItems: the member's conditional Put and ``ADD done 1`` on the counter.

        Raises:
            ResultTooLarge, ResultsTableNotFound, AwsError.
        """
        from sqsq.results.dynamodb import put_request  # the module imports this one

        put = put_request(self.table_name, record)
        update = {
            "TableName": self.table_name,
            "Key": {"task_id": {"S": counter_id}},
            "UpdateExpression": _COUNT,
            "ExpressionAttributeNames": {"#size": "size", "#status": "status"},
            "ExpressionAttributeValues": {
                **self._counter_values(record.expires_at), ":one": {"N": "1"}, ":size": {"N": str(size)},
            },
        }
        try:
            self._clients.dynamodb.transact_write_items(TransactItems=[{"Put": put}, {"Update": update}])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if error.get("Code") == "TransactionCanceledException" and (
                "ConditionalCheckFailed" in reasons or "ConditionalCheckFailed" in str(error.get("Message", ""))
            ):
                return False
            raise self._error(exc, f"counting chord member {record.task_id}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"counting chord member {record.task_id}") from exc
        return True

    def chord_state(self, counter_id: str) -> ChordState | None:
        """Strongly consistent GetItem of the counter. Raises AwsError."""
        try:
            item = self._clients.dynamodb.get_item(
                TableName=self.table_name, Key={"task_id": {"S": counter_id}}, ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, f"reading chord counter {counter_id}") from exc
        if not item:
            return None
        return ChordState(
            counter_id=counter_id,
            size=int(item.get("size", {}).get("N", "0")),
            done=int(item.get("done", {}).get("N", "0")),
            fired=bool(item.get("fired", {}).get("BOOL", False)),
            failed=bool(item.get("failed", {}).get("BOOL", False)),
        )

    def chord_transition(self, counter_id: str, flag: Transition, expires_at: int) -> bool:
        """Conditional UpdateItem setting ``flag`` (see :class:`~sqsq.results.chords.ChordStore`). Raises AwsError."""
        names = {"#status": "status"} | ({"#size": "size"} if flag == "fired" else {})
        try:
            self._clients.dynamodb.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": counter_id}},
                UpdateExpression=_FLAG_BASE.format(flag=flag),
                ConditionExpression=_CONDITIONS[flag],
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**self._counter_values(expires_at), ":true": {"BOOL": True}},
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
        from sqsq.results.dynamodb import _from_item  # the module imports this one

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
                    record = _from_item(item)
                    if record.expires_at > now:
                        found[record.task_id] = record
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    time.sleep(0.05)
        return found
