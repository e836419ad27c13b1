"""The embedded local AWS (moto server, patched) and provisioning of local resources.

``from sqsq.local import LocalAwsServer`` works; the import is lazy so that ``python -m sqsq.local.server`` does not
load the module twice, and importing this package imports neither moto nor boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsq.local.server import LocalAwsServer

__all__ = ["LocalAwsServer"]


def __getattr__(name: str) -> Any:
    if name == "LocalAwsServer":
        from sqsq.local.server import LocalAwsServer

        return LocalAwsServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
