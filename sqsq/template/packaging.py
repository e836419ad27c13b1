"""What ``sam build`` needs besides the template: the dependencies layer's requirements, and the app's code folder.

* :func:`write_layer` writes ``<layer>/requirements.txt`` naming sqsq with its ``lambda`` extra: the installed
  version from the package index, or, when sqsq was installed from a wheel file or a source folder (PEP 610's
  ``direct_url.json`` says which), a wheel copied (or built) into ``.sqsq/wheels/`` of the project. The line names
  it relative to the project folder, because ``sam build`` runs pip from the folder it is run in (not the
  requirements file's), and the wheel stays out of the layer folder, whose every file ``sam build`` copies into
  the layer. boto3 is installed into the
  layer too (sqsq requires it), so the function does not depend on the runtime's older copy.
* :func:`code_uri_for` narrows a function's ``CodeUri`` to the folder of the app's top-level package (see
  :mod:`sqsq.lambda_entry` for how the package is found at the task root), so tests, ``.git`` and virtual
  environments never ship in the function's zip.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqsq.errors import ConfigError

REQUIREMENTS_FILE = "requirements.txt"
_HEADER = (
    "# The dependencies layer of the sqsq consumers: `sam build` installs this into the layer's python/ folder.\n"
    "# Written by `sqsq template`; boto3 is installed here too (sqsq requires it), not taken from the runtime.\n"
)


def _distribution() -> importlib.metadata.Distribution:
    """sqsq's installed distribution: the one an installer recorded (a source tree's ``sqsq.egg-info`` in the current
    directory would otherwise shadow it, and has no ``direct_url.json``)."""
    found = list(importlib.metadata.distributions(name="sqsq"))
    installed = [d for d in found if d.read_text("INSTALLER") is not None]
    if not found:
        raise ConfigError(
            "sqsq is not installed as a package here, so the layer cannot name it: pip install sqsq (or this "
            "source tree: pip install -e .) and render the template again"
        )
    return (installed or found)[0]


def lambda_extra_requirements() -> list[str]:
    """The requirements of sqsq's ``lambda`` extra, read from the installed metadata (e.g. Powertools)."""
    out = []
    for req in _distribution().requires or []:
        name, _, marker = req.partition(";")
        if re.search(r"""extra\s*==\s*["']lambda["']""", marker):
            out.append(name.strip())
    return out


def _direct_url() -> dict[str, object] | None:
    text = _distribution().read_text("direct_url.json")
    return json.loads(text) if text else None


def _file_path(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise ConfigError(f"sqsq was installed from {url}; the layer needs it from a file or folder: pip install it again")
    return Path(unquote(parsed.path))


def _build_wheel(source: Path, into: Path) -> Path:
    """Build sqsq's wheel from a source folder into ``into`` (``pip wheel --no-deps``)."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(into), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"building sqsq's wheel from {source} for the layer failed: {last}")
    wheels = sorted(into.glob("sqsq-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise ConfigError(f"pip wheel {source} produced no sqsq wheel in {into}")
    return wheels[-1]


WHEELS_DIR = ".sqsq/wheels"
"""Where a wheel of sqsq is kept for the layer when sqsq was not installed from an index (relative to the project)."""


def sqsq_requirement(project_dir: Path) -> str:
    """The requirements line that installs this sqsq into the layer.

    Args:
        project_dir: the folder ``sam build`` will be run in (the template's); a wheel may be copied or built into
            its ``.sqsq/wheels/``.

    Raises:
        ConfigError: sqsq is not installed, or its wheel cannot be built.
    """
    dist = _distribution()
    direct = _direct_url()
    if direct is None:  # installed from an index
        return f"sqsq=={dist.version}"
    source = _file_path(str(direct.get("url", "")))
    wheels = project_dir / WHEELS_DIR
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("sqsq-*.whl"):
        old.unlink()
    if source.is_file() and source.suffix == ".whl":
        wheel = wheels / source.name
        shutil.copyfile(source, wheel)
    elif source.is_dir():
        wheel = _build_wheel(source, wheels)
    else:
        raise ConfigError(f"sqsq was installed from {source}, which is gone; install sqsq again")
    return f"{WHEELS_DIR}/{wheel.name}"


def write_layer(layer_dir: Path, sqsq_line: str) -> Path:
    """Write the layer folder's ``requirements.txt`` (sqsq, its lambda extra's requirements); returns its path.

    Args:
        layer_dir: the layer's ContentUri folder.
        sqsq_line: how to install sqsq, from :func:`sqsq_requirement`.
    """
    layer_dir.mkdir(parents=True, exist_ok=True)
    lines = [sqsq_line, *lambda_extra_requirements()]
    path = layer_dir / REQUIREMENTS_FILE
    path.write_text(_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def shadowing_modules(folder: Path) -> list[str]:
    """Modules and packages at the top of ``folder`` named like the standard library's (``queue.py``, ``email/``).

    At a Lambda task root they come first on ``sys.path`` and replace the standard module for everything in the
    function, boto3 included (``import queue`` would load the app's ``queue.py``).
    """
    names = sorted(
        p.stem if p.suffix == ".py" else p.name
        for p in folder.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file()))
        and (p.stem if p.suffix == ".py" else p.name) in sys.stdlib_module_names
    ) if folder.is_dir() else []
    return names


def code_uri_for(app_module: str, template_dir: Path) -> str:
    """The narrowest CodeUri for an app module: its top-level package's folder, relative to the template.

    A single-module app (``tasks:app``, no package) can only be shipped with its folder, which is returned.
    An app inside sqsq itself (the demo) ships in the layer; its CodeUri is left to the caller.

    Raises:
        ConfigError: the module is not imported (import the app first) or lies outside ``template_dir``.
    """
    top = app_module.split(".")[0]
    module = sys.modules.get(top)
    where = getattr(module, "__file__", None)
    if module is not None and where is None and hasattr(module, "__path__"):
        raise ConfigError(f"{top!r} is a namespace package (no __init__.py): add an __init__.py to it, or pass --code-uri")
    if module is None or where is None:
        raise ConfigError(f"module {top!r} is not imported; cannot tell where the app's code is")
    path = Path(where).resolve()
    folder = path.parent  # a package's __init__.py sits in the package folder; a module's in its folder
    shadows = shadowing_modules(folder) if hasattr(module, "__path__") else []
    if shadows:
        raise ConfigError(
            f"{folder.name}/{shadows[0]}{'' if (folder / shadows[0]).is_dir() else '.py'} is named like the standard "
            f"library's {shadows[0]!r}: with CodeUri narrowed to {folder.name}/ it would sit at the Lambda task root and "
            "replace it for the whole function (boto3 included). Rename it, or pass --code-uri with the folder that "
            f"holds {folder.name}/"
        )
    try:
        rel = folder.relative_to(template_dir.resolve())
    except ValueError as exc:
        raise ConfigError(
            f"the app's code ({folder}) is outside the template's folder ({template_dir.resolve()}); write the "
            "template in your project's folder, or pass --code-uri"
        ) from exc
    return rel.as_posix() or "."
