"""What moto's CloudFormation leaves out of an ``AWS::S3::Bucket`` (the payload bucket), set after the stack is made.

moto 5.2.5 creates the bucket but ignores its ``LifecycleConfiguration`` (and may ignore the encryption and public
access block): :func:`ensure_bucket_settings` sets them with the S3 API, in the shape ``sqsq provision`` uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqsq.transport.aws import AwsClients


def _lifecycle_rules(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's lifecycle rules (``Prefix``, ``ExpirationInDays``) in the S3 API's shape."""
    out = []
    for rule in (props.get("LifecycleConfiguration") or {}).get("Rules") or []:
        api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled"),
                               "Filter": {"Prefix": rule.get("Prefix", "")}}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        abort = rule.get("AbortIncompleteMultipartUpload")
        if abort:
            api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(abort["DaysAfterInitiation"])}
        out.append(api)
    return out


def ensure_bucket_settings(clients: AwsClients, rid: str, bucket: str, props: Mapping[str, Any]) -> list[str]:
    """Set the bucket's lifecycle rules, default encryption and public access block as declared; one line each.

    Raises:
        AwsError: the local S3 refused.
    """
    s3 = clients.client("s3")
    applied = []
    rules = _lifecycle_rules(props)
    if rules:
        clients.call(f"setting the lifecycle of {bucket}", s3.put_bucket_lifecycle_configuration, Bucket=bucket,
                     LifecycleConfiguration={"Rules": rules})
        applied.append(f"{rid}: {len(rules)} lifecycle rule(s) (PutBucketLifecycleConfiguration)")
    encryption = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        api = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]} for r in encryption]
        clients.call(f"setting the encryption of {bucket}", s3.put_bucket_encryption, Bucket=bucket,
                     ServerSideEncryptionConfiguration={"Rules": api})
        applied.append(f"{rid}: default encryption (PutBucketEncryption)")
    block = props.get("PublicAccessBlockConfiguration")
    if block:
        clients.call(f"blocking public access to {bucket}", s3.put_public_access_block, Bucket=bucket,
                     PublicAccessBlockConfiguration={k: bool(v) for k, v in block.items()})
        applied.append(f"{rid}: public access block (PutPublicAccessBlock)")
    return applied
