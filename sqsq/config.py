"""Settings: from arguments or the environment (``SQSQ_*`` plus the standard AWS variables).

Configuration flows one way: CLI option or environment -> :class:`Settings` -> ``App`` -> components.
Nothing here reads the environment at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from sqsq import limits
from sqsq.errors import ConfigError

if TYPE_CHECKING:
    from sqsq.signing import KeyRing  # imported where used: signing is off unless a key setting is given

NON_SETTING_VARIABLES = frozenset({"SQSQ_APP", "SQSQ_PROCESSES", "SQSQ_SUPERVISOR_PID", "SQSQ_PROCESS_START"})
"""``SQSQ_*`` variables that are not settings but are known: ``SQSQ_APP`` names the app (``module:attribute``) for
the generic Lambda entry point :mod:`sqsq.lambda_entry` and the worker image; ``SQSQ_PROCESSES`` is ``sqsq worker
--processes`` when not given; ``SQSQ_SUPERVISOR_PID`` marks a worker process started by
:mod:`sqsq.supervisor`; ``SQSQ_PROCESS_START`` (``fork`` or ``exec``) is how it starts them (:mod:`sqsq.prefork`)."""


class Settings(BaseModel):
    """Everything sqsq needs to reach AWS and name its resources.

    Build it with :func:`load_settings`. Each field can be given as an argument or as ``SQSQ_<FIELD>`` in
    the environment; the AWS ones also read the standard variables (``AWS_ENDPOINT_URL``,
    ``AWS_REGION``/``AWS_DEFAULT_REGION``); credentials come from boto3's usual chain. An unknown ``SQSQ_*``
    variable is an error, so a misspelt setting cannot be silently ignored.

    Attributes:
        app_name: the app's name; prefixes resource names.
        endpoint_url: AWS endpoint (``http://127.0.0.1:4566`` for the local AWS); ``None`` = real AWS.
        region: AWS region; default ``us-east-1`` when neither argument nor environment names one.
        queue_prefix: physical queue name = prefix + logical queue name; default ``"<app_name>-"``.
        results_table: DynamoDB table name; default ``"<app_name>-results"``.
        default_queue: logical queue for tasks that name none.
        dlq_suffix: a queue's dead-letter queue is named queue name + this suffix.
        result_ttl_seconds: results expire (DynamoDB TTL on ``expires_at``) after this many seconds.
        max_receive_count: redrive policy used when provisioning queues (AWS's maxReceiveCount).
        visibility_timeout_seconds: every queue's VisibilityTimeout in ``sqsq provision`` and ``sqsq template``;
            default ``None``: per queue, 6 x its function timeout + batching window for a Lambda queue (AWS's
            guidance), 30 s for a worker queue (workers extend visibility while a task runs).
        wait_time_seconds: ReceiveMessage WaitTimeSeconds (long polling), 0-20.
        signing_keys: ``keyid:base64secret[,...]``: the first key signs every message sent, all verify; ``None``
            (default): messages are neither signed nor checked. A secret: masked in reprs, never logged. See
            :mod:`sqsq.signing`.
        signing_keys_parameter: name or ARN of an SSM Parameter Store parameter (a SecureString) holding the key
            list, read once per process (App) on first use; ``sqsq template --signing-keys-parameter`` grants it.
        signing_keys_secret: name or ARN of a Secrets Manager secret (SecretString) holding the key list, read
            likewise. At most one of the three signing settings may be set.
        payload_bucket: S3 bucket for payloads past the queue's MaximumMessageSize and results past DynamoDB's
            item size (:mod:`sqsq.payloads`); ``None`` (default): nothing is offloaded, a send that is too large
            raises PayloadTooLarge. ``sqsq template`` creates the bucket and sets ``SQSQ_PAYLOAD_BUCKET`` on its
            functions; ``sqsq local``/``sqsq provision`` create ``<app_name>-payloads`` when it is set to that.
        payload_max_read_mb: largest payload object (MiB) sqsq reads into memory, 1-5120, default 256; a pointer to
            a larger object is refused before its body is read (the message is dead-lettered with the reason).
        scheduler_role_arn: (issue 12, scheduling) the role EventBridge Scheduler assumes to send a delayed task
            (``sqs:SendMessage`` on the app's queues); the template sets it on its functions. Needed only for
            sends due more than 900 s ahead; locally any ARN works (default there: a placeholder).
        schedule_group: the EventBridge Scheduler schedule group of one-time schedules; default the queue prefix
            without its trailing ``-`` (``"<app>"`` locally, ``"<app>-<Stage>"`` as the template names it).
        revocation_check_seconds: how often (at most) a consumer re-reads the app's revocation marker while it
            handles messages: default 5 s, so ``cancel()`` of a task already in a queue stops it unless a consumer
            receives it within 5 s of the cancel. The cost: at most one GetItem per consumer per interval while
            it handles messages, never one per task, none when idle. 0 = never: a revoked task already in a queue
            then still runs, and only its REVOKED record is kept (its result write is refused). See
            :mod:`sqsq.scheduling.revocation`.
        early_guard: put back a message that arrives before its ``due_at`` (:mod:`sqsq.scheduling.guard`); default
            ``None``: on against AWS, off against a local endpoint, whose controllable clock (``/_sqsq/clock``)
            moves SQS's delays and the local scheduler ahead of the consumer's clock.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    app_name: str = "sqsq"
    endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("endpoint_url", "SQSQ_ENDPOINT_URL", "AWS_ENDPOINT_URL")
    )
    region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("region", "SQSQ_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    queue_prefix: str | None = None
    results_table: str | None = None
    default_queue: str = "default"
    dlq_suffix: str = "-dlq"
    result_ttl_seconds: int = Field(default=86_400, ge=60)
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    visibility_timeout_seconds: int | None = Field(default=None, ge=0, le=limits.SQS_MAX_VISIBILITY_TIMEOUT_SECONDS)
    wait_time_seconds: int = Field(default=20, ge=0, le=limits.SQS_MAX_WAIT_TIME_SECONDS)
    signing_keys: SecretStr | None = None
    signing_keys_parameter: str | None = Field(default=None, min_length=1, max_length=2048)
    signing_keys_secret: str | None = Field(default=None, min_length=1, max_length=2048)
    # S3 payloads (issue 14): S3 bucket names are 3-63 characters.
    payload_bucket: str | None = Field(default=None, min_length=3, max_length=63)
    payload_max_read_mb: int = Field(default=256, ge=1, le=5 * 1024)  # security fix: cap on one object read
    # -- scheduling (issue 12) --
    scheduler_role_arn: str | None = Field(default=None, min_length=20, max_length=1600)
    schedule_group: str | None = Field(default=None, pattern=r"^[0-9a-zA-Z._-]{1,64}$")
    revocation_check_seconds: float = Field(default=5.0, ge=0, le=3600)
    early_guard: bool | None = None

    @field_validator("signing_keys")
    @classmethod
    def _check_signing_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # KeyRing.parse raises ConfigError, which pydantic does not catch: its own errors would echo the input.
        if value is not None:
            from sqsq.signing import KeyRing

            KeyRing.parse(value.get_secret_value())
        return value

    def signing_keyring(self) -> KeyRing | None:
        """The keys of ``signing_keys`` (``None`` when not set; the parameter/secret ones are read by the App)."""
        if self.signing_keys is None:
            return None
        from sqsq.signing import KeyRing

        return KeyRing.parse(self.signing_keys.get_secret_value())

    @model_validator(mode="after")
    def _derive_names(self) -> Settings:
        given = [n for n in ("signing_keys", "signing_keys_parameter", "signing_keys_secret") if getattr(self, n)]
        if len(given) > 1:
            raise ConfigError(f"set only one of {', '.join(given)} (SQSQ_{given[0].upper()} ...): they all give the keys")
        if self.queue_prefix is None:
            self.queue_prefix = f"{self.app_name}-"
        if self.results_table is None:
            self.results_table = f"{self.app_name}-results"
        return self

    @property
    def early_guard_on(self) -> bool:
        """Whether consumers hold back early messages (:attr:`early_guard`, default: on unless local)."""
        return self.early_guard if self.early_guard is not None else self.endpoint_url is None

    @property
    def schedule_group_name(self) -> str:
        """The schedule group of one-time schedules (:attr:`schedule_group`, or the queue prefix without ``-``)."""
        if self.schedule_group is not None:
            return self.schedule_group
        return (self.queue_prefix or self.app_name).rstrip("-") or self.app_name

    def physical_queue_name(self, logical: str) -> str:
        """The SQS queue name for a logical queue name (``"images"`` -> ``"shop-images"``)."""
        return f"{self.queue_prefix}{logical}"

    def dlq_name(self, logical: str) -> str:
        """The SQS name of a logical queue's dead-letter queue."""
        return f"{self.physical_queue_name(logical)}{self.dlq_suffix}"

    @property
    def table_name(self) -> str:
        """The results table's name (never ``None`` after validation)."""
        assert self.results_table is not None
        return self.results_table


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``overrides`` first, then the environment.

    Args:
        environ: the environment to read; default ``os.environ`` (read now, not at import time).
        **overrides: field values that win over the environment; ``None`` values are ignored.

    Returns:
        The validated settings.

    Raises:
        ConfigError: an unknown ``SQSQ_*`` variable or argument, or a value out of range.
    """
    env = dict(os.environ if environ is None else environ)
    settings = {f"SQSQ_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("SQSQ_") and k not in settings | NON_SETTING_VARIABLES)
    if unknown:
        others = sorted(NON_SETTING_VARIABLES - {"SQSQ_SUPERVISOR_PID"})  # that one is internal: set by the supervisor
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)}: unset or correct it; the SQSQ_* settings are "
            f"{', '.join(sorted(settings))} (and {', '.join(others)}, which are not settings)"
        )
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        if overrides.get(name) is not None:
            values[name] = overrides.pop(name)
            continue
        overrides.pop(name, None)
        choices = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        env_names = [c for c in choices if isinstance(c, str) and c.isupper()] or [f"SQSQ_{name.upper()}"]
        for env_name in env_names:
            if env.get(env_name):
                values[name] = env[env_name]
                break
    if overrides:
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(overrides))}")
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc.errors(include_url=False)}") from exc
