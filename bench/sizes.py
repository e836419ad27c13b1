"""Unit sizes against the size guide of issue 11: no module over 400 lines, no class over 300, no function over 60.

Usage: ``python -m bench.sizes [ROOT ...]`` (default ``sqsq lambdas``) prints the largest modules and every unit over
the guide; ``tests/unit/test_size_guide.py`` holds ``sqsq/`` to it, with a short allow-list. Lines are counted as
written (docstrings and comments included), a class or function from its ``def``/``class`` line to its last line.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Size:
    """One unit's size: ``kind`` is MODULE, CLASS or FUNC; ``name`` is ``path`` or ``path:qualname``."""

    kind: str
    name: str
    lines: int

    @property
    def key(self) -> str:
        """``"FUNC sqsq/app.py:task"``: how an allow-list names it."""
        return f"{self.kind} {self.name}"


def _units(path: Path, rel: str) -> list[Size]:
    source = path.read_text()
    sizes = [Size("MODULE", rel, source.count("\n"))]

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "CLASS" if isinstance(child, ast.ClassDef) else "FUNC"
                qualname = f"{prefix}{child.name}"
                sizes.append(Size(kind, f"{rel}:{qualname}", (child.end_lineno or child.lineno) - child.lineno + 1))
                walk(child, f"{qualname}.")
            else:
                walk(child, prefix)

    walk(ast.parse(source), "")
    return sizes


def measure(*roots: str) -> list[Size]:
    """Every module, class and function under ``roots`` (paths relative to the repository), in path order."""
    out: list[Size] = []
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            out += _units(path, path.relative_to(ROOT).as_posix())
    return out


def over_guide(sizes: list[Size]) -> list[Size]:
    """The units over the guide."""
    limit = {"MODULE": MAX_MODULE_LINES, "CLASS": MAX_CLASS_LINES, "FUNC": MAX_FUNCTION_LINES}
    return [s for s in sizes if s.lines > limit[s.kind]]


def main(argv: list[str]) -> None:
    sizes = measure(*(argv or ["sqsq", "lambdas"]))
    modules = sorted((s for s in sizes if s.kind == "MODULE"), key=lambda s: -s.lines)
    print("largest modules:")
    for s in modules[:20]:
        print(f"  {s.lines:5d} {s.name}")
    offenders = over_guide(sizes)
    print(f"over the guide (module > {MAX_MODULE_LINES}, class > {MAX_CLASS_LINES}, function > "
          f"{MAX_FUNCTION_LINES} lines): {len(offenders)}")
    for s in offenders:
        print(f"  {s.key} {s.lines}")


if __name__ == "__main__":
    main(sys.argv[1:])
