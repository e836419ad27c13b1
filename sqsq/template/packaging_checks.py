"""``sqsq template --check`` for packaging: would each function's handler import from its CodeUri plus its layers?

Two kinds of template are checked:

* a **source** template (``template.yaml``): statically. The handler's module (for sqsq's generic handler, the app
  that ``SQSQ_APP`` names) must be a file under the CodeUri folder (or inside sqsq, which the layer ships), and each
  layer's ``requirements.txt`` must name sqsq (which brings pydantic) and Powertools (sqsq's ``lambda`` extra);
* a **built** template (``.aws-sam/build/template.yaml``, whose layers hold a ``python/`` folder): for real. A
  fresh interpreter without site-packages, with only the task root and the layers' folders on ``sys.path`` (as
  Lambda has), imports the handler with the function's environment; and the layers must hold sqsq, pydantic and
  aws_lambda_powertools. The import test runs only when this interpreter's version matches the runtime's.

Each problem is one :class:`~sqsq.template.checks.Finding` with code ``"PKG"``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqsq.template.checks import Finding
from sqsq.template.options import GENERIC_HANDLER
from sqsq.template.packaging import shadowing_modules
from sqsq.template.reading import FunctionSpec, Resolver, sqs_functions

REQUIRED_IN_LAYER = ("sqsq", "pydantic", "aws_lambda_powertools")
_IMPORT_TIMEOUT_SECONDS = 60
_IMPORT_PROBE = """
import importlib, importlib.util, json, sys
paths, module, attr, packages = json.loads(sys.argv[1])
sys.path[:0] = paths
out = {"missing": [p for p in packages if importlib.util.find_spec(p) is None]}
try:
    if not callable(getattr(importlib.import_module(module), attr)):
        out["error"] = f"{module}.{attr} is not callable"
except BaseException as exc:
    out["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
print(json.dumps(out))
"""


def _layer_folders(template_dir: Path, template: Mapping[str, Any], fn: FunctionSpec) -> dict[str, Path | None]:
    resources = template.get("Resources") or {}
    out: dict[str, Path | None] = {}
    for rid in fn.layers:
        uri = ((resources.get(rid) or {}).get("Properties") or {}).get("ContentUri")
        out[rid] = template_dir / uri if isinstance(uri, str) and not uri.startswith("s3://") else None
    return out


def _handler_module(fn: FunctionSpec) -> tuple[str, str]:
    module, _, attr = fn.handler.rpartition(".")
    return module.replace("/", "."), attr


def _module_file(code: Path, module: str) -> Path | None:
    """The file that would provide ``module`` under ``code``, directly or with ``code`` mounted as its package."""
    parts = module.split(".")
    candidates = [parts]
    if (code / "__init__.py").is_file() and len(parts) > 1:
        candidates.append(parts[1:])  # the task root mounted as the top-level package (sqsq.lambda_entry)
    for rel in candidates:
        base = code.joinpath(*rel)
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return path
    return None


def _requirements_names(folder: Path) -> set[str]:
    names: set[str] = set()
    path = folder / "requirements.txt"
    if not path.is_file():
        return names
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()  # comments and environment markers
        if line.startswith("-"):
            continue  # an option line (-r other.txt, --index-url): what it brings cannot be read from here
        if " @ " in line:  # name[extras] @ url
            line = line.split(" @ ", 1)[0].strip()
        m = re.match(r"(?:[^\s\[]*/)?([A-Za-z0-9_.-]+?)(?:-\d[^/]*\.whl)?(?:\[([^\]]*)\])?\s*(?:[=<>~!@;].*)?$", line)
        if not m:
            continue
        name = m.group(1).lower().replace("_", "-")
        extras = (m.group(2) or "").lower()
        names.add(name)
        if name == "sqsq":
            names.add("pydantic")  # a dependency of sqsq
            if "lambda" in extras:
                names.add("aws-lambda-powertools")
    return names


def _shadowing(fn: FunctionSpec, code: Path) -> list[Finding]:
    return [Finding("PKG", fn.resource_id, f"{name!r} at the task root (CodeUri {fn.code_uri!r}) replaces the standard "
                    f"library's {name!r} for the whole function, boto3 included: rename it")
            for name in shadowing_modules(code)]


def _check_source(template_dir: Path, template: Mapping[str, Any], fn: FunctionSpec) -> list[Finding]:
    code = template_dir / (fn.code_uri or ".")
    findings = _shadowing(fn, code)
    module, _ = _handler_module(fn)
    if fn.handler == GENERIC_HANDLER:
        module = fn.environment.get("SQSQ_APP", "").partition(":")[0]
        if not module:
            findings.append(Finding("PKG", fn.resource_id, "uses sqsq's generic handler but sets no SQSQ_APP "
                                    "(module:attribute) in its environment; render it with `sqsq template APP`"))
    if not code.is_dir():
        findings.append(Finding("PKG", fn.resource_id, f"CodeUri {fn.code_uri!r} is not a folder beside the template"))
    elif module and module.split(".")[0] != "sqsq" and _module_file(code, module) is None:
        findings.append(Finding("PKG", fn.resource_id, f"module {module!r} would not import: no such file under "
                                f"CodeUri {fn.code_uri!r}; set CodeUri to the folder of your package (--code-uri)"))
    for rid, folder in _layer_folders(template_dir, template, fn).items():
        if folder is None:
            continue
        names = _requirements_names(folder)
        if not (folder / "requirements.txt").is_file():
            findings.append(Finding("PKG", rid, f"{folder}/requirements.txt is missing; `sqsq template APP -o "
                                    "template.yaml` writes it"))
            continue
        for package in REQUIRED_IN_LAYER:
            if package.replace("_", "-") not in names:
                findings.append(Finding("PKG", rid, f"the layer would lack {package}: add it to {folder}/"
                                        "requirements.txt (sqsq[lambda] brings all three)"))
    return findings


def _is_built(layers: Mapping[str, Path | None]) -> bool:
    return any(folder is not None and (folder / "python").is_dir() for folder in layers.values())


def _check_built(template_dir: Path, template: Mapping[str, Any], fn: FunctionSpec) -> list[Finding]:
    code = template_dir / (fn.code_uri or ".")
    layers = [f for f in _layer_folders(template_dir, template, fn).values() if f is not None]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = [str(code)]
    for folder in layers:
        paths += [str(folder / "python" / "lib" / version / "site-packages"), str(folder / "python")]
    if fn.runtime and fn.runtime != version:
        return [Finding("PKG", fn.resource_id, f"runtime {fn.runtime} differs from this interpreter ({version}); "
                        "run the check with a matching Python to import-test the build")]
    shadows = _shadowing(fn, code)
    if shadows:
        return shadows
    module, attr = _handler_module(fn)
    env = {**fn.environment, "LAMBDA_TASK_ROOT": str(code), "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "check", "AWS_SECRET_ACCESS_KEY": "check", "PYTHONNOUSERSITE": "1"}
    probe = json.dumps([paths, module, attr, list(REQUIRED_IN_LAYER)])
    # -B: no __pycache__ written into the build folder (sam package would ship it).
    done = subprocess.run([sys.executable, "-S", "-B", "-c", _IMPORT_PROBE, probe], cwd=code, env=env, capture_output=True,
                          text=True, timeout=_IMPORT_TIMEOUT_SECONDS, check=False)
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [Finding("PKG", fn.resource_id, f"the import test did not run: {tail}")]
    findings = [Finding("PKG", fn.resource_id, f"the layer lacks {p}: rebuild it (sam build) from a requirements.txt "
                        "naming sqsq[lambda]") for p in result["missing"]]
    if "error" in result:
        findings.append(Finding("PKG", fn.resource_id, f"handler {fn.handler} does not import from CodeUri + layers: "
                                f"{result['error']}"))
    return findings


def check_packaging(
    template_path: str | Path, template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> list[Finding]:
    """Packaging findings for every SQS-triggered function of a template (see the module docstring).

    Args:
        template_path: the template's file (CodeUri/ContentUri are relative to its folder).
        template: the loaded template.
        parameters: parameter values (for the functions' environments).

    Returns:
        One finding per problem; empty when every function would import.
    """
    template_dir = Path(template_path).resolve().parent
    Resolver(template, parameters)  # fails early on unresolvable parameters, with the same message as the others
    findings = []
    for fn in sqs_functions(template, parameters):
        if fn.code_uri is not None and fn.code_uri.startswith("s3://"):
            continue  # packaged: the zips are in S3
        layers = _layer_folders(template_dir, template, fn)
        check = _check_built if _is_built(layers) else _check_source
        findings += [f for f in check(template_dir, template, fn) if f not in findings]  # a shared layer: once
    return findings
