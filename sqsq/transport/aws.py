"""boto3 clients built once per process from :class:`sqsq.config.Settings`, and AWS error wrapping.

The SQS and DynamoDB clients are built from a botocore session directly: the same clients boto3 builds (boto3's
``Session.client`` calls botocore's ``create_client`` with the same arguments), without importing boto3 itself
(about 3 MiB and 20 ms of start-up in a worker or a Lambda cold start: boto3's resource layer and s3transfer,
which sqsq does not use). :meth:`AwsClients.client` (any other service, provisioning code) still goes through a
boto3 session over the same botocore session, so service customisations boto3 adds (S3's transfer methods) are
there.

Retries: botocore's ``standard`` retry mode retries throttling, 5xx, and connection errors with exponential
backoff and jitter (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html); sqsq does not
hand-roll retry loops around AWS calls.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, InvalidRegionError, NoCredentialsError

from sqsq import limits
from sqsq.config import Settings
from sqsq.errors import AwsError, ConfigError, EndpointUnreachable

_OWN_KINDS = frozenset({"sqs", "sqs_receive", "dynamodb"})
"""The clients sqsq's transport and results store use, built with botocore alone (no boto3 import)."""
DEFAULT_MAX_ATTEMPTS = 6
"""Total attempts per AWS call in botocore's standard retry mode (1 try + 5 retries)."""


class AwsClients:
    """Lazily built boto3 clients sharing one session (thread-safe clients, one per kind).

    Args:
        settings: endpoint and region.
        max_pool_connections: HTTP connections per client (>= worker threads that call AWS at once).
        max_attempts: botocore standard-mode total attempts per call.

    Raises:
        ConfigError: on first use of a client, when the endpoint URL or the region is malformed (botocore's
            ValueError when it builds the client).
    """

    def __init__(self, settings: Settings, max_pool_connections: int = 32, max_attempts: int = DEFAULT_MAX_ATTEMPTS):
        self.settings = settings
        self._pool = max_pool_connections
        self._max_attempts = max_attempts
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: botocore.session.Session | None = None
        self._boto3_session: Any = None

    def describe_endpoint(self) -> str:
        """``"endpoint http://127.0.0.1:4566 (region us-east-1)"`` for error messages."""
        where = self.settings.endpoint_url or "AWS"
        return f"{where} (region {self.settings.region})"

    def _client(self, kind: str, service: str, read_timeout_seconds: float) -> Any:
        client = self._clients.get(kind)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(kind)
            if client is None:
                config = Config(
                    region_name=self.settings.region,
                    retries={"mode": "standard", "total_max_attempts": self._max_attempts},
                    max_pool_connections=self._pool,
                    connect_timeout=5,
                    read_timeout=read_timeout_seconds,
                    tcp_keepalive=True,
                )
                try:
                    client = self._factory(kind)(service, endpoint_url=self.settings.endpoint_url, config=config)
                except ValueError as exc:  # botocore checks the endpoint and region when building a client
                    raise self._config_error(exc) from exc
                self._clients[kind] = client
        return client

    def _factory(self, kind: str) -> Any:
        """The client factory for ``kind`` (call under ``self._lock``): botocore's ``create_client`` for sqsq's own
        clients, boto3's ``Session.client`` for any other service; both over one botocore session."""
        if self._session is None:
            # One session for all clients: each session loads its own service models (~5 MiB each).
            self._session = botocore.session.get_session()
        if kind in _OWN_KINDS:
            return self._session.create_client
        if self._boto3_session is None:
            import boto3.session

            self._boto3_session = boto3.session.Session(botocore_session=self._session)
        return self._boto3_session.client

    def _config_error(self, exc: ValueError) -> ConfigError | ValueError:
        """The :class:`ConfigError` for a ValueError botocore raised building a client (``exc`` if unknown)."""
        if isinstance(exc, InvalidRegionError):
            return ConfigError(
                f"region {self.settings.region!r} is not a valid AWS region (AWS_REGION / region=); "
                "use one like us-east-1"
            )
        if self.settings.endpoint_url is not None:
            return ConfigError(
                f"AWS_ENDPOINT_URL (endpoint_url) {self.settings.endpoint_url!r} is not a valid URL ({exc}); "
                "give a URL like http://127.0.0.1:4566, or unset it to use AWS"
            )
        return exc

    @property
    def sqs(self) -> Any:
        """SQS client for short calls (send, delete, visibility)."""
        return self._client("sqs", "sqs", read_timeout_seconds=15)

    @property
    def sqs_receive(self) -> Any:
        """SQS client for long polls: its read timeout outlasts WaitTimeSeconds (20 s)."""
        return self._client("sqs_receive", "sqs", read_timeout_seconds=limits.SQS_MAX_WAIT_TIME_SECONDS + 15)

    @property
    def dynamodb(self) -> Any:
        """DynamoDB client."""
        return self._client("dynamodb", "dynamodb", read_timeout_seconds=15)

    def client(self, service: str, read_timeout_seconds: float = 30) -> Any:
        """A client for any other service (CloudFormation, Lambda, CloudWatch…), for provisioning code only."""
        return self._client(service, service, read_timeout_seconds=read_timeout_seconds)

    def call(self, doing: str, fn: Any, **kwargs: Any) -> Any:
        """``fn(**kwargs)`` (a boto3 client method) with botocore errors raised as :class:`AwsError` (code kept).

        For code above layer 2 that provisions resources (it may not import botocore itself).
        """
        try:
            return fn(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise wrap_boto_error(exc, doing, self.describe_endpoint()) from exc


def wrap_boto_error(exc: ClientError | BotoCoreError, doing: str, where: str) -> AwsError:
    """Turn a botocore error into an :class:`AwsError` that keeps the AWS code and says what to do."""
    if isinstance(exc, EndpointConnectionError):
        return EndpointUnreachable(
            f"cannot reach {where} while {doing}: {exc}. Start the local AWS with `sqsq local APP` "
            "or check AWS_ENDPOINT_URL"
        )
    if isinstance(exc, NoCredentialsError):
        return AwsError(
            f"{doing} failed at {where}: no AWS credentials found. Set them the usual way (environment, profile, role); "
            "for the local AWS, paste the export lines `sqsq local APP` printed",
            code="NoCredentials",
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        return AwsError(f"{doing} failed at {where}: {code}: {error.get('Message', '')}", code=code)
    return AwsError(f"{doing} failed at {where}: {type(exc).__name__}: {exc}", code=None)
