"""The README's "Testing your tasks" example runs as written: its files, extracted, pass under pytest in a fresh
directory, with the sqsq plugin loaded by its entry point (so the README cannot rot)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Testing your tasks"


def readme_example_files() -> dict[str, str]:
    """The section's ```python blocks whose first line is ``# NAME.py``, by NAME.py."""
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    files = {}
    for block in re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL):
        first = block.splitlines()[0]
        named = re.fullmatch(r"# (\w+\.py)", first)
        if named:
            files[named.group(1)] = block
    return files


def clean_environment() -> dict[str, str]:
    """This process's environment without sqsq settings, pytest/xdist variables or AWS endpoints."""
    drop = ("SQSQ_", "PYTEST_", "AWS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop) and k != "PYTHONPATH"}


def test_readme_testing_example_files_pass_under_pytest(tmp_path: Path) -> None:
    files = readme_example_files()
    assert sorted(files) == ["conftest.py", "tasks.py", "test_tasks.py"]
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # the example's own rootdir, not this repository's
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=clean_environment(), capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "5 passed" in done.stdout, done.stdout[-2000:]
