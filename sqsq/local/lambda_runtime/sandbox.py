"""What a built function's process sees: its sys.path, its environment and its memory limit, as on Lambda.

sys.path (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html#python-package-searchpath): the task
root (the function's built folder), then each layer's ``python/lib/python3.X/site-packages`` and ``python/``, in
the function's Layers order, then a *runtime folder* holding only what Lambda's Python runtime provides: the
runtime interface client (``awslambdaric`` and its dependencies) and boto3/botocore with theirs. The venv's
site-packages are *not* on the path (the interpreter runs with ``-S``), so a package missing from the artifact
fails to import here as it would on Lambda; a layer's copy of boto3 wins over the runtime's, as on Lambda.

The runtime folder is a folder of symlinks to those distributions' top-level files, found with
:mod:`importlib.metadata` (each distribution's RECORD).

Memory: ``MemorySize`` is applied as ``RLIMIT_DATA``, set in the child before it execs the runtime. Linux (4.7+)
counts the heap and private writable mappings against it (what Python and pydantic-core allocate, and shared
libraries' writable data; not code, read-only or shared mappings), so an allocation past it raises MemoryError in
the function. Measured with CPython 3.11 importing pydantic, boto3 and Powertools: under a 128 MB limit (Lambda's
smallest) the process peaks near 65 MB of address space and runs; allocating 256 MB fails with MemoryError,
16 MB succeeds. ``RLIMIT_AS`` worked too but counts reserved address space (thread stacks, allocator arenas), not
use; ``RLIMIT_RSS`` is ignored by Linux. Not enforced: Lambda's kill of a process whose memory exceeds MemorySize
(``Runtime.OutOfMemory``; here the function sees MemoryError instead), CPU share in proportion to memory, the
``/tmp`` size, and anything on systems without RLIMIT_DATA (the limit is then skipped).

Bytecode: the process runs with ``PYTHONDONTWRITEBYTECODE=1``: like Lambda's read-only ``/var/task``, nothing is
written into the build folder; ``.pyc`` files the artifact ships are used, the rest is compiled at each cold start.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from sqsq.errors import ConfigError

RUNTIME_DISTRIBUTIONS = ("awslambdaric", "boto3")
"""What Lambda's Python runtime provides besides the standard library (plus their dependencies)."""
PYTHON_VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"

_LAUNCHER = """\
import os, resource, sys
limit = int(sys.argv[1])
if limit > 0 and hasattr(resource, "RLIMIT_DATA"):
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
os.execv(sys.executable, [sys.executable, "-S", "-m", "awslambdaric", sys.argv[2]])
"""
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``roots`` need (Requires-Dist, extras skipped), roots first."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [(r, False) for r in roots]
    while todo:
        name, optional = todo.pop(0)
        if _normalise(name) in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if optional:
                continue
            raise ConfigError(f"the local Lambda runtime needs {name!r}; install it: pip install 'sqsq[local]'") from None
        seen[_normalise(name)] = dist
        for req in dist.requires or []:
            requirement, _, marker = req.partition(";")
            if "extra" in marker:
                continue
            match = _NAME.match(requirement)
            if match:
                todo.append((match.group(1), bool(marker.strip())))
    return list(seen.values())


def make_runtime_folder(dest: Path, roots: Iterable[str] = RUNTIME_DISTRIBUTIONS) -> Path:
    """Create ``dest`` (replacing it) as a folder of symlinks to ``roots`` and their dependencies.

    Args:
        dest: the folder to create.
        roots: distribution names (default: awslambdaric and boto3).

    Returns:
        ``dest``.

    Raises:
        ConfigError: a distribution is not installed or has no file list (RECORD).
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for dist in _closure(roots):
        files = dist.files
        if files is None:
            raise ConfigError(f"distribution {dist.metadata['Name']!r} has no file list; reinstall it with pip")
        for top in sorted({f.parts[0] for f in files if f.parts and f.parts[0] not in ("..", "__pycache__")}):
            link = dest / top
            target = Path(str(dist.locate_file(top)))
            if not link.exists() and target.exists():
                link.symlink_to(target)
    return dest


def sys_path(task_root: Path, layers: Iterable[Path], runtime_folder: Path) -> list[str]:
    """The function's import path after the standard library's place, in Lambda's order (see module doc)."""
    path = [str(task_root)]
    for layer in layers:
        path += [str(layer / "python" / "lib" / PYTHON_VERSION / "site-packages"), str(layer / "python")]
    path.append(str(runtime_folder))
    return path


def command(handler: str, memory_mb: int | None) -> list[str]:
    """``python -S -c LAUNCHER LIMIT HANDLER``: set the memory limit, then exec ``python -S -m awslambdaric HANDLER``.

    The exec keeps the process id, so the process can be stopped by the PID :class:`subprocess.Popen` returns.
    """
    limit_bytes = (memory_mb or 0) * 1024 * 1024
    return [sys.executable, "-S", "-c", _LAUNCHER, str(limit_bytes), handler]


def process_environment(
    *,
    function_env: Mapping[str, str],
    client_env: Mapping[str, str],
    lambda_env: Mapping[str, str],
    import_path: list[str],
) -> dict[str, str]:
    """The process's whole environment (nothing inherited from this process but PATH).

    Args:
        function_env: the template's Environment.Variables, resolved.
        client_env: the local endpoint, region and dummy credentials (``LocalAwsServer.client_environment()``).
        lambda_env: the variables Lambda itself sets (they win, as Lambda reserves them).
        import_path: from :func:`sys_path`; becomes PYTHONPATH.
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **function_env,
        **client_env,
        **lambda_env,
        "PYTHONPATH": os.pathsep.join(import_path),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
