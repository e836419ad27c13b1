"""The architecture's layering rule: nothing imports a layer above it; boto3, powertools and click stay put."""

from __future__ import annotations

import ast
from pathlib import Path

SQSQ = Path(__file__).resolve().parents[2] / "sqsq"

LAYERS = {
    "sqsq.errors": 0, "sqsq.limits": 0, "sqsq.extras": 0, "sqsq.logs": 0, "sqsq.log_buffer": 0, "sqsq.startup_gc": 0,
    "sqsq.config": 1, "sqsq.codec": 1, "sqsq.message": 1, "sqsq.signing": 1, "sqsq.retry": 1, "sqsq.queue_config": 1,
    "sqsq.payloads": 1, "sqsq.payload_pointer": 1, "sqsq.attributes": 1, "sqsq.masking": 1, "sqsq.context": 1,
    "sqsq.message_flow": 1,
    "sqsq.transport": 2, "sqsq.results": 2,
    "sqsq.args_model": 3, "sqsq.handle": 3, "sqsq.task": 3, "sqsq.sending": 3, "sqsq.calls": 3, "sqsq.backends": 3,
    "sqsq.app": 3, "sqsq.app_queues": 3, "sqsq.app_sending": 3, "sqsq.send_options": 3, "sqsq.task_data": 3,
    "sqsq.schema": 3, "sqsq.scheduling": 3, "sqsq.grouping": 3, "sqsq.workflows": 3,
    "sqsq.executor": 4, "sqsq.rescue": 4,
    "sqsq.worker": 5, "sqsq.pools": 5, "sqsq.lambda_handler": 5, "sqsq.lambda_entry": 5, "sqsq.dlq": 5, "sqsq.sweep": 5,
    "sqsq.supervisor": 5, "sqsq.prefork": 5, "sqsq.monitoring": 5, "sqsq.__main__": 6,
    "sqsq.cli": 6, "sqsq.local": 6, "sqsq.template": 6, "sqsq.demo": 6, "sqsq.testing": 6, "sqsq.dashboard": 6,
}
ONLY_IN = {"boto3": ("sqsq.transport", "sqsq.results"), "botocore": ("sqsq.transport", "sqsq.results"),
           "aws_lambda_powertools": ("sqsq.lambda_handler",), "click": ("sqsq.cli",)}


def _layer(module: str) -> int | None:
    for prefix, layer in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in SQSQ.rglob("*.py"):
        rel = path.relative_to(SQSQ.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out.append((name, path))
    return out


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_imports_a_layer_above_it() -> None:
    upward = []
    for name, path in _modules():
        mine = _layer(name)
        if mine is None or name == "sqsq":
            continue
        for imported in _imports(path):
            theirs = _layer(imported)
            if theirs is not None and theirs > mine:
                upward.append(f"{name} (layer {mine}) imports {imported} (layer {theirs})")
    assert upward == []


def test_every_module_has_a_layer() -> None:
    assert [n for n, _ in _modules() if n != "sqsq" and _layer(n) is None] == []


def test_aws_sdks_powertools_and_click_are_imported_only_where_they_belong() -> None:
    misplaced = []
    for name, path in _modules():
        for imported in _imports(path):
            top = imported.split(".")[0]
            allowed = ONLY_IN.get(top)
            if allowed and not any(name == a or name.startswith(a + ".") for a in allowed):
                misplaced.append(f"{name} imports {imported}")
    assert misplaced == []


def test_the_task_layer_modules_import_no_cycle() -> None:
    # Issue 11: sqsq.app and sqsq.task imported each other (the task's app type). Counted here even under
    # TYPE_CHECKING, since a type checker follows those imports too.
    layer3 = {name: path for name, path in _modules() if _layer(name) == 3}
    graph = {name: {i for i in _imports(path) if i in layer3 and i != name} for name, path in layer3.items()}
    order: list[str] = []
    while graph:
        free = sorted(n for n, deps in graph.items() if not deps - set(order))
        assert free, f"import cycle among {sorted(graph)}"
        order += free
        graph = {n: d for n, d in graph.items() if n not in free}
