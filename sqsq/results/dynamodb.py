"""DynamoDB results store: one item per task id, written with a conditional PutItem.

Item shape (attribute: type): ``task_id: S`` (partition key), ``status: S``, ``task_name: S``, ``result: S``
(JSON text, so floats, Decimals and big ints keep their exact digits), ``error_type``/``error_message``/
``traceback: S``, ``attempts: N``, ``generation: N``, ``sent_at``/``updated_at: N`` (epoch seconds),
``expires_at: N`` (epoch seconds; the table's TTL attribute), ``lease_expires_at: N`` (epoch seconds;
claims only), ``args_preview: S`` (the masked arguments, at most 512 characters), ``due_at: N`` (epoch seconds;
SCHEDULED records only), ``result_s3: S`` (a result past the item size, stored in S3 when a payload bucket is
set: the pointer's ``{"s3BucketName", "s3Key"}`` as JSON, in place of ``result``; see :mod:`sqsq.payloads`),
``runtime_seconds: N`` and the task index's key ``state_day: S`` (see :mod:`sqsq.results.index`). The app's
revocation marker (:mod:`sqsq.results.revocations`) is one more item, keyed ``sqsq-revocations:<app>``.
DynamoDB deletes expired items only eventually (and moto never does), so readers treat ``expires_at <= now`` as
absent.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from sqsq import limits
from sqsq.errors import AwsError, LimitExceeded, MessageDecodeError, PayloadMissing, ResultsTableNotFound, ResultTooLarge
from sqsq.payloads import pointer_from_json, result_key
from sqsq.results import ResultRecord, Status, stored_sent_at
from sqsq.results.dynamodb_chords import DynamoChords
from sqsq.results.index import INDEX_PARTITION_KEY, partition
from sqsq.results.items import from_item, storable, to_item
from sqsq.transport.aws import AwsClients, wrap_boto_error

if TYPE_CHECKING:
    from sqsq.payload_pointer import PayloadPointer
    from sqsq.transport.payloads import PayloadStore

# The same-message rule of sqsq.results.same_message: a live record is only replaced by a write of the same task
# name and equal sent_at (a write without sent_at matches only a record without one, and the reverse). Task ids are
# random, so anything else is a message forged with another task's id: refused whatever its generation.
_SAME_NAME_NO_SENT_AT = "task_name = :task_name AND attribute_not_exists(sent_at)"
_SAME_NAME_AND_SENT_AT = "task_name = :task_name AND sent_at = :sent_at"
# The forward-only rule of sqsq.results.may_overwrite, as a condition DynamoDB evaluates atomically with the
# write: a record that is missing or expired may be replaced; one of the same message may be replaced from a later
# generation, or when it is not final and not from a later attempt (a final write: whatever its attempt, since a
# rescued copy starts its receive count again). Anything else means a later writer got there first (or the record
# is another message's).
_CONDITION = (
    "attribute_not_exists(task_id) OR expires_at <= :now OR ({same} AND (generation < :gen OR "
    "(generation = :gen AND NOT #status IN (:success, :failure, :revoked) AND attempts <= :attempts)))"
)
_FINAL_CONDITION = (
    "attribute_not_exists(task_id) OR expires_at <= :now OR ({same} AND (generation < :gen OR "
    "(generation = :gen AND NOT #status IN (:success, :failure, :revoked))))"
)
# The claim rule of sqsq.results.may_claim: no live record, or a record of the same message that is of an earlier
# generation, or not final and holding no live lease. DynamoDB evaluates it atomically with the write, so of two
# deliveries racing for one task id exactly one claim succeeds; the other gets ConditionalCheckFailed and reads
# who holds it.
_CLAIM_CONDITION = (
    "attribute_not_exists(task_id) OR expires_at <= :now OR ({same} AND (generation < :gen OR "
    "(generation = :gen AND NOT #status IN (:success, :failure, :revoked) AND "
    "(attribute_not_exists(lease_expires_at) OR lease_expires_at <= :now_exact))))"
)


def _same_message(record: ResultRecord) -> tuple[str, dict[str, dict[str, str]]]:
    """The same-message clause for ``record`` and its expression values."""
    values = {":task_name": {"S": storable(record.task_name)}}
    sent_at = stored_sent_at(record.sent_at)
    if sent_at is None:
        return _SAME_NAME_NO_SENT_AT, values
    values[":sent_at"] = {"N": repr(sent_at)}
    return _SAME_NAME_AND_SENT_AT, values


_CLAIM_READ_ATTEMPTS = 3


def _item_size_bytes(item: dict[str, dict[str, str]]) -> int:
    # DynamoDB counts attribute names plus values (UTF-8); numbers are at most 21 bytes.
    return sum(len(k.encode()) + len(next(iter(v.values())).encode("utf-8", "surrogatepass")) for k, v in item.items())


class DynamoResults(DynamoChords):
    """:class:`sqsq.results.ResultStore` on a DynamoDB table.

    Args:
        clients: shared boto3 clients.
        table_name: the results table (key ``task_id``, TTL on ``expires_at``).
        payloads: where results past the item size go (S3), or None: they are refused (ResultTooLarge).
        index: write the task index's key (:mod:`sqsq.results.index`; one index write per result write), so the
            dashboard lists tasks by Query; False: no index entry, no index cost.
    """

    def __init__(
        self, clients: AwsClients, table_name: str, payloads: PayloadStore | None = None, *, index: bool = True
    ):
        self._clients = clients
        self.table_name = table_name
        self._payloads = payloads
        self.index = index

    @property
    def clients(self) -> AwsClients:
        """The boto3 clients it writes with (the monitoring queries and the worker registry share them)."""
        return self._clients

    def _item(self, record: ResultRecord) -> dict[str, dict[str, str]]:
        item = to_item(record)
        if self.index:
            item[INDEX_PARTITION_KEY] = {"S": partition(record.status.value, record.updated_at)}
        return item

    def _offload(self, record: ResultRecord, item: dict[str, dict[str, str]]) -> PayloadPointer | None:
        """Move the item's result to S3 (a key of its own per write, so a refused write never replaces the object
        a stored record points to); the pointer, or None when there is nothing to move or nowhere to put it."""
        if self._payloads is None or record.result_json is None:
            return None
        key = f"{result_key(record.task_id)}/{uuid.uuid4().hex}"
        pointer = self._payloads.put(key, record.result_json.encode("utf-8", "surrogatepass"))
        del item["result"]
        item["result_s3"] = {"S": json.dumps(pointer.to_json())}
        return pointer

    def _error(self, exc: ClientError | BotoCoreError, doing: str) -> Exception:
        if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return ResultsTableNotFound(
                f"results table {self.table_name!r} does not exist at {self._clients.describe_endpoint()}; "
                "create it with `sqsq provision APP` (or `sqsq local APP`), or deploy template.yaml",
                code="ResourceNotFoundException",
            )
        return wrap_boto_error(exc, doing, self._clients.describe_endpoint())

    def put(self, record: ResultRecord) -> bool:
        """Conditional PutItem (one write unit per KB).

        Returns:
            True if written; False if a later state was already stored (ConditionalCheckFailed).

        Raises:
            ResultTooLarge: the item would exceed DynamoDB's 400 KB item size.
            ResultsTableNotFound: the table does not exist.
            AwsError: any other failure after botocore's retries.
        """
        item = self._item(record)
        size = _item_size_bytes(item)
        pointer = self._offload(record, item) if size > limits.DYNAMODB_MAX_ITEM_SIZE_BYTES else None
        size = _item_size_bytes(item)
        if size > limits.DYNAMODB_MAX_ITEM_SIZE_BYTES:
            raise ResultTooLarge(
                f"result of task {record.task_id} is {size} bytes; a DynamoDB item holds at most "
                f"{limits.DYNAMODB_MAX_ITEM_SIZE_BYTES} bytes. Set SQSQ_PAYLOAD_BUCKET to store large results in S3, "
                "or return a reference (e.g. an S3 key) instead"
            )
        written = self._put_item(record, item)
        if not written and pointer is not None and self._payloads is not None:
            self._payloads.delete(pointer)  # refused: the stored record keeps its own object
        return written

    def _put_item(self, record: ResultRecord, item: dict[str, dict[str, str]]) -> bool:
        """The conditional PutItem of :meth:`put`."""
        same, same_values = _same_message(record)
        try:
            self._clients.dynamodb.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression=(_FINAL_CONDITION if record.status.is_final else _CONDITION).format(same=same),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    **same_values,
                    ":now": {"N": str(int(time.time()))},
                    ":gen": {"N": str(record.generation)},
                    **({} if record.status.is_final else {":attempts": {"N": str(record.attempts)}}),
                    ":success": {"S": Status.SUCCESS.value},
                    ":failure": {"S": Status.FAILURE.value},
                    ":revoked": {"S": Status.REVOKED.value},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._error(exc, f"writing the result of task {record.task_id}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"writing the result of task {record.task_id}") from exc
        return True

    def claim(self, record: ResultRecord) -> ResultRecord | None:
        """Conditional PutItem of a STARTED record with a lease (see :func:`sqsq.results.may_claim`).

        Returns:
            None when the claim was written; otherwise the record that blocked it (strongly consistent read).

        Raises:
            ResultsTableNotFound: the table does not exist.
            AwsError: any other failure after botocore's retries, or a blocking record that keeps vanishing.
        """
        same, same_values = _same_message(record)
        for _ in range(_CLAIM_READ_ATTEMPTS):
            now = time.time()
            try:
                self._clients.dynamodb.put_item(
                    TableName=self.table_name,
                    Item=self._item(record),
                    ConditionExpression=_CLAIM_CONDITION.format(same=same),
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        **same_values,
                        ":now": {"N": str(int(now))},
                        ":now_exact": {"N": repr(round(now, 6))},
                        ":gen": {"N": str(record.generation)},
                        ":success": {"S": Status.SUCCESS.value},
                        ":failure": {"S": Status.FAILURE.value},
                        ":revoked": {"S": Status.REVOKED.value},
                    },
                )
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise self._error(exc, f"claiming task {record.task_id}") from exc
            except BotoCoreError as exc:
                raise self._error(exc, f"claiming task {record.task_id}") from exc
            existing = self.get(record.task_id)
            if existing is not None:
                return existing
            # The blocking record expired or was deleted between the write and the read: try the claim again.
        raise AwsError(f"claiming task {record.task_id}: the record changed under every attempt; try again later")

    def get(self, task_id: str) -> ResultRecord | None:
        """Strongly consistent GetItem; missing or expired -> None.

        Raises:
            ResultsTableNotFound, AwsError.
        """
        try:
            response = self._clients.dynamodb.get_item(
                TableName=self.table_name, Key={"task_id": {"S": task_id}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, f"reading the result of task {task_id}") from exc
        item = response.get("Item")
        if not item:
            return None
        record = from_item(item)
        if record.expires_at <= time.time():
            return None
        return self._fetch_result(record, item)

    def _fetch_result(self, record: ResultRecord, item: dict[str, dict[str, str]]) -> ResultRecord:
        """``record`` with its S3-stored result read in (a record without ``result_s3`` as it is).

        Raises:
            MessageDecodeError: the pointer is malformed, no payload bucket is configured, or the object is gone.
        """
        stored = item.get("result_s3")
        if not stored:
            return record
        try:
            pointer = pointer_from_json(json.loads(stored["S"]))
        except ValueError:
            pointer = None
        if pointer is None:
            raise MessageDecodeError(f"the record of task {record.task_id} holds a malformed result_s3 pointer")
        if self._payloads is None:
            raise MessageDecodeError(
                f"the result of task {record.task_id} is stored in {pointer}; set SQSQ_PAYLOAD_BUCKET (payload_bucket=) "
                "to read it"
            )
        try:
            data = self._payloads.get(pointer)
        except PayloadMissing as exc:  # worded for a result, not a message (a message "cannot be run")
            raise PayloadMissing(exc.where, exc.code, what="result") from None
        return replace(record, result_json=data.decode("utf-8", "surrogatepass"))

    def add_revocation(self, key: str, task_id: str, ttl_seconds: int) -> None:
        """UpdateItem ``ADD revoked :id`` on the marker item (see :mod:`sqsq.results.revocations`).

        Raises:
            LimitExceeded: the marker would pass DynamoDB's 400 KB item size.
            ResultsTableNotFound, AwsError.
        """
        try:
            self._clients.dynamodb.update_item(
                TableName=self.table_name,
                Key={"task_id": {"S": key}},
                # A marker past expires_at that TTL has not deleted yet keeps its old ids: harmless, their
                # messages are long gone.
                UpdateExpression="ADD revoked :id SET expires_at = :exp, updated_at = :now",
                ExpressionAttributeValues={
                    ":id": {"SS": [task_id]},
                    ":exp": {"N": str(int(time.time()) + ttl_seconds)},
                    ":now": {"N": repr(round(time.time(), 6))},
                },
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower():
                raise LimitExceeded(
                    f"the revocation marker {key!r} is full (DynamoDB's 400 KB item size, ~10,000 task ids); "
                    "it empties result_ttl_seconds after the last revocation"
                ) from exc
            raise self._error(exc, f"revoking task {task_id}") from exc
        except BotoCoreError as exc:
            raise self._error(exc, f"revoking task {task_id}") from exc

    def revocations(self, key: str) -> frozenset[str]:
        """Strongly consistent GetItem of the marker (its ``revoked`` set only); empty when missing or expired.

        Raises:
            ResultsTableNotFound, AwsError.
        """
        try:
            response = self._clients.dynamodb.get_item(
                TableName=self.table_name, Key={"task_id": {"S": key}}, ConsistentRead=True,
                ProjectionExpression="revoked, expires_at",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "reading the revocation marker") from exc
        item = response.get("Item") or {}
        if float(item.get("expires_at", {}).get("N", "0")) <= time.time():
            return frozenset()
        return frozenset(item.get("revoked", {}).get("SS", []))
