"""``sqsq worker --pool process -c 4``: a child that dies is replaced alone; tasks in the others run once."""

from __future__ import annotations

from collections import Counter

import sqsq
from tests.apps import shop as shop_app
from tests.conftest import Deployed
from tests.integration.test_reliability_delivery import log_of, sink, spawn_logged


def test_dying_child_is_replaced_alone_and_tasks_in_the_other_children_run_once(shop: Deployed) -> None:
    marker = shop.tmp / "crashed-once"
    long = sqsq.send_many(shop_app.long_running, [{"seconds": 4.0, "tag": f"L{i}"} for i in range(3)])
    crash = sqsq.send(shop_app.crash_once, {"marker": str(marker)})  # os._exit(137) while the three run
    proc = spawn_logged(shop, "worker", "tests.apps.shop:app", "-Q", "default", "--pool", "process", "-c", "4",
                        "--prefetch", "0", "--wait-time-seconds", "1", "--burst")
    assert proc.wait(timeout=120) == 0, log_of(proc)[-3000:]
    starts = Counter(line.split()[1] for line in sink(shop) if line.startswith("start "))
    assert starts == Counter({"L0": 1, "L1": 1, "L2": 1})
    assert [h.get(timeout_seconds=5) for h in long] == ["L0", "L1", "L2"]
    assert crash.get(timeout_seconds=5) == "recovered"
    worker_log = log_of(proc)
    assert "pool child died (exit code 137) while running tests.apps.shop.crash_once" in worker_log
    assert "1 pool process deaths" in worker_log
