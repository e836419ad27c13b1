"""An app (``tests.apps.crashing:app``) whose every import after the first dies at once with exit code 70.

``sqsq worker`` imports APP once to check it before it starts its worker processes; each of those then dies at
start-up, again after every restart: a crash loop. The marker file sits beside ``SHOP_TEST_SINK`` (per test).
"""

from __future__ import annotations

import os

import sqsq

_MARKER = os.environ["SHOP_TEST_SINK"] + ".imported"
if os.path.exists(_MARKER):
    os._exit(70)
with open(_MARKER, "w", encoding="utf-8"):
    pass

app = sqsq.App("crashing")
