"""Masking secret-looking values before arguments are shown or stored for showing.

sqsq refuses ``SecretStr``/``SecretBytes`` parameters at registration (:func:`sqsq.args_model.refuse_secrets`), so
a secret can only reach a message as a plain value; every value whose key looks like one is masked: on the
dashboard, and in the arguments preview a result record keeps (:func:`args_preview`).
"""

from __future__ import annotations

import json
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


ARGS_PREVIEW_MAX_CHARS = 512
"""Longest arguments preview a result record keeps: with the record's other fields a typical item stays within one
1 KB DynamoDB write unit."""


def args_preview(args: Any) -> str:
    """The arguments as the dashboard's task page shows them: masked (:func:`mask`), compact JSON, cut to
    :data:`ARGS_PREVIEW_MAX_CHARS` characters (a cut preview ends with ``…``)."""
    text = json.dumps(mask(args), ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= ARGS_PREVIEW_MAX_CHARS else text[: ARGS_PREVIEW_MAX_CHARS - 1] + "…"
