"""Dashboard benchmark (issue 15): 100,000 task records in the local table, then the tasks and failures pages timed.

Run ``python bench/dashboard.py`` (``--records N`` to change the count). One invocation starts its own local AWS
(127.0.0.1, a free port), provisions an app (queues, DLQs, the results table with its task index), writes N task
records with BatchWriteItem (25 per call, as the results store writes them: the index key included; 92 % SUCCESS,
5 % FAILURE, 2 % RETRY, 1 % STARTED over the last 6 hours, 20 task names) and 20 dead letters, then requests each
page through the dashboard app in process (FastAPI's TestClient: no network between client and app; the app's
own AWS calls go over HTTP to the local AWS) and prints the median and max of the timed requests, with the
requests each page made by operation (never a Scan). Figures, not pass/fail; the machine is shared and noisy.
Writes a section to bench/RESULTS.md between its markers (``--out``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqsq  # noqa: E402
from sqsq.local.provision import provision  # noqa: E402
from sqsq.local.server import LocalAwsServer  # noqa: E402
from sqsq.message import Envelope  # noqa: E402
from sqsq.results import ResultRecord, Status  # noqa: E402
from sqsq.results.dynamodb import DynamoResults  # noqa: E402
from sqsq.results.index import INDEX_PARTITION_KEY, partition  # noqa: E402
from sqsq.transport import OutgoingMessage  # noqa: E402

START, END = "<!-- dashboard benchmark: start -->", "<!-- dashboard benchmark: end -->"
STATES = [(Status.SUCCESS, 92), (Status.FAILURE, 5), (Status.RETRY, 2), (Status.STARTED, 1)]
NAMES = [f"bench.task_{i:02d}" for i in range(20)]
PAGES = ["/tasks", "/tasks?state=FAILURE", "/tasks?name=bench.task_07", "/tasks?minutes=60", "/failures",
         "/api/tasks", "/api/failures"]


def _records(n: int, now: float) -> list[dict[str, dict[str, str]]]:
    from sqsq.results.items import to_item

    rng = random.Random(15)
    states = [s for s, weight in STATES for _ in range(weight)]
    items = []
    for _ in range(n):
        status, at = rng.choice(states), now - rng.uniform(0, 6 * 3600)
        failed = status in (Status.FAILURE, Status.RETRY)
        record = ResultRecord(str(uuid.uuid4()), status, rng.choice(NAMES), attempts=3 if failed else 1,
                              sent_at=at - 1, runtime_seconds=rng.uniform(0.001, 2), result_json=None if failed else "1",
                              error_type="RuntimeError" if failed else None,
                              error_message="bench failure" if failed else None).stamped(86_400 * 2, now=at)
        item = to_item(record)
        item[INDEX_PARTITION_KEY] = {"S": partition(status.value, at)}
        items.append(item)
    return items


def _write(store: DynamoResults, items: list[dict[str, dict[str, str]]]) -> float:
    started = time.perf_counter()
    ddb = store.clients.dynamodb
    for i in range(0, len(items), 25):
        request = {store.table_name: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def _time(client: object, server: LocalAwsServer, path: str, runs: int) -> tuple[float, float, dict[str, int]]:
    client.get(path)  # type: ignore[attr-defined]  # warm (queue URLs, first DLQ read)
    before = server.request_counts()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        response = client.get(path)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    after = server.request_counts()
    per_request = {k: (after.get(k, 0) - before.get(k, 0)) // runs for k in after if after.get(k, 0) != before.get(k, 0)}
    return statistics.median(times), max(times), per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from sqsq.dashboard import create_app
    from sqsq.monitoring import Monitor

    server = LocalAwsServer(port=None)
    server.start()
    os.environ.update(server.client_environment())
    try:
        app = sqsq.App(f"dash{uuid.uuid4().hex[:6]}")
        app.configure(endpoint_url=server.endpoint_url)
        for name in NAMES:
            app.task(name=name)(lambda: None)
        provision(app)
        store = app.results
        assert isinstance(store, DynamoResults)
        write_seconds = _write(store, _records(args.records, time.time() - 5))
        print(f"wrote {args.records} records in {write_seconds:.1f} s", flush=True)
        dead = [OutgoingMessage(str(i), Envelope(id=str(uuid.uuid4()), task=NAMES[i % 20], args={"i": i}).to_body())
                for i in range(20)]
        for i in range(0, 20, 10):
            assert app.transport.send_batch(app.settings.dlq_name("default"), dead[i:i + 10]) == []
        rows = []
        with TestClient(create_app(Monitor(app, read_oldest_age=False)), base_url="http://127.0.0.1:8642") as client:
            for path in PAGES:
                median, worst, ops = _time(client, server, path, args.runs)
                calls = ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(ops.items()))
                rows.append(f"| `{path}` | {median:.0f} | {worst:.0f} | {calls} |")
                print(rows[-1], flush=True)
    finally:
        server.stop()
    _report(args, write_seconds, rows)


def _report(args: argparse.Namespace, write_seconds: float, rows: list[str]) -> None:
    import moto

    section = "\n".join([
        START, "## Dashboard pages with 100,000 task records (issue 15)", "",
        f"Generated by `python bench/dashboard.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.records} records written with BatchWriteItem in {write_seconds:.0f} s, 20 dead letters; "
        f"{platform.python_version()}, moto {moto.__version__} (local AWS on 127.0.0.1). Each page requested "
        f"{args.runs} times after one warm-up, in process (TestClient). Target: < 500 ms.", "",
        "| page | median ms | max ms | AWS requests per page view |", "|---|---|---|---|", *rows, "", END,
    ])
    text = args.out.read_text() if args.out.exists() else ""
    if START in text and END in text:
        text = text[:text.index(START)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
