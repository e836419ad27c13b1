"""Masking secret-looking values before the dashboard shows arguments.

sqsq refuses ``SecretStr``/``SecretBytes`` parameters at registration (:func:`sqsq.args_model.refuse_secrets`), so
a secret can only reach a message as a plain value; the dashboard masks every value whose key looks like one.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "**********"
"""What a masked value shows (pydantic's SecretStr text)."""
SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|credential|"
                        r"auth|bearer|cookie|session|signature|^sig$|^kid$",
                        re.IGNORECASE)
"""Keys whose values are masked."""


def mask(value: Any) -> Any:
    """``value`` (JSON-shaped) with every value under a secret-looking key replaced by :data:`MASK`, recursively."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and SECRET_KEY.search(k) else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value
