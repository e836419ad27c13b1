"""Where an offloaded payload lives (:class:`PayloadPointer`); the format is described in :mod:`sqsq.payloads`.

Re-exported as ``sqsq.payloads.PayloadPointer``. Its own module so that a consumer builds the class only when a
message or a result actually carries a pointer (issue 11, start-up).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqsq.payloads import POINTER_CLASS


@dataclass(frozen=True)
class PayloadPointer:
    """Where an offloaded payload lives.

    Attributes:
        bucket: the S3 bucket name.
        key: the object key.
    """

    bucket: str
    key: str

    def to_body(self) -> str:
        """The message body the extended clients write for this pointer (JSON array, class name first)."""
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": self.key}])

    def to_json(self) -> dict[str, str]:
        """``{"s3BucketName": ..., "s3Key": ...}`` (the pointer's object, as stored in a result record)."""
        return {"s3BucketName": self.bucket, "s3Key": self.key}

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"
