"""The root of the tree and configuration errors (settings, extras, the local AWS's moto, schedule text).

Part of the tree drawn in :mod:`sqsq.errors`; import these from there (``from sqsq.errors import X``).
"""

from __future__ import annotations


class SqsqError(Exception):
    """Root of every error sqsq raises."""


class ConfigError(SqsqError):
    """Settings are missing or malformed."""


class MissingExtra(ConfigError):
    """A feature needs an optional dependency that is not installed (raised by :func:`sqsq.extras.require`).

    Attributes:
        feature: what was asked for (``"sqsq template"``, ``"sqsq.lambda_handler"``).
        missing: the distributions that are missing, as pip names them (``["PyYAML"]``).
        extras: the sqsq extras that install them (``["cli"]``).
    """

    def __init__(self, feature: str, missing: list[str], extras: list[str]):
        names = missing[0] if len(missing) == 1 else f"{', '.join(missing[:-1])} and {missing[-1]}"
        super().__init__(f'{feature} needs {names}: pip install "sqsq[{",".join(extras)}]"')
        self.feature = feature
        self.missing = missing
        self.extras = extras


class MotoVersionMismatch(ConfigError):
    """The installed moto is not the version the local AWS's patches of it were written for.

    Raised when the local AWS starts (:class:`sqsq.local.server.LocalAwsServer`, ``python -m sqsq.local.server``),
    before anything is patched.

    Attributes:
        service: the local AWS service whose patches do not fit (``"sqs"``).
        supported: the moto version they were written for (``"5.2.5"``).
        installed: the moto version found.
    """

    def __init__(self, service: str, supported: str, installed: str):
        super().__init__(
            f"the local AWS's {service} patches were written for moto {supported}, but moto {installed} is "
            f'installed; install the supported one: pip install "moto[server]=={supported}" (or "sqsq[local]")'
        )
        self.service = service
        self.supported = supported
        self.installed = installed


class ScheduleExpressionError(ConfigError):
    """A periodic schedule is invalid: cron text, rate or time zone (raised at declaration, naming the text)."""
