"""sqsq.extras.require: one line naming every missing distribution and the one `pip install` that brings them."""

from __future__ import annotations

import re
import sys
import tomllib

import pytest

from sqsq.cli import EXIT_CONFIG
from sqsq.cli.dlq_render import RedriveProgressDisplay as _RedriveProgressDisplay
from sqsq.cli.output import exit_code as _exit_code
from sqsq.errors import ConfigError, MissingExtra
from sqsq.extras import OPTIONAL, require
from tests.conftest import ROOT


def block(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # what `import name` sees when name is not installed


def test_require_passes_when_everything_is_installed() -> None:
    require("anything", *OPTIONAL)


def test_missing_module_names_the_distribution_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "yaml")
    with pytest.raises(MissingExtra) as caught:
        require("sqsq template", "yaml", "rich")
    assert str(caught.value) == 'sqsq template needs PyYAML: pip install "sqsq[cli]"'
    assert (caught.value.missing, caught.value.extras) == (["PyYAML"], ["cli"])


def test_several_missing_extras_are_one_install(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "yaml", "aws_lambda_powertools")
    with pytest.raises(MissingExtra) as caught:
        require("sqsq lambda-local", "yaml", "aws_lambda_powertools")
    assert str(caught.value) == (
        'sqsq lambda-local needs PyYAML and aws-lambda-powertools: pip install "sqsq[cli,lambda]"'
    )


def test_local_extra_stands_for_cli_too(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "rich", "yaml", "moto", "samtranslator")
    with pytest.raises(MissingExtra) as caught:
        require("sqsq local --template", "rich", "yaml", "moto", "samtranslator")
    assert str(caught.value) == (
        'sqsq local --template needs rich, PyYAML, moto[server] and aws-sam-translator: pip install "sqsq[local]"'
    )


def test_moto_without_its_server_extra_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "flask_cors")
    with pytest.raises(MissingExtra, match=re.escape('needs moto[server]: pip install "sqsq[local]"')):
        require("sqsq local", "moto")


def test_missing_extra_is_a_configuration_error_exit_3() -> None:
    exc = MissingExtra("sqsq template", ["PyYAML"], ["cli"])
    assert isinstance(exc, ConfigError)
    assert _exit_code(exc) == EXIT_CONFIG == 3


def test_redrive_progress_bar_on_a_terminal_needs_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    block(monkeypatch, "rich")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with pytest.raises(MissingExtra, match=re.escape('progress bar (on a terminal) needs rich: pip install "sqsq[cli]"')):
        _RedriveProgressDisplay(enabled=True).__enter__()
    with _RedriveProgressDisplay(enabled=False):  # no progress shown (small DLQ, dry run): rich is not needed
        pass


def test_every_optional_dependency_is_in_the_extra_it_names() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    def names(extra: str) -> set[str]:
        out = set()
        for line in extras[extra]:
            name = re.split(r"[<>=!~;\s]", line, maxsplit=1)[0].lower()
            out |= names(name[len("sqsq["):-1]) if name.startswith("sqsq[") else {name}
        return out

    for dep in OPTIONAL.values():
        assert dep.distribution.lower() in names(dep.extra), f"{dep.distribution} is not in sqsq[{dep.extra}]"
