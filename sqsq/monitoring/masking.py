"""The dashboard's masking: :mod:`sqsq.masking` (kept under this name for the monitoring modules)."""

from __future__ import annotations

from sqsq.masking import MASK, SECRET_KEY, mask

__all__ = ["MASK", "SECRET_KEY", "mask"]
