"""CloudFormation logical ids from sqsq's queue names."""

from __future__ import annotations

import re

from sqsq.errors import ConfigError


def logical_id(name: str) -> str:
    """A CloudFormation logical id from a queue name: ``"thumb_nails-2"`` -> ``"ThumbNails2"``.

    Raises:
        ConfigError: the name has no letter or digit.
    """
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not out:
        raise ConfigError(f"queue name {name!r} has no letters or digits to build a CloudFormation logical id")
    return out
