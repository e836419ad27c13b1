"""The boto3 SQS transport: the only module that speaks to SQS.

Queue URLs and attributes are resolved by name once and cached. Batch responses are read entry by entry;
every ``Failed`` entry is returned to the caller, never dropped. Throttling, 5xx and connection errors are
retried by botocore's ``standard`` retry mode (configured in :mod:`sqsq.transport.aws`); what still fails is
raised as :class:`sqsq.errors.AwsError` keeping the AWS error code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from sqsq import limits
from sqsq.errors import AwsError, QueueNotFound
from sqsq.transport import QueueInfo, ReceivedMessage
from sqsq.transport.aws import AwsClients, wrap_boto_error

if TYPE_CHECKING:  # imported where used: receiving needs neither (issue 11, Lambda start-up)
    from sqsq.transport.depth import QueueDepth
    from sqsq.transport.outgoing import BatchFailure, OutgoingMessage

_NOT_FOUND_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class SqsTransport:
    """:class:`sqsq.transport.Transport` over boto3's SQS client.

    Args:
        clients: shared boto3 clients and endpoint settings.
    """

    def __init__(self, clients: AwsClients):
        self._clients = clients
        self._info: dict[str, QueueInfo] = {}
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def _where(self) -> str:
        return self._clients.describe_endpoint()

    def queue_url(self, queue_name: str) -> str:
        """The queue's URL (GetQueueUrl), fetched once and cached: all a receive, send or delete needs.

        Kept apart from :meth:`queue_info` so a worker's first receive does not wait for GetQueueAttributes. The
        URL is asked for rather than built: it holds the account id and the endpoint's own host form, which sqsq
        cannot know without a request.

        Raises:
            QueueNotFound: no such queue at this endpoint and region; the message says what to run.
            AwsError: any other AWS failure.
        """
        url = self._urls.get(queue_name)
        if url is not None:
            return url
        try:
            url = str(self._clients.sqs.get_queue_url(QueueName=queue_name)["QueueUrl"])
        except (ClientError, BotoCoreError) as exc:
            raise self._reading_error(queue_name, exc) from exc
        with self._lock:
            self._urls[queue_name] = url
        return url

    def _reading_error(self, queue_name: str, exc: ClientError | BotoCoreError) -> AwsError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND_CODES:
                return QueueNotFound(
                    f"queue {queue_name!r} does not exist at {self._where()}; create it with "
                    "`sqsq provision APP` (or `sqsq local APP` for the local AWS), or deploy template.yaml",
                    code=code,
                )
        return wrap_boto_error(exc, f"reading queue {queue_name!r}", self._where())

    def queue_info(self, queue_name: str) -> QueueInfo:
        """Queue URL and attributes, fetched once (GetQueueUrl + GetQueueAttributes) and cached.

        Raises:
            QueueNotFound: no such queue at this endpoint and region; the message says what to run.
            AwsError: any other AWS failure.
        """
        cached = self._info.get(queue_name)
        if cached is not None:
            return cached
        url = self.queue_url(queue_name)
        try:
            attrs = self._clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except (ClientError, BotoCoreError) as exc:
            raise self._reading_error(queue_name, exc) from exc
        redrive = json.loads(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else {}
        info = QueueInfo(
            url=url,
            arn=attrs.get("QueueArn", ""),
            max_message_size_bytes=int(attrs.get("MaximumMessageSize", limits.SQS_DEFAULT_MAX_MESSAGE_SIZE_BYTES)),
            visibility_timeout_seconds=int(attrs.get("VisibilityTimeout", 30)),
            max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            dead_letter_target_arn=redrive.get("deadLetterTargetArn"),
            fifo=attrs.get("FifoQueue") == "true",
            deduplication_scope=attrs.get("DeduplicationScope"),
            fifo_throughput_limit=attrs.get("FifoThroughputLimit"),
        )
        with self._lock:
            self._info[queue_name] = info
        return info

    def _call(self, what: str, queue_name: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(QueueUrl=self.queue_url(queue_name), **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND_CODES:
                with self._lock:
                    self._info.pop(queue_name, None)
                    self._urls.pop(queue_name, None)
                raise QueueNotFound(f"queue {queue_name!r} no longer exists at {self._where()}", code=code) from exc
            raise wrap_boto_error(exc, f"{what} on queue {queue_name!r}", self._where()) from exc
        except BotoCoreError as exc:
            raise wrap_boto_error(exc, f"{what} on queue {queue_name!r}", self._where()) from exc

    def send_batch(self, queue_name: str, messages: Sequence[OutgoingMessage]) -> list[BatchFailure]:
        """SendMessageBatch of up to 10 entries; returns the rejected entries."""
        if not messages:
            return []
        entries = []
        for m in messages:
            entry: dict[str, Any] = {"Id": m.id, "MessageBody": m.body}
            if m.delay_seconds:
                entry["DelaySeconds"] = m.delay_seconds
            if m.message_attributes:
                entry["MessageAttributes"] = dict(m.message_attributes)
            if m.group_id is not None:
                entry["MessageGroupId"] = m.group_id
            if m.deduplication_id is not None:
                entry["MessageDeduplicationId"] = m.deduplication_id
            entries.append(entry)
        response = self._call("SendMessageBatch", queue_name, self._clients.sqs.send_message_batch, Entries=entries)
        return _failures(response)

    def receive(
        self, queue_name: str, max_messages: int, wait_seconds: int, visibility_timeout_seconds: int | None = None
    ) -> list[ReceivedMessage]:
        """ReceiveMessage (long poll) of 1-10 messages with all system and message attributes."""
        kwargs: dict[str, Any] = {
            "MaxNumberOfMessages": max(1, min(limits.SQS_MAX_RECEIVE_MESSAGES, max_messages)),
            "WaitTimeSeconds": max(0, min(limits.SQS_MAX_WAIT_TIME_SECONDS, wait_seconds)),
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout_seconds is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout_seconds
        response = self._call("ReceiveMessage", queue_name, self._clients.sqs_receive.receive_message, **kwargs)
        out = []
        for m in response.get("Messages", []):
            attrs = m.get("Attributes", {})
            out.append(
                ReceivedMessage(
                    queue_name=queue_name,
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    body=m.get("Body", ""),
                    receive_count=int(attrs.get("ApproximateReceiveCount", "1")),
                    sent_timestamp_seconds=int(attrs.get("SentTimestamp", "0")) / 1000.0,
                    attributes=attrs,
                    message_attributes=m.get("MessageAttributes", {}),
                )
            )
        return out

    def delete_batch(self, queue_name: str, receipt_handles: Sequence[str]) -> list[BatchFailure]:
        """DeleteMessageBatch; entry ids are the positions "0"…"9"."""
        if not receipt_handles:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles)]
        response = self._call("DeleteMessageBatch", queue_name, self._clients.sqs.delete_message_batch, Entries=entries)
        return _failures(response)

    def change_visibility_batch(self, queue_name: str, changes: Sequence[tuple[str, int]]) -> list[BatchFailure]:
        """ChangeMessageVisibilityBatch; entry ids are the positions "0"…"9"."""
        if not changes:
            return []
        entries = [
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": int(s)} for i, (h, s) in enumerate(changes)
        ]
        response = self._call(
            "ChangeMessageVisibilityBatch", queue_name, self._clients.sqs.change_message_visibility_batch, Entries=entries
        )
        return _failures(response)

    def depth(self, queue_name: str) -> QueueDepth:
        """GetQueueAttributes for the three approximate counts."""
        response = self._call(
            "GetQueueAttributes",
            queue_name,
            self._clients.sqs.get_queue_attributes,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )
        a = response.get("Attributes", {})
        from sqsq.transport.depth import QueueDepth

        return QueueDepth(
            visible=int(a.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(a.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(a.get("ApproximateNumberOfMessagesDelayed", 0)),
        )

    def purge(self, queue_name: str) -> None:
        """PurgeQueue (once per 60 s per queue; a second call raises AwsError code PurgeQueueInProgress)."""
        self._call("PurgeQueue", queue_name, self._clients.sqs.purge_queue)

    def start_message_move_task(
        self, source_queue_name: str, destination_queue_name: str, max_per_second: int | None = None
    ) -> str:
        """StartMessageMoveTask from a dead-letter queue to ``destination_queue_name`` (bodies unchanged).

        The call goes through a client that tries at most twice: an endpoint that does not implement the action
        (moto 5.2.5 answers HTTP 500) must fail fast so the caller can fall back to moving messages itself.

        Args:
            source_queue_name: the dead-letter queue.
            destination_queue_name: where the messages go (normally the DLQ's source queue).
            max_per_second: MaxNumberOfMessagesPerSecond, 1-500; ``None`` lets SQS choose.

        Returns:
            The move task's TaskHandle.

        Raises:
            QueueNotFound: either queue does not exist.
            AwsError: the endpoint refused or does not implement StartMessageMoveTask (code kept).
        """
        import boto3
        from botocore.config import Config

        source_arn = self.queue_info(source_queue_name).arn
        destination_arn = self.queue_info(destination_queue_name).arn
        settings = self._clients.settings
        client = boto3.session.Session().client(
            "sqs",
            endpoint_url=settings.endpoint_url,
            config=Config(region_name=settings.region, retries={"mode": "standard", "total_max_attempts": 2}),
        )
        kwargs: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
        if max_per_second is not None:
            kwargs["MaxNumberOfMessagesPerSecond"] = max_per_second
        try:
            response = client.start_message_move_task(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_boto_error(exc, f"StartMessageMoveTask from {source_queue_name!r}", self._where()) from exc
        return str(response.get("TaskHandle", ""))


def _failures(response: dict[str, Any]) -> list[BatchFailure]:
    failed = response.get("Failed")
    if not failed:
        return []
    from sqsq.transport.outgoing import BatchFailure

    return [
        BatchFailure(
            id=f["Id"], code=f.get("Code", ""), message=f.get("Message", ""), sender_fault=bool(f.get("SenderFault"))
        )
        for f in failed
    ]


__all__ = ["SqsTransport", "AwsError"]
