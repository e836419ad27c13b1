"""The payload seam: S3 objects holding message bodies and results too large to travel inline.

A small interface (:class:`PayloadStore`), a boto3 S3 implementation (:class:`S3PayloadStore`) and an in-memory twin
(:class:`MemoryPayloadStore`). The pointer format is in :mod:`sqsq.payloads`.

Only the configured bucket is touched (security): :meth:`PayloadStore.get` refuses a pointer naming another bucket
and an object larger than ``max_read_bytes`` (``Settings.payload_max_read_mb``; the GetObject response's
ContentLength is checked before the body is read), raising :class:`sqsq.errors.PayloadRefused`;
:meth:`PayloadStore.delete` refuses another bucket likewise. Which keys sqsq deletes is decided by its callers
(:func:`sqsq.payloads.deletable_message_key`).

S3 limits relied on (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html): one PutObject
holds up to 5 GB (:data:`sqsq.limits.S3_MAX_PUT_BYTES`), far above anything a task should carry; sqsq refuses more than that.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from sqsq.errors import AwsError, LimitExceeded, PayloadMissing, PayloadRefused
from sqsq.limits import S3_MAX_PUT_BYTES
from sqsq.payloads import PayloadPointer

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404"}
MIB = 1024 * 1024
DEFAULT_MAX_READ_BYTES = 256 * MIB
"""Default of ``Settings.payload_max_read_mb`` (256 MiB), in bytes."""


class PayloadStore(Protocol):
    """Where offloaded payloads live. Every method may raise :class:`sqsq.errors.AwsError`."""

    bucket: str
    """The bucket this process writes to, and the only one it reads or deletes in."""

    def put(self, key: str, data: bytes) -> PayloadPointer:
        """Store ``data`` under ``key`` in :attr:`bucket` (replacing an object of that key). Raises LimitExceeded."""
        ...

    def get(self, pointer: PayloadPointer) -> bytes:
        """The object's bytes. Raises PayloadMissing when it does not exist, PayloadRefused when the pointer
        names another bucket or the object is larger than the read cap."""
        ...

    def delete(self, pointer: PayloadPointer) -> None:
        """Delete the object (no error when it is already gone). Raises PayloadRefused for another bucket."""
        ...


def check_own_bucket(pointer: PayloadPointer, bucket: str, doing: str) -> None:
    """Raise PayloadRefused unless ``pointer`` names ``bucket`` (the configured payload bucket)."""
    if pointer.bucket != bucket:
        raise PayloadRefused(
            f"refused {doing} {pointer}: sqsq follows pointers only into its payload bucket {bucket!r} "
            "(SQSQ_PAYLOAD_BUCKET); have the sender write large payloads there"
        )


def check_read_size(pointer: PayloadPointer, size_bytes: int, max_bytes: int) -> None:
    """Raise PayloadRefused when an object of ``size_bytes`` is over the read cap ``max_bytes``."""
    if size_bytes > max_bytes:
        raise PayloadRefused(
            f"refused reading {pointer}: the object is {size_bytes} bytes, over the read cap of {max_bytes} bytes "
            "(SQSQ_PAYLOAD_MAX_READ_MB, payload_max_read_mb=); raise it if such payloads are expected"
        )


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
        max_read_bytes: largest object :meth:`get` reads (``Settings.payload_max_read_mb``), default 256 MiB.
    """

    def __init__(self, clients: Any, bucket: str, max_read_bytes: int = DEFAULT_MAX_READ_BYTES):
        self._clients = clients
        self.bucket = bucket
        self.max_read_bytes = max_read_bytes

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
        """GetObject; its ContentLength is checked before the body is read (the read is bounded too).

        Raises:
            PayloadRefused: another bucket, or an object over ``max_read_bytes``.
            PayloadMissing: no such key or bucket.
            AwsError: any other failure.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        check_own_bucket(pointer, self.bucket, "reading")
        try:
            response = self._s3().get_object(Bucket=pointer.bucket, Key=pointer.key)
            body = response["Body"]
            try:
                check_read_size(pointer, int(response.get("ContentLength") or 0), self.max_read_bytes)
                data = bytes(body.read(self.max_read_bytes + 1))
            finally:
                body.close()
        except (ClientError, BotoCoreError) as exc:
            raise self._wrap(exc, "reading payload", pointer) from exc
        check_read_size(pointer, len(data), self.max_read_bytes)
        return data

    def delete(self, pointer: PayloadPointer) -> None:
        """DeleteObject (S3 answers 204 for a key that does not exist). Raises PayloadRefused, AwsError."""
        from botocore.exceptions import BotoCoreError, ClientError

        check_own_bucket(pointer, self.bucket, "deleting")
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
        max_read_bytes: as for :class:`S3PayloadStore`.
    """

    def __init__(self, bucket: str = "sqsq-payloads", max_read_bytes: int = DEFAULT_MAX_READ_BYTES):
        self.bucket = bucket
        self.max_read_bytes = max_read_bytes
        self.objects: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> PayloadPointer:
        """Store ``data``. Raises LimitExceeded past S3's PutObject size."""
        check_put_size(data, key)
        with self._lock:
            self.objects[(self.bucket, key)] = bytes(data)
        return PayloadPointer(self.bucket, key)

    def get(self, pointer: PayloadPointer) -> bytes:
        """The stored bytes. Raises PayloadRefused, PayloadMissing."""
        check_own_bucket(pointer, self.bucket, "reading")
        with self._lock:
            data = self.objects.get((pointer.bucket, pointer.key))
        if data is None:
            raise PayloadMissing(str(pointer), "NoSuchKey")
        check_read_size(pointer, len(data), self.max_read_bytes)
        return data

    def delete(self, pointer: PayloadPointer) -> None:
        """Forget the object (no error when absent). Raises PayloadRefused for another bucket."""
        check_own_bucket(pointer, self.bucket, "deleting")
        with self._lock:
            self.objects.pop((pointer.bucket, pointer.key), None)
