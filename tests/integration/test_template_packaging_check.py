"""`sqsq template --check` catches broken packaging: a handler that would not import, a layer that lacks sqsq,
pydantic or Powertools, in a source template statically and in a built one (.aws-sam/build) for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqsq
from sqsq.template import TemplateOptions, dump_template, load_template, render_template
from sqsq.template.packaging_checks import check_packaging

ROOT = Path(__file__).resolve().parents[2]
TASKS = "import sqsq\napp = sqsq.App('pk')\n\n@app.task(name='t')\ndef t() -> None: ...\n"


def _project(tmp: Path, requirements: str, code_uri: str = "pk") -> Path:
    pkg = tmp / "pk"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "tasks.py").write_text(TASKS)
    (tmp / "sqsq-layer").mkdir(exist_ok=True)
    (tmp / "sqsq-layer" / "requirements.txt").write_text(requirements)
    app = sqsq.App("pk")

    @app.task(name="t")
    def t() -> None: ...

    path = tmp / "template.yaml"
    path.write_text(dump_template(render_template(app, TemplateOptions(app_spec="pk.tasks:app", code_uri=code_uri))))
    return path


def _messages(path: Path) -> list[str]:
    return [f"{f.resource}: {f.message}" for f in check_packaging(path, load_template(path))]


def test_a_complete_source_project_passes(tmp_path: Path) -> None:
    assert _messages(_project(tmp_path, "sqsq==0.1.0\naws-lambda-powertools>=3\n")) == []
    assert _messages(_project(tmp_path, ".sqsq/wheels/sqsq-0.1.0-py3-none-any.whl[lambda]\n")) == []


def test_a_code_uri_without_the_app_module_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    lines = _messages(_project(tmp_path, "sqsq[lambda]\n", code_uri="elsewhere"))
    assert lines == ["DefaultFunction: module 'pk.tasks' would not import: no such file under CodeUri 'elsewhere'; "
                     "set CodeUri to the folder of your package (--code-uri)"]


def test_a_layer_without_sqsq_or_powertools_is_one_line_each(tmp_path: Path) -> None:
    lines = _messages(_project(tmp_path, "requests\n"))
    assert [line.split(":")[0] for line in lines] == ["DependenciesLayer"] * 3
    assert ["lack sqsq" in lines[0], "lack pydantic" in lines[1], "lack aws_lambda_powertools" in lines[2]] == [True] * 3


def _built(tmp: Path, layer_packages: list[str]) -> Path:
    """A build folder shaped like `sam build`'s, with the layer's packages linked from this environment."""
    build = tmp / ".aws-sam" / "build"
    code = build / "DefaultFunction"
    code.mkdir(parents=True)
    (code / "__init__.py").write_text("")
    (code / "tasks.py").write_text(TASKS)
    python = build / "DependenciesLayer" / "python"
    python.mkdir(parents=True)
    import importlib

    for name in layer_packages:
        module: Any = importlib.import_module(name)
        source_path = Path(module.__file__)
        if source_path.name == "__init__.py":  # a package: link its folder; a single-module distribution: its file
            (python / name).symlink_to(source_path.parent)
        else:
            (python / source_path.name).symlink_to(source_path)
    source = _project(tmp, "sqsq[lambda]\n")
    template = load_template(source)
    template["Resources"]["DefaultFunction"]["Properties"]["CodeUri"] = "DefaultFunction"
    template["Resources"]["DependenciesLayer"]["Properties"]["ContentUri"] = "DependenciesLayer"
    path = build / "template.yaml"
    path.write_text(dump_template(template))
    return path


def test_a_built_layer_without_pydantic_fails_the_import_test_with_the_import_error(tmp_path: Path) -> None:
    lines = _messages(_built(tmp_path, ["sqsq", "aws_lambda_powertools", "jmespath", "typing_extensions"]))
    assert any(line.startswith("DefaultFunction: the layer lacks pydantic") for line in lines), lines
    assert any("does not import from CodeUri + layers: ModuleNotFoundError: No module named 'pydantic'" in line
               for line in lines), lines


def test_a_built_function_with_its_layer_complete_imports(tmp_path: Path) -> None:
    packages = ["sqsq", "pydantic", "pydantic_core", "typing_extensions", "annotated_types", "typing_inspection",
                "aws_lambda_powertools", "jmespath", "boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six",
                "jsonschema"]
    import importlib.util

    present = [p for p in packages if importlib.util.find_spec(p) is not None]
    path = _built(tmp_path, [p for p in present if p not in ("six", "typing_extensions")])
    python = path.parent / "DependenciesLayer" / "python"
    for single in ("six", "typing_extensions"):
        spec = importlib.util.find_spec(single)
        assert spec is not None and spec.origin is not None
        (python / Path(spec.origin).name).symlink_to(spec.origin)
    assert _messages(path) == []


def test_a_package_module_named_like_the_standard_library_is_refused_when_narrowing_and_flagged_by_check(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys

    pkg = tmp_path / "shadowy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "queue.py").write_text("X = 1\n")
    (pkg / "tasks.py").write_text("import sqsq\napp = sqsq.App('shadowy')\n")
    done = subprocess.run([sys.executable, "-m", "sqsq.cli", "template", "shadowy.tasks:app", "-o", "template.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 3, done.stderr
    assert "shadowy/queue.py is named like the standard library's 'queue'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    app = sqsq.App("shadowy")
    path = tmp_path / "by-hand.yaml"
    path.write_text(dump_template(render_template(app, TemplateOptions(app_spec="shadowy.tasks:app",
                                                                       code_uri="shadowy"))))
    (tmp_path / "sqsq-layer").mkdir(exist_ok=True)
    (tmp_path / "sqsq-layer" / "requirements.txt").write_text("sqsq[lambda]\n")
    lines = _messages(path)
    assert any("'queue' at the task root" in line and "replaces the standard library's 'queue'" in line
               for line in lines), lines
