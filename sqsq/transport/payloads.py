"""The payload seam: S3 objects holding message bodies and results too large to travel inline.

A small interface (:class:`PayloadStore`), a boto3 S3 implementation (:class:`S3PayloadStore`) and an in-memory twin
(:class:`MemoryPayloadStore`). The pointer format is in :mod:`sqsq.payloads`.

S3 limits relied on (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html): one PutObject
holds up to 5 GB (:data:`sqsq.limits.S3_MAX_PUT_BYTES`), far above anything a task should carry; sqsq refuses more than that.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from sqsq.errors import AwsError, LimitExceeded, PayloadMissing
from sqsq.limits import S3_MAX_PUT_BYTES
from sqsq.payloads import PayloadPointer

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404"}


class PayloadStore(Protocol):
    """Where offloaded payloads live. Every method may raise :class:`sqsq.errors.AwsError`."""

    bucket: str
    """The bucket this process writes to (reads follow whatever bucket a pointer names)."""

    def put(self, key: str, data: bytes) -> PayloadPointer:
        """Store ``data`` under ``key`` in :attr:`bucket` (replacing an object of that key). Raises LimitExceeded."""
        ...

    def get(self, pointer: PayloadPointer) -> bytes:
        """The object's bytes. Raises PayloadMissing when it does not exist."""
        ...

    def delete(self, pointer: PayloadPointer) -> None:
        """Delete the object (no error when it is already gone)."""
        ...


def check_put_size(data: bytes, key: str) -> None:
    """Raise LimitExceeded when ``data`` is larger than one PutObject may upload."""
    if len(data) > S3_MAX_PUT_BYTES:
        raise LimitExceeded(
            f"payload {key!r} is {len(data)} bytes; one S3 PutObject holds at most {S3_MAX_PUT_BYTES} bytes. "
            "Pass a reference to data you store yourself instead"
        )


class S3PayloadStore:
    """:class:`PayloadStore` over boto3's S3 client.

    Args:
        clients: shared boto3 clients (:class:`sqsq.transport.aws.AwsClients`).
        bucket: the payload bucket (``Settings.payload_bucket``).
    """

    def __init__(self, clients: Any, bucket: str):
        self._clients = clients
        self.bucket = bucket

    def _s3(self) -> Any:
        return self._clients.client("s3", read_timeout_seconds=60)

    def _wrap(self, exc: Exception, doing: str, pointer: PayloadPointer) -> AwsError:
        from botocore.exceptions import ClientError

        from sqsq.transport.aws import wrap_boto_error

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_CODES:
                raise PayloadMissing(str(pointer), code) from exc
        return wrap_boto_error(exc, f"{doing} {pointer}", self._clients.describe_endpoint())  # type: ignore[arg-type]

    def put(self, key: str, data: bytes) -> PayloadPointer:
        """PutObject (SSE as the bucket's default encryption says). Raises LimitExceeded, AwsError."""
        from botocore.exceptions import BotoCoreError, ClientError

        check_put_size(data, key)
        pointer = PayloadPointer(self.bucket, key)
        try:
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._wrap(exc, "storing payload", pointer) from exc
        return pointer

    def get(self, pointer: PayloadPointer) -> bytes:
        """GetObject. Raises PayloadMissing (no such key or bucket), AwsError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return bytes(self._s3().get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise self._wrap(exc, "reading payload", pointer) from exc

    def delete(self, pointer: PayloadPointer) -> None:
        """DeleteObject (S3 answers 204 for a key that does not exist). Raises AwsError."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().delete_object(Bucket=pointer.bucket, Key=pointer.key)
        except (ClientError, BotoCoreError) as exc:
            try:
                raise self._wrap(exc, "deleting payload", pointer) from exc
            except PayloadMissing:
                return


class MemoryPayloadStore:
    """In-memory twin of :class:`S3PayloadStore` (one dict of ``(bucket, key) -> bytes``), thread-safe.

    Args:
        bucket: the bucket name it pretends to write to.
    """

    def __init__(self, bucket: str = "sqsq-payloads"):
        self.bucket = bucket
        self.objects: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> PayloadPointer:
        """Store ``data``. Raises LimitExceeded past S3's PutObject size."""
        check_put_size(data, key)
        with self._lock:
            self.objects[(self.bucket, key)] = bytes(data)
        return PayloadPointer(self.bucket, key)

    def get(self, pointer: PayloadPointer) -> bytes:
        """The stored bytes. Raises PayloadMissing."""
        with self._lock:
            data = self.objects.get((pointer.bucket, pointer.key))
        if data is None:
            raise PayloadMissing(str(pointer), "NoSuchKey")
        return data

    def delete(self, pointer: PayloadPointer) -> None:
        """Forget the object (no error when absent)."""
        with self._lock:
            self.objects.pop((pointer.bucket, pointer.key), None)
