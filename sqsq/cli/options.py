"""Options and arguments shared by several commands: APP (positional or ``-A``), finite numbers, KEY=VALUE pairs.

Nothing here imports the app layer at import time (``sqsq --help`` loads this module); :func:`load_app` does, when
a command runs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from sqsq.cli.output import EXIT_USAGE, fail

if TYPE_CHECKING:
    from sqsq.app import App

F = TypeVar("F", bound=Callable[..., Any])


class Finite(click.FloatRange):
    """A finite number >= ``at_least`` (seconds, a rate): click's FloatRange lets NaN and infinity through."""

    def __init__(self, at_least: float = 0.0) -> None:
        super().__init__(min=at_least)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def load_app(spec: str) -> App:
    """The App named by an ``APP`` argument (``module:attribute``); see :func:`sqsq.app.import_app`.

    Raises:
        ConfigError: malformed spec, module not importable, or the attribute is not an App.
    """
    from sqsq.app import import_app

    return import_app(spec)


def app_argument(fn: F) -> F:
    """APP as a positional argument or as ``-A/--app APP`` (Celery's form); the command gets ``app_spec``.

    Giving neither, or two different ones, is a usage error (exit 2).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, app_spec: str | None, app_option: str | None, **kwargs: Any) -> Any:
        if app_spec and app_option and app_spec != app_option:
            raise click.UsageError(f"APP given twice ({app_spec!r} and -A {app_option!r}): give it once")
        spec = app_spec or app_option
        if not spec:
            raise click.UsageError("Missing argument 'APP' (module:attribute, e.g. shop.app:app; or -A APP).")
        return fn(*args, app_spec=spec, **kwargs)

    wrapper = click.option("-A", "--app", "app_option", metavar="APP", default=None,
                           help="APP (module:attribute) as an option, instead of the positional APP.")(wrapper)
    return cast(F, click.argument("app_spec", metavar="[APP]", required=False)(wrapper))


def parse_parameters(pairs: tuple[str, ...], stage: str | None) -> dict[str, str]:
    """``--parameter KEY=VALUE`` pairs (and ``--stage``) as a dict; a pair without ``=`` exits 2."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--parameter takes KEY=VALUE, got {pair!r}", EXIT_USAGE)
        out[key] = value
    if stage:
        out["Stage"] = stage
    return out
