"""sqsq.lambda_entry: the generic handler finds the app from SQSQ_APP, including a package unpacked at the task root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = """
import sqsq
from .helpers import double

app = sqsq.App("rooted")

@app.task(name="double")
def twice(x: int) -> int:
    return double(x)
"""
PROBE = """
import json, sqsq.lambda_entry as entry
print(json.dumps({"app": entry.handler.app.name, "tasks": sorted(entry.handler.app.tasks)}))
"""


def _run(task_root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=task_root, capture_output=True, text=True, timeout=60,
                          env={**clean, "PYTHONPATH": str(ROOT), "LAMBDA_TASK_ROOT": str(task_root), **env})


def test_a_package_unpacked_at_the_task_root_is_mounted_under_its_name(tmp_path: Path) -> None:
    # sam build with CodeUri: rooted/ puts the package's files at the task root, without the rooted/ folder.
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "helpers.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    (tmp_path / "tasks.py").write_text(TASKS)
    done = _run(tmp_path, {"SQSQ_APP": "rooted.tasks:app"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"app": "rooted", "tasks": ["double"]}


def test_a_package_folder_inside_the_task_root_imports_as_usual(tmp_path: Path) -> None:
    pkg = tmp_path / "rooted"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    (pkg / "tasks.py").write_text(TASKS)
    done = _run(tmp_path, {"SQSQ_APP": "rooted.tasks:app"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["app"] == "rooted"


def test_without_sqsq_app_the_init_fails_with_what_to_set(tmp_path: Path) -> None:
    done = _run(tmp_path, {})
    assert done.returncode != 0
    assert "SQSQ_APP is not set" in done.stderr and "module:attribute" in done.stderr


def test_an_app_that_does_not_import_fails_the_init_naming_the_module(tmp_path: Path) -> None:
    done = _run(tmp_path, {"SQSQ_APP": "nowhere.tasks:app"})
    assert done.returncode != 0
    assert "cannot import 'nowhere.tasks'" in done.stderr
