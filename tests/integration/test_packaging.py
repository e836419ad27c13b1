"""What `pip install sqsq` gets: the wheel's metadata and files, and a fresh venv with no extras.

The wheel is built once per run (the session fixture ``sqsq_wheel`` in tests/conftest.py). The venv test installs
it with pip from the package index (its base dependencies: boto3, pydantic, click).
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PYPROJECT["version"]
OPTIONAL_MODULES = ("rich", "yaml", "moto", "samtranslator", "aws_lambda_powertools", "pygments", "markdown_it")


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        return email.parser.Parser().parsestr(zf.read(f"sqsq-{VERSION}.dist-info/METADATA").decode())


def requirements_by_extra(meta: email.message.Message) -> dict[str, set[str]]:
    """``{"": base names, "cli": names, ...}`` from the Requires-Dist lines (names with their extras)."""
    out: dict[str, set[str]] = {}
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        name = req.name.lower() + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
        extras = [e for e in meta.get_all("Provides-Extra") or [] if req.marker and req.marker.evaluate({"extra": e})]
        for extra in extras or [""]:
            out.setdefault(extra, set()).add(name)
    return out


def test_wheel_metadata_declares_base_dependencies_extras_license_and_version(sqsq_wheel: Path) -> None:
    meta = metadata(sqsq_wheel)
    assert (meta["Name"], meta["Version"]) == ("sqsq", VERSION)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    extras = ["cli", "dashboard", "lambda", "local", "reload", "web"]  # "dev" is a dependency group, not an extra
    assert sorted(meta.get_all("Provides-Extra") or []) == extras
    assert requirements_by_extra(meta) == {
        "": {"boto3", "pydantic", "click", "pebble", "croniter"},
        "lambda": {"aws-lambda-powertools"},
        "cli": {"rich", "pyyaml"},
        "local": {"sqsq[cli]", "moto[server]", "aws-sam-translator", "awslambdaric"},
        "reload": {"watchfiles"},
        "web": {"fastapi", "uvicorn"},
        "dashboard": {"sqsq[cli]", "fastapi", "uvicorn", "jinja2", "prometheus-client"},
    }
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


def test_wheel_holds_the_sqsq_package_and_its_license_only(sqsq_wheel: Path) -> None:
    with zipfile.ZipFile(sqsq_wheel) as zf:
        names = zf.namelist()
        license_text = zf.read(f"sqsq-{VERSION}.dist-info/licenses/LICENSE").decode()
        entry_points = zf.read(f"sqsq-{VERSION}.dist-info/entry_points.txt").decode()
    dist_info = f"sqsq-{VERSION}.dist-info/"
    assert [n for n in names if not n.startswith(("sqsq/", dist_info))] == []
    assert "sqsq/py.typed" in names
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "sqsq").rglob("*.py"))
    assert sorted(n for n in names if n.endswith(".py")) == sources
    assert "Copyright (c) 2026 the sqsq authors" in license_text and license_text.startswith("MIT License")
    assert "sqsq = sqsq.cli:main" in entry_points


def test_plain_install_runs_the_cli_and_names_the_extra_a_command_needs(sqsq_wheel: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("SQSQ_")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=120)
    python, sqsq = venv / "bin" / "python", venv / "bin" / "sqsq"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(sqsq_wheel)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert installed.returncode == 0, installed.stderr

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)

    present = run(str(python), "-c", f"import importlib.util as u; print([m for m in {OPTIONAL_MODULES} if u.find_spec(m)])")
    assert present.stdout.strip() == "[]", "a base install pulled in an optional dependency"

    version = run(str(sqsq), "--version")
    assert (version.returncode, version.stdout) == (0, f"sqsq, version {VERSION}\n"), version.stderr
    for args, expected in [
        (("template", "some.module:app"), 'error: sqsq template needs PyYAML: pip install "sqsq[cli]"'),
        (("local", "some.module:app"), 'error: sqsq local needs moto[server]: pip install "sqsq[local]"'),
        (("queues", "some.module:app"), 'error: sqsq queues without --json needs rich: pip install "sqsq[cli]"'),
    ]:
        done = run(str(sqsq), *args)
        assert (done.returncode, done.stdout, done.stderr.splitlines()) == (3, "", [expected]), done.stderr

    handler = run(str(python), "-c", "import sqsq\ntry:\n    sqsq.lambda_handler\nexcept sqsq.ConfigError as e:\n"
                  "    print(sqsq.__version__, e)")
    assert handler.stdout == f'{VERSION} sqsq.lambda_handler needs aws-lambda-powertools: pip install "sqsq[lambda]"\n'
