"""The README's command table lists every command ``sqsq --help`` shows (and each group's subcommands)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from sqsq.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_commands() -> set[str]:
    """``"send"``, ``"dlq list"``...: the command words of each row of the README's command-line table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### The command line", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `sqsq ([a-z][a-z -]*?)(?: [A-Z\[(`'-]|`)", section, flags=re.MULTILINE)
    return {row.strip() for row in rows}


def _registered() -> set[str]:
    names: set[str] = set()
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        if isinstance(command, click.Group):
            names.update(f"{name} {sub}" for sub in command.list_commands(click.Context(command)))
        else:
            names.add(name)
    return names


def test_the_readme_command_table_lists_every_registered_command_and_no_other() -> None:
    listed, registered = _table_commands(), _registered()
    assert len(listed) > 10
    assert registered - listed == set(), "commands missing from README's command table"
    assert listed - registered == set(), "README's command table lists commands sqsq does not have"


def test_the_readme_send_row_names_every_send_option() -> None:
    send = main.get_command(click.Context(main), "send")
    assert send is not None
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `sqsq send APP"))
    flags = {opt for p in send.params if isinstance(p, click.Option) for opt in p.opts if opt.startswith("--")}
    assert flags and {f for f in flags if f not in row} == set()
