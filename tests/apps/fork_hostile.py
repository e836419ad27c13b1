"""An app (``tests.apps.fork_hostile:app``) whose import does what pre-fork servers trip over, chosen by variables.

``FH_ATEXIT``: registers an atexit handler that appends ``atexit <pid>`` to ``SHOP_TEST_SINK``.
``FH_PRINT``: prints a marker line to stdout at import (block-buffered when stdout is a file).
``FH_LOG_FILE``: the root logger also writes to that file (a handler the app adds at import).
``FH_SOCKET``: opens a TCP connection to the local AWS endpoint at import and keeps it.
Each task appends ``ran <tag> <pid> <random bits>`` to ``SHOP_TEST_SINK``.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import socket
import sys
import time
from urllib.parse import urlsplit

import sqsq

app = sqsq.App("fork_hostile")
log = logging.getLogger("fork_hostile")


def _append(line: str) -> None:
    with open(os.environ["SHOP_TEST_SINK"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


if os.environ.get("FH_ATEXIT"):
    atexit.register(lambda: _append(f"atexit - {os.getpid()}"))
if os.environ.get("FH_PRINT"):
    print(f"fork_hostile imported in {os.getpid()}")
if os.environ.get("FH_LOG_FILE"):
    _file_handler = logging.FileHandler(os.environ["FH_LOG_FILE"])
    _file_handler.setFormatter(logging.Formatter("%(process)d %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(_file_handler)
if os.environ.get("FH_SOCKET"):
    _endpoint = urlsplit(os.environ["AWS_ENDPOINT_URL"])
    _connection = socket.create_connection((_endpoint.hostname or "127.0.0.1", _endpoint.port or 80))
if os.environ.get("FH_SERVICE_CLIENT"):  # a client made at import that already made a call (its pool keeps a socket)
    import boto3

    _sqs = boto3.client("sqs")
    _sqs.list_queues()


@app.task()
def sample(tag: str) -> int:
    _append(f"ran {tag} {os.getpid()} {random.getrandbits(64)}")
    log.info("sample %s in %d", tag, os.getpid())
    sys.stdout.write(f"task {tag} stdout\n")
    return os.getpid()


@app.task()
def slow(tag: str) -> int:
    _append(f"start {tag} {os.getpid()} -")
    time.sleep(0.2)
    _append(f"ran {tag} {os.getpid()} -")
    return os.getpid()
