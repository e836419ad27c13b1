"""sqsq's generic Lambda entry point: ``Handler: sqsq.lambda_entry.handler``, no file of your own to write.

The function's environment names the app as ``SQSQ_APP=module:attribute`` (``sqsq template`` sets it). At import
time (Lambda's init phase, so an app that does not import fails the init with the cause in the function's log, and
the messages return to the queue) this module imports that app and builds :func:`sqsq.lambda_handler` for it.

Where the app's code is: ``sqsq template`` narrows a function's ``CodeUri`` to the app's top-level package folder,
so Lambda unpacks that package's *contents* at the task root (``LAMBDA_TASK_ROOT``, ``/var/task``). When the
package is not importable by its name and the task root holds an ``__init__.py``, the task root is mounted as that
package (``importlib.util.spec_from_file_location`` with ``submodule_search_locations``), so ``myapp.tasks`` and
relative imports inside ``myapp`` work unchanged. A CodeUri that holds the package folder itself works as well.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqsq import startup_gc
from sqsq.errors import ConfigError

if TYPE_CHECKING:
    from sqsq.app import App

APP_VARIABLE = "SQSQ_APP"
"""The environment variable naming the app as ``module:attribute``."""


def mount_task_root(package: str, task_root: Path) -> bool:
    """Make ``task_root`` importable as ``package`` when that name is not importable otherwise.

    Args:
        package: a top-level package name (``"myapp"``).
        task_root: the folder holding the package's contents (its ``__init__.py``).

    Returns:
        True when the task root was mounted; False when ``package`` already imports or the folder is no package.
    """
    if package in sys.modules or importlib.util.find_spec(package) is not None:
        return False
    init = task_root / "__init__.py"
    if not init.is_file():
        return False
    spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(task_root)])
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[package]
        raise
    return True


def load_app_from_environment(environ: Mapping[str, str] | None = None) -> App:
    """Import the app ``SQSQ_APP`` names, mounting the task root as its package when needed.

    Args:
        environ: the environment (default ``os.environ``); ``LAMBDA_TASK_ROOT`` is the code folder (default the
            current directory).

    Raises:
        ConfigError: ``SQSQ_APP`` is missing or malformed, or the app does not import.
    """
    env = os.environ if environ is None else environ
    spec = env.get(APP_VARIABLE, "").strip()
    if not spec:
        raise ConfigError(
            f"{APP_VARIABLE} is not set: the function's environment must name the app as module:attribute "
            "(render the template with `sqsq template module:attribute`)"
        )
    top = spec.partition(":")[0].split(".")[0]
    if top:
        mount_task_root(top, Path(env.get("LAMBDA_TASK_ROOT") or os.getcwd()))
    from sqsq.app import import_app

    return import_app(spec)


def _build() -> Any:
    # The handler first: without Powertools this is MissingExtra before anything else, and Powertools' batch
    # module is imported before the app brings pydantic in. (Powertools' batch types import all its pydantic
    # parser models when pydantic is already in sys.modules: aws_lambda_powertools/utilities/batch/types.py,
    # ~30 ms of a cold start that sqsq does not use; see bench/lambda_imports.py.)
    # The init phase runs with the cyclic collector paused, then freezes what it built (sqsq.startup_gc).
    startup_gc.pause()
    try:
        from sqsq.lambda_handler.handler import SqsLambdaHandler

        built = SqsLambdaHandler(load_app_from_environment())
        from sqsq.backends import import_aws_backend_modules  # after the handler: it brings pydantic (see above)

        # botocore now, with the collector paused, not on the first invocation (whatever backends the app was given;
        # only tests give in-memory ones).
        import_aws_backend_modules()
        return built
    finally:
        startup_gc.finish()


handler = _build()
"""The Lambda handler (``handler(event, context) -> {"batchItemFailures": [...]}``) for the app in ``SQSQ_APP``."""
