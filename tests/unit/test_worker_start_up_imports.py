"""A worker loads only the pools it uses: asyncio for async tasks, pebble/multiprocessing for ``--pool process``."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import sqsq
from sqsq.testing import in_memory


def test_importing_the_worker_loads_neither_asyncio_nor_the_process_pool() -> None:
    code = ("import sys, sqsq.worker, sqsq.cli.worker; "
            "print(sorted(m for m in ('asyncio', 'pebble', 'multiprocessing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


app = sqsq.App("startup-imports")


@app.task(name="si.wait")
async def wait(x: int) -> int:
    return x + 1


def test_an_async_task_logs_its_one_finished_line_with_its_name_and_id(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="sqsq.task"), in_memory(app) as env:
        handle = wait.delay(x=1)
        env.drain()
        assert handle.get(timeout_seconds=5) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "sqsq.task"]
    assert any(f"si.wait[{handle.id}] success" in line for line in lines), lines


def test_worker_start_up_loads_neither_boto3_nor_the_dlq_sweep_before_its_first_interval() -> None:
    code = ("import sys, sqsq.worker, sqsq.cli.worker, sqsq.transport.sqs, sqsq.results.dynamodb; "
            "print(sorted(m for m in ('boto3', 's3transfer', 'sqsq.sweep', 'sqsq.dlq') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
