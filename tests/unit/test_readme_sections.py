"""The README's Install and "Coming from Celery" sections keep up with what ships."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_the_install_section_lists_every_extra_in_the_pip_lines_and_the_table() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    install = _section("Install")
    for extra in extras:
        assert f'pip install "sqsq[{extra}]"' in install, extra
        assert f"| `[{extra}]` |" in install, extra


def test_the_celery_table_names_what_ships_and_promises_nothing_for_later() -> None:
    celery = _section("Coming from Celery")
    assert not re.search(r"\b(no|not)\b[^|]*\byet\b(?! sent)", celery)  # "not yet sent" (a signature) is fine
    for shipped in ("sqsq.chain", "sqsq.group", "sqsq.chord", "add.map", "h.cancel()", "sqsq cancel", "beat",
                    "sqsq.cron", "sqsq.every(minutes=5)", "Flower", "sqsq dashboard", "sqsq top", "EventBridge Scheduler"):
        assert shipped in celery, shipped
