"""An app's configuration and its backends, built lazily on first use: settings, signing keys, SQS, DynamoDB.

:class:`sqsq.App` is one (it adds the task registry and sending). Backends given to the constructor are used as
they are (the in-memory twins in tests); otherwise they are built from the settings when first asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from sqsq.config import Settings, load_settings
from sqsq.results import ResultStore
from sqsq.transport import Transport

if TYPE_CHECKING:
    from sqsq.signing import KeyRing
    from sqsq.transport.payloads import PayloadStore
    from sqsq.transport.schedules import Scheduler

# What AppBackends.using() swaps and puts back (besides _setting_overrides, which it copies).
_SWAPPABLE = (
    "_settings", "_transport", "_results", "_aws_clients", "_keyring", "_keyring_loaded", "_payloads", "_payloads_given",
    "_scheduler",
)


AWS_BACKEND_MODULES = ("sqsq.transport.sqs", "sqsq.results.dynamodb")
"""The modules :class:`AppBackends` imports when it first builds its SQS transport and DynamoDB results (botocore's
clients: about 100 modules)."""


def import_aws_backend_modules() -> None:
    """Import :data:`AWS_BACKEND_MODULES` now, in a start-up phase, rather than when the first message needs AWS.

    Only modules: no session, client or credentials are made, so a configuration error still surfaces where it did.
    Used by the Lambda init (imported there with the cyclic collector paused instead of on the first invocation
    with it running: some 30 collector passes, about 8 ms of CPU of a cold start, measured with
    bench/lambda_imports.py's children) and by a forking ``sqsq worker --processes N`` supervisor (imported once,
    before its children are forked, instead of in each child).
    """
    for name in AWS_BACKEND_MODULES:
        importlib.import_module(name)


class AppBackends:
    """Settings and lazily built backends, shared by every thread of the process.

    Args:
        name: the app's name (resources are named after it).
        settings: full settings; by default read from the environment on first use.
        transport: queue backend (default: SQS via boto3, built on first use).
        results: results backend (default: DynamoDB, built on first use).
        **setting_overrides: any :class:`Settings` field.
    """

    def __init__(
        self,
        name: str,
        *,
        settings: Settings | None = None,
        transport: Transport | None = None,
        results: ResultStore | None = None,
        payloads: PayloadStore | None = None,
        scheduler: Scheduler | None = None,
        **setting_overrides: Any,
    ):
        self.name = name
        self._payloads = payloads
        self._payloads_given = payloads is not None
        self._scheduler = scheduler
        self._settings = settings
        self._setting_overrides = setting_overrides
        self._transport = transport
        self._results = results
        self._lock = threading.Lock()
        self._aws_clients: Any = None
        self._keyring: KeyRing | None = None
        self._keyring_loaded = False

    @property
    def settings(self) -> Settings:
        """The settings, read from the environment on first use."""
        if self._settings is None:
            self._settings = load_settings(app_name=self.name, **self._setting_overrides)
        return self._settings

    def configure(self, **overrides: Any) -> None:
        """Replace settings before first use (e.g. from CLI options); drops backends built from the old ones."""
        self._setting_overrides.update({k: v for k, v in overrides.items() if v is not None})
        self._settings = None
        self._transport = None
        self._results = None
        self._scheduler = None
        self._aws_clients = None
        if not self._payloads_given:
            self._payloads = None
        self._keyring = None
        self._keyring_loaded = False

    @contextlib.contextmanager
    def using(
        self,
        *,
        transport: Transport | None = None,
        results: ResultStore | None = None,
        payloads: PayloadStore | None = None,
        scheduler: Scheduler | None = None,
        **setting_overrides: Any,
    ) -> Iterator[Self]:
        """Use other backends and/or settings inside the block; the app's configuration is restored on exit.

        The public seam for tests and tools (:mod:`sqsq.testing` is built on it): the registered tasks and declared
        queues stay as they are. Settings given here apply as with :meth:`configure` (backends built from the old
        settings are dropped and built again lazily from the new ones, unless given here). On exit the settings,
        backends and signing keys the app had before are put back, whatever the block raised. Blocks nest. Not
        meant to be entered while other threads send through the same app.

        Args:
            transport: the queue backend to use inside the block (e.g. a
                :class:`sqsq.transport.memory.MemoryTransport`); default: the current one (rebuilt when settings
                are given).
            results: the results backend to use inside the block (e.g. :class:`sqsq.results.memory.MemoryResults`).
            payloads: the payload store to use inside the block (e.g.
                :class:`sqsq.transport.payloads.MemoryPayloadStore`).
            **setting_overrides: any :class:`Settings` field, e.g. ``endpoint_url=``, ``queue_prefix=``.

        Yields:
            This app.

        Raises:
            ConfigError: an unknown setting or a bad value (when the settings are first used in the block).

        Example:
            >>> with app.using(transport=MemoryTransport(), results=MemoryResults()):  # doctest: +SKIP
            ...     sqsq.send(add, {"x": 1, "y": 2})
        """
        saved = {name: getattr(self, name) for name in _SWAPPABLE}
        saved["_setting_overrides"] = dict(self._setting_overrides)
        try:
            if setting_overrides:
                self.configure(**setting_overrides)
            if transport is not None:
                self._transport = transport
            if results is not None:
                self._results = results
            if payloads is not None:
                self._payloads, self._payloads_given = payloads, True
            if scheduler is not None:
                self._scheduler = scheduler
            yield self
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    @property
    def keyring(self) -> KeyRing | None:
        """The signing keys (:mod:`sqsq.signing`), or ``None`` when signing is off. Read once, on first use.

        From ``settings.signing_keys``, or read through AWS from ``signing_keys_parameter`` (SSM) /
        ``signing_keys_secret`` (Secrets Manager) the first time it is asked for (a Lambda cold start builds its
        executor at init, so that is when); kept for the App's life.

        Raises:
            ConfigError: the keys are malformed, or the parameter/secret does not exist.
            AwsError: the parameter/secret could not be read (e.g. AccessDenied).
        """
        if not self._keyring_loaded:
            with self._lock:
                if not self._keyring_loaded:
                    self._keyring = self._load_keyring()
                    self._keyring_loaded = True
        return self._keyring

    def _load_keyring(self) -> KeyRing | None:
        settings = self.settings
        parameter, secret = settings.signing_keys_parameter, settings.signing_keys_secret
        if parameter is None and secret is None:
            return settings.signing_keyring()
        from sqsq.transport.secrets import read_signing_keys

        spec = read_signing_keys(self._aws(), parameter=parameter, secret=secret)
        source = f"SSM parameter {parameter!r}" if parameter is not None else f"Secrets Manager secret {secret!r}"
        from sqsq.signing import KeyRing

        return KeyRing.parse(spec, source=source)

    @property
    def transport(self) -> Transport:
        """The queue backend (SQS unless one was injected)."""
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    from sqsq.transport.sqs import SqsTransport

                    self._transport = SqsTransport(self._aws())
        return self._transport

    @property
    def results(self) -> ResultStore:
        """The results backend (DynamoDB unless one was injected)."""
        if self._results is None:
            payloads = self.payloads  # before the lock: it takes the lock itself
            with self._lock:
                if self._results is None:
                    from sqsq.results.dynamodb import DynamoResults

                    self._results = DynamoResults(self._aws(), self.settings.table_name, payloads)
        return self._results

    @property
    def payloads(self) -> PayloadStore | None:
        """The S3 payload store (:mod:`sqsq.payloads`), or ``None`` when ``payload_bucket`` is not set."""
        if self._payloads is None and self.settings.payload_bucket is not None:
            with self._lock:
                if self._payloads is None:
                    from sqsq.transport.payloads import S3PayloadStore

                    self._payloads = S3PayloadStore(
                        self._aws(), self.settings.payload_bucket, self.settings.payload_max_read_mb * 1024 * 1024
                    )
        return self._payloads

    @property
    def scheduler(self) -> Scheduler:
        """EventBridge Scheduler (one-time schedules of long delays; unless one was injected). Locally (an
        ``endpoint_url`` is set) the schedule group is created on first use; on AWS the template declares it."""
        if self._scheduler is None:
            with self._lock:
                if self._scheduler is None:
                    from sqsq.transport.scheduler import AwsScheduler

                    local = self.settings.endpoint_url is not None
                    self._scheduler = AwsScheduler(self._aws(), create_missing_group=local)
        return self._scheduler

    def _aws(self) -> Any:
        from sqsq.transport.aws import AwsClients

        if self._aws_clients is None:
            self._aws_clients = AwsClients(self.settings)
        return self._aws_clients
