"""Optional dependencies: which sqsq extra brings which module, and one check for all of them.

``pip install sqsq`` brings what producers, workers and the CLI's plain commands need (boto3, pydantic, click).
The rest comes with an extra (see ``[project.optional-dependencies]`` in pyproject.toml):

==================  ======================================  ==================================================
extra               brings                                  for
==================  ======================================  ==================================================
``lambda``          aws-lambda-powertools                   :func:`sqsq.lambda_handler` (Lambda consumers)
``cli``             rich, PyYAML                            the CLI's tables and progress, ``sqsq template``
``local``           ``sqsq[cli]``, moto[server],            ``sqsq local``, ``python -m sqsq.demo``,
                    aws-sam-translator, awslambdaric        ``python -m sqsq.local.server``, ``sqsq lambda-local``
``reload``          watchfiles                              ``sqsq worker --reload`` (development only)
``web``             FastAPI, uvicorn                        the web example, ``uvicorn sqsq.demo.web:api``
``dashboard``       FastAPI, uvicorn, Jinja2,               ``sqsq dashboard`` and ``/metrics``
                    prometheus-client
==================  ======================================  ==================================================

Code that needs one of them calls :func:`require` first and imports the module after it, so a missing extra is a
:class:`sqsq.errors.MissingExtra` (one line naming the ``pip install``; the CLI prints it and exits 3), never an
ImportError traceback.

Example:
    >>> require("sqsq template", "yaml")  # doctest: +SKIP
    Traceback (most recent call last):
    sqsq.errors.MissingExtra: sqsq template needs PyYAML: pip install "sqsq[cli]"
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from sqsq.errors import MissingExtra

__all__ = ["OPTIONAL", "OptionalDependency", "require"]


@dataclass(frozen=True)
class OptionalDependency:
    """An optional dependency.

    Attributes:
        distribution: what pip installs, as the error message names it (``"PyYAML"``).
        extra: the sqsq extra that brings it (``"cli"``).
        modules: top-level import names that must all be importable (moto's server also needs Flask).
    """

    distribution: str
    extra: str
    modules: tuple[str, ...]


OPTIONAL: dict[str, OptionalDependency] = {
    "aws_lambda_powertools": OptionalDependency("aws-lambda-powertools", "lambda", ("aws_lambda_powertools",)),
    "rich": OptionalDependency("rich", "cli", ("rich",)),
    "yaml": OptionalDependency("PyYAML", "cli", ("yaml",)),
    "moto": OptionalDependency("moto[server]", "local", ("moto", "werkzeug", "flask", "flask_cors")),
    "samtranslator": OptionalDependency("aws-sam-translator", "local", ("samtranslator",)),
    "awslambdaric": OptionalDependency("awslambdaric", "local", ("awslambdaric",)),
    "watchfiles": OptionalDependency("watchfiles", "reload", ("watchfiles",)),
    "fastapi": OptionalDependency("fastapi", "web", ("fastapi",)),
    # sqsq dashboard (FastAPI is also the web extra's: this key names the dashboard extra for it)
    "fastapi_dashboard": OptionalDependency("fastapi", "dashboard", ("fastapi",)),
    "uvicorn": OptionalDependency("uvicorn", "dashboard", ("uvicorn",)),
    "jinja2": OptionalDependency("Jinja2", "dashboard", ("jinja2",)),
    "prometheus_client": OptionalDependency("prometheus-client", "dashboard", ("prometheus_client",)),
}
"""Optional dependencies by the name sqsq's code imports them under."""

_INCLUDED_IN = {"cli": "local"}
"""``sqsq[local]`` installs ``sqsq[cli]`` too: name only ``local`` when both are missing."""


def _importable(module: str) -> bool:
    # find_spec looks only (nothing is imported); it is None when the module is absent or blocked
    # (sys.modules[name] = None).
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module whose __spec__ is unset
        return False


def require(feature: str, *names: str) -> None:
    """Check that the optional dependencies ``names`` are installed before ``feature`` uses them.

    Args:
        feature: what needs them, as the user asked for it (``"sqsq template"``, ``"sqsq.lambda_handler"``).
        names: keys of :data:`OPTIONAL` (``"yaml"``, ``"rich"``, ``"moto"``, ``"samtranslator"``,
            ``"aws_lambda_powertools"``, ``"watchfiles"``).

    Raises:
        MissingExtra: one or more are not importable; the message names every missing distribution and the one
            ``pip install "sqsq[...]"`` that brings them all.
        KeyError: a name that is not in :data:`OPTIONAL` (a bug in the caller).
    """
    missing = [OPTIONAL[n] for n in names if not all(_importable(m) for m in OPTIONAL[n].modules)]
    if not missing:
        return
    extras = {m.extra for m in missing}
    extras = {e for e in extras if _INCLUDED_IN.get(e) not in extras}
    distributions = list(dict.fromkeys(m.distribution for m in missing))
    raise MissingExtra(feature, distributions, sorted(extras))
