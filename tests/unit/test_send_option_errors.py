"""Send-option problems are SendOptionError ("invalid send options: ..."), not invalid arguments; ``sqsq send`` names
its flags, exits 2 (usage), and takes ``--attribute NAME[:TYPE]=VALUE``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner

import sqsq
from sqsq.cli import EXIT_CONFIG, EXIT_USAGE, main
from sqsq.cli.output import exit_code
from sqsq.cli.send_options import parse_attributes, with_flags
from sqsq.errors import SendOptionError, ValidationError
from sqsq.results.memory import MemoryResults
from sqsq.transport.memory import MemoryTransport

transport = MemoryTransport()
app = sqsq.App("so", transport=transport, results=MemoryResults())
app.declare_queue("orders", fifo=True)


@app.task(name="so.echo")
def echo(text: str) -> str:
    return text


@app.task(name="so.order", queue="orders")
def order(n: int) -> int:
    return n


APP = f"{__name__}:app"


def test_a_fifo_send_without_a_group_is_a_send_option_error_not_invalid_arguments() -> None:
    with pytest.raises(SendOptionError) as err:
        app.send(order, {"n": 1})
    text = str(err.value)
    assert text.startswith("invalid send options: FIFO queue so-orders.fifo needs a message group: pass group_id=")
    assert "invalid arguments" not in text and err.value.task_name == "so.order"
    assert isinstance(err.value, ValidationError)  # `except sqsq.ValidationError` still catches it


def test_a_bad_attribute_is_a_send_option_error_that_names_no_task_called_attributes() -> None:
    with pytest.raises(sqsq.SendOptionError) as err:
        app.send(echo, {"text": "x"}, attributes={"empty": ""})
    assert str(err.value) == "invalid send options: attribute 'empty': SQS refuses an empty String value"
    assert "'attributes'" not in str(err.value)


def test_a_naive_eta_is_a_send_option_error() -> None:
    with pytest.raises(SendOptionError, match=r"^invalid send options: eta=2030-01-01T00:00:00 is naive"):
        app.send(echo, {"text": "x"}, eta=datetime(2030, 1, 1))  # naive on purpose


def test_send_option_errors_exit_with_the_usage_code_and_invalid_arguments_keep_theirs() -> None:
    assert exit_code(SendOptionError("x")) == EXIT_USAGE == 2
    assert exit_code(ValidationError("t", "x")) == EXIT_CONFIG


def test_with_flags_names_the_sqsq_send_flags_instead_of_python_keywords() -> None:
    assert with_flags("pass group_id=... to the send") == "pass --group-id ... to the send"
    assert with_flags("group_id=/deduplication_id= apply to FIFO queues (use tenant=, or ...)") == (
        "--group-id/--deduplication-id apply to FIFO queues (use --tenant, or ...)"
    )
    assert with_flags("tenant='a b': SQS accepts") == "--tenant 'a b': SQS accepts"
    assert with_flags("@app.task(group_key=lambda args: ...)") == "@app.task(group_key=lambda args: ...)"


def test_parse_attributes_reads_strings_numbers_and_base64_binary() -> None:
    assert parse_attributes(["source=cli", "n:Number=3.50", "b:Binary=AAE=", "eq=a=b"]) == {
        "source": "cli", "n": Decimal("3.50"), "b": b"\x00\x01", "eq": "a=b",
    }


@pytest.mark.parametrize("bad", ["novalue", "=x", "n:Float=1", "n:Number=three", "b:Binary=!!", ["a=1", "a=2"]])
def test_parse_attributes_refuses_what_it_cannot_read_as_a_usage_error(bad: str | list[str]) -> None:
    with pytest.raises(click.BadParameter):
        parse_attributes([bad] if isinstance(bad, str) else bad)


def test_cli_send_names_flags_in_send_option_errors_and_exits_2() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["send", APP, "so.order", '{"n": 1}'])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "error: invalid send options: FIFO queue so-orders.fifo needs a message group: pass --group-id ..." in (
        result.stderr
    )
    assert "group_id=" not in result.stderr
    tenant = runner.invoke(main, ["send", APP, "so.order", '{"n": 1}', "--tenant", "acme"])
    assert tenant.exit_code == EXIT_USAGE and "--tenant is for fair (standard) queues" in tenant.stderr
    bad = runner.invoke(main, ["send", APP, "so.echo", '{"text": "x"}', "--attribute", "x:Number=NaN"])
    assert bad.exit_code == EXIT_USAGE and "invalid send options: attribute 'x'" in bad.stderr


def test_cli_send_attribute_flags_reach_the_message() -> None:
    transport.create_queue("so-default")
    result = CliRunner().invoke(
        main, ["send", APP, "so.echo", '{"text": "x"}', "--attribute", "source=cli", "--attribute", "n:Number=3"]
    )
    assert result.exit_code == 0, result.output
    [message] = transport.receive("so-default", 10, 0)
    assert message.message_attributes == {
        "source": {"DataType": "String", "StringValue": "cli"}, "n": {"DataType": "Number", "StringValue": "3"},
    }
    unreadable = CliRunner().invoke(main, ["send", APP, "so.echo", "{}", "--attribute", "nosep"])
    assert unreadable.exit_code == EXIT_USAGE and "--attribute" in unreadable.stderr


def test_a_send_option_error_survives_a_pickle_round_trip_unchanged() -> None:
    import pickle

    clone = pickle.loads(pickle.dumps(SendOptionError("pass group_id=...", "so.order")))
    assert (str(clone), clone.detail, clone.task_name) == ("invalid send options: pass group_id=...", "pass group_id=...",
                                                           "so.order")
