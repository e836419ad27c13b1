"""What the Lambda handler's first invocation loads, over boto3 + the Powertools modules it uses.

Run ``python bench/lambda_imports.py`` (about half a minute; ``--reps N``, default 15). Figures, not pass/fail.

Each figure is the median over ``--reps`` fresh interpreters (``python -c ...``; the three children interleaved, and
sqsq minus baseline paired per repetition), timed inside the child from its first statement to the end of its code,
so interpreter start-up is left out: CPU time
(``time.process_time``, the steadier figure on a shared machine) and wall time. Three children:

``baseline``
    ``import boto3``, the ``aws_lambda_powertools`` import statements sqsq's handler package makes (read from its
    source with ``ast``, not imported), then what a plain Powertools function does on its first invocation: a
    ``Logger``, ``BatchProcessor`` as a context manager over the event with a record handler that ``json.loads`` the body, and
    one flush of ``EphemeralMetrics``.
    (Importing the powertools modules before anything else, so Powertools does not load its pydantic parser
    models: pydantic is not imported in a plain function.)

``sqsq``
    The first invocation of a deployed sqsq function through the generic entry point (the template's default
    handler, ``sqsq.lambda_entry.handler``): importing it (which imports the app ``SQSQ_APP`` names, a module with
    one task whose pydantic argument model is built, and builds ``sqsq.lambda_handler(app)``), the AWS layer a
    deployed app uses on its first invocation (``sqsq.transport.sqs``, ``sqsq.results.dynamodb``, both importing
    boto3), and one invocation on a real-shaped SQS event (one record, built by ``sqsq.local.esm.lambda_record``
    in this process).
    The transport and results store are sqsq's **in-memory** twins (``sqsq.transport.memory``,
    ``sqsq.results.memory``), so no boto3 client is created: creating the SQS and DynamoDB clients costs the same
    in a plain function and in sqsq and is left out of both. The environment is Lambda's (``AWS_LAMBDA_FUNCTION_NAME``
    set), so sqsq routes its loggers through Powertools' as it does in Lambda.

``pass``
    ``python -c pass``: the floor, for the import-time sums.

Printed: the in-child time of each (ms), sqsq minus baseline (the issue 11 figure, target <= +50 ms), the
``-X importtime`` sums of top-level imports, how many modules each loads, and whether any CLI/terminal module
(click, rich, yaml, ...) is loaded on the Lambda path (it must not be).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLI_MODULES = ("click", "rich", "yaml", "prompt_toolkit", "pygments", "sqsq.cli", "sqsq.local", "moto")
"""Top-level modules that must not be on the Lambda path."""

_RESULT_MARK = "BENCH-RESULT "

_PRELUDE = "import time as _t; _t0 = _t.perf_counter(); _c0 = _t.process_time()\n"
_EPILOGUE = (
    "import sys as _s, json as _j\n"
    "_mods = sorted(_s.modules)\n"
    "_out = {'ms': (_t.perf_counter() - _t0) * 1000.0, 'cpu_ms': (_t.process_time() - _c0) * 1000.0}\n"
    f"print({_RESULT_MARK!r} + _j.dumps({{**_out, 'modules': _mods}}))\n"
)

_BASELINE = """
import json, sys
{powertools}
event = json.loads(sys.stdin.read())
logger = Logger(service="bench")
def record_handler(record):
    return json.loads(record.body)
processor = BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
with processor(records=event["Records"], handler=record_handler):
    processor.process()
response = processor.response()
metrics = EphemeralMetrics(namespace="bench", service="bench")
metrics.add_metric(name="RecordsSucceeded", unit=MetricUnit.Count, value=1)
metrics.flush_metrics()
logger.info("batch done", extra={{"failed": len(response["batchItemFailures"])}})
"""

_SQSQ = """
import json, sys
from sqsq.lambda_entry import handler  # imports the app SQSQ_APP names, builds sqsq.lambda_handler(app)
import sqsq.transport.sqs, sqsq.results.dynamodb  # what a deployed app's transport and results store import
event = json.loads(sys.stdin.read())
response = handler(event, None)
assert response == {"batchItemFailures": []}, response
"""

APP_MODULE = """
import sqsq
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport

transport = MemoryTransport()
transport.create_queue("bench-default")
app = sqsq.App("bench", transport=transport, results=MemoryResults())


@app.task(name="bench.add")
def add(x: int, y: int) -> int:
    return x + y
"""
"""The app of the ``sqsq`` child (``SQSQ_APP=lambda_bench_app:app``): one task, sqsq's in-memory twins."""


@dataclass
class Figure:
    """One child's medians."""

    label: str
    in_child_ms: float
    cpu_ms: float
    importtime_ms: float
    modules: list[str]


def powertools_imports(package: Path) -> list[str]:
    """The ``aws_lambda_powertools`` import statements of every module under ``package`` (parsed, not imported)."""
    paths = sorted(package.rglob("*.py")) if package.is_dir() else [package]
    out: list[str] = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aws_lambda_powertools"):
                out.append(f"from {node.module} import {', '.join(a.name for a in node.names)}")
            elif isinstance(node, ast.Import):
                out += [f"import {a.name}" for a in node.names if a.name.startswith("aws_lambda_powertools")]
    return list(dict.fromkeys(out))


def sqs_event() -> str:
    """A real-shaped SQS event of one ``bench.add`` record (``{"Records": [...]}``, as JSON)."""
    import sqsq
    from sqsq.local.esm import lambda_record
    from sqsq.results.memory import MemoryResults
    from sqsq.transport.memory import MemoryTransport

    transport = MemoryTransport()
    transport.create_queue("bench-default")
    app = sqsq.App("bench", transport=transport, results=MemoryResults())

    @app.task(name="bench.add")
    def add(x: int, y: int) -> int:
        return x + y

    sqsq.send(add, {"x": 1, "y": 2})
    (message,) = transport.receive("bench-default", max_messages=1, wait_seconds=0)
    info = transport.queue_info("bench-default")
    return json.dumps({"Records": [lambda_record(message, info.arn, "us-east-1")]})


def _importtime_sum_ms(stderr: str) -> float:
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith(" ") and not name.startswith("  "):  # top-level imports only
            total_us += int(cumulative.strip())
    return total_us / 1000.0


def _child_env(app_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "POWERTOOLS_", "AWS_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(app_dir)]), AWS_LAMBDA_FUNCTION_NAME="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", SQSQ_APP="lambda_bench_app:app",
               LAMBDA_TASK_ROOT=str(app_dir))
    return env


def _run_child(label: str, code: str, event: str, env: dict[str, str], importtime: bool) -> tuple[dict[str, Any], str]:
    """One fresh interpreter running ``code``: its result line (ms, cpu_ms, modules) and its stderr."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _PRELUDE + code + _EPILOGUE]
    done = subprocess.run(command, input=event, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{done.stderr[-3000:]}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith(_RESULT_MARK))
    return json.loads(line[len(_RESULT_MARK):]), done.stderr


@dataclass
class FirstInvocation:
    """The three children's medians, and sqsq minus baseline paired per repetition (ms)."""

    floor: Figure
    base: Figure
    ours: Figure
    paired_cpu_ms: list[float]
    paired_wall_ms: list[float]


def measure_first_invocation(reps: int, importtime_reps: int = 3) -> FirstInvocation:
    """The children of the module docstring, interleaved: each repetition runs pass, baseline and sqsq one after
    the other (rotating which goes first), timed without ``-X importtime`` (its per-import overhead would count
    against the child that loads more modules); ``importtime_reps`` more runs of each give the import-time sums."""
    handler_src = ROOT / "sqsq" / "lambda_handler"
    if not handler_src.exists():
        handler_src = ROOT / "sqsq" / "lambda_handler.py"
    powertools = "\n".join(powertools_imports(handler_src))
    from bench.startup import compile_tree

    compile_tree(ROOT)  # as an installed sqsq is (its dependencies in site-packages are compiled)
    event = sqs_event()
    children = [
        ("python -c pass", "pass\n"),
        ("baseline: boto3 + Powertools modules + a plain Powertools invocation",
         "import boto3\n" + _BASELINE.format(powertools=powertools)),
        ("sqsq: sqsq.lambda_entry + first invocation (in-memory twins)", _SQSQ),
    ]
    timed: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in children}
    sums: dict[str, list[float]] = {label: [] for label, _ in children}
    with tempfile.TemporaryDirectory() as app_dir:
        (Path(app_dir) / "lambda_bench_app.py").write_text(APP_MODULE)
        env = _child_env(Path(app_dir))
        for rep in range(reps):
            for label, code in children[rep % 3:] + children[: rep % 3]:
                timed[label].append(_run_child(label, code, event, env, importtime=False)[0])
        for _ in range(importtime_reps):
            for label, code in children:
                sums[label].append(_importtime_sum_ms(_run_child(label, code, event, env, importtime=True)[1]))

    def figure(label: str) -> Figure:
        data = timed[label]
        return Figure(label, statistics.median(d["ms"] for d in data), statistics.median(d["cpu_ms"] for d in data),
                      statistics.median(sums[label]), data[-1]["modules"])

    base_label, ours_label = children[1][0], children[2][0]
    pairs = list(zip(timed[base_label], timed[ours_label], strict=True))
    return FirstInvocation(figure(children[0][0]), figure(base_label), figure(ours_label),
                           [o["cpu_ms"] - b["cpu_ms"] for b, o in pairs], [o["ms"] - b["ms"] for b, o in pairs])


def cli_modules_loaded(modules: list[str]) -> list[str]:
    """The CLI/terminal modules among ``modules`` (top-level names or sqsq's CLI/local packages)."""
    return [m for m in modules if any(m == c or m.startswith(c + ".") for c in CLI_MODULES)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="fresh interpreters per child (median)")
    args = parser.parse_args(argv)
    result = measure_first_invocation(args.reps)
    floor, base, ours = result.floor, result.base, result.ours
    import sqsq

    print(f"sqsq measured from {Path(sqsq.__file__).parent}")
    print(f"Lambda first invocation, median of {args.reps} fresh interpreters each, interleaved "
          f"(Python {sys.version.split()[0]})")
    print("| child | CPU ms | wall ms | -X importtime sum ms (minus pass) | modules loaded |")
    print("|---|---|---|---|---|")
    for f in (base, ours):
        print(f"| {f.label} | {f.cpu_ms:.0f} | {f.in_child_ms:.0f} | {f.importtime_ms - floor.importtime_ms:.0f} "
              f"| {len(f.modules)} |")
    cpu, wall = result.paired_cpu_ms, result.paired_wall_ms
    print(f"\nsqsq over baseline, paired per repetition: {statistics.median(cpu):+.0f} ms CPU "
          f"[{min(cpu):+.0f}..{max(cpu):+.0f}], {statistics.median(wall):+.0f} ms wall; "
          f"{ours.importtime_ms - base.importtime_ms:+.0f} ms by import-time sums; target <= +50 ms")
    extra = sorted({m.split(".")[0] for m in set(ours.modules) - set(base.modules)})
    print(f"top-level packages sqsq loads beyond the baseline: {', '.join(extra) or 'none'}")
    bad = cli_modules_loaded(ours.modules)
    print(f"CLI/terminal modules on the Lambda path: {', '.join(bad) if bad else 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
