"""The moto version the local AWS's patches were written for, and the check that the installed one is it.

Every patch of moto reaches into moto's classes, some of them private; a different moto may have changed them, so
each service that patches names the version it was written for (:attr:`LocalService.moto_version`) and the local
AWS refuses to start, with :class:`sqsq.errors.MotoVersionMismatch`, when the installed moto is another.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable

from sqsq.errors import MotoVersionMismatch
from sqsq.local.services.base import LocalService

__all__ = ["SUPPORTED_MOTO_VERSION", "check_moto_version", "installed_moto_version"]

SUPPORTED_MOTO_VERSION = "5.2.5"
"""The moto the patches in :mod:`sqsq.local.services` were written for (pinned by the ``local`` extra)."""


def installed_moto_version() -> str:
    """The installed moto's version string, read from its distribution metadata (without importing moto).

    Raises:
        importlib.metadata.PackageNotFoundError: moto is not installed (callers check with ``require`` first).
    """
    return importlib.metadata.version("moto")


def check_moto_version(services: Iterable[LocalService]) -> None:
    """Check that every service that patches moto was written for the installed moto.

    Args:
        services: the services about to be patched.

    Raises:
        MotoVersionMismatch: the first service whose ``moto_version`` is not the installed version.
    """
    installed = installed_moto_version()
    for service in services:
        if service.moto_version is not None and service.moto_version != installed:
            raise MotoVersionMismatch(service.name, service.moto_version, installed)
