"""The demo app: parse every ``.py`` file of the standard library, one task per file, and count what is in it.

The inputs are real files nobody here wrote. A few of them do not parse with this Python (test fixtures with
deliberately bad syntax, or files in another encoding): those are real bad input and end as recorded
FAILUREs in the results table and as messages in the dead-letter queue.

Run it end to end with ``make demo`` (or ``python -m sqsq.demo``).
"""

from __future__ import annotations

import ast
import sysconfig
import tokenize
from pathlib import Path

from pydantic import BaseModel

import sqsq

app = sqsq.App("census")


class SourceFile(BaseModel):
    """Arguments of :func:`parse_file`: a path relative to the standard library folder."""

    relative_path: str


class FileCounts(BaseModel):
    """What :func:`parse_file` returns for one file."""

    relative_path: str
    size_bytes: int
    lines: int
    functions: int
    classes: int
    imports: int


def stdlib_root() -> Path:
    """The standard library folder of the running Python (``sysconfig``'s ``stdlib`` path)."""
    return Path(sysconfig.get_paths()["stdlib"])


@app.task(name="census.parse_file", queue="files", max_retries=0)
def parse_file(args: SourceFile) -> FileCounts:
    """Parse one standard-library file and count its lines, functions, classes and imports.

    Raises:
        SyntaxError / UnicodeDecodeError / ValueError: the file does not parse (recorded as FAILURE, no retry helps).
        PermissionError: the path escapes the standard library folder.
    """
    root = stdlib_root().resolve()
    path = (root / args.relative_path).resolve()
    if root not in path.parents:
        raise PermissionError(f"{args.relative_path!r} is outside the standard library folder")
    with tokenize.open(path) as f:  # honours PEP 263 encoding declarations
        text = f.read()
    tree = ast.parse(text, filename=str(path))
    counts = {"functions": 0, "classes": 0, "imports": 0}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            counts["functions"] += 1
        elif isinstance(node, ast.ClassDef):
            counts["classes"] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            counts["imports"] += 1
    return FileCounts(
        relative_path=args.relative_path,
        size_bytes=path.stat().st_size,
        lines=text.count("\n") + (0 if text.endswith("\n") or not text else 1),
        **counts,
    )


def workload() -> list[SourceFile]:
    """Every ``.py`` file under the standard library folder (site-packages excluded), sorted."""
    root = stdlib_root()
    files = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "site-packages" not in p.parts and "dist-packages" not in p.parts
    ]
    return [SourceFile(relative_path=f) for f in sorted(files)]


@app.task(name="census.count_files", queue="files")
def count_files(top_level_only: bool = False) -> int:
    """Count the standard library's ``.py`` files (the demo's periodic task: a nightly inventory)."""
    root = stdlib_root()
    return sum(1 for _ in (root.glob("*.py") if top_level_only else root.rglob("*.py")))


# issue 12: a periodic task. EventBridge Scheduler sends census.count_files every night at 03:00 Berlin time;
# each firing is a task with its own id ("periodic.census-nightly-count:<time>") and result record.
app.schedule(count_files, sqsq.cron("0 3 * * *", timezone="Europe/Berlin"), args={"top_level_only": True},
             name="census-nightly-count")
