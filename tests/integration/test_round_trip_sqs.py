"""Round trip over real HTTP (moto server): characters SQS refuses in a body, and what JSON cannot carry."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import sqsq
from sqsq.app import App
from sqsq.local.server import LocalAwsServer
from sqsq.worker import Worker
from tests.conftest import Deployed, deploy

# SQS refuses U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE, U+FFFF and lone surrogates in a body.
EDGE_TEXT = ["nul\x00", "\x01\x08\x0b\x0c\x0e\x1f", "\ufffe\uffff", "\U0010ffff\U0001f600", "\x7f\x85\u2028",
             "\r\n\t", "\\u0000 literally", "\ud7ff\ue000\ufffd"]


@pytest.fixture
def echo_app(local_aws: LocalAwsServer, tmp_path: Path) -> Iterator[Deployed]:
    app = App("roundtrip")

    @app.task(name="rt.echo")
    def echo(v: Any) -> Any:
        return v

    @app.task(name="rt.dec")
    def dec(v: Decimal) -> Decimal:
        return v

    deployed = deploy(app, local_aws, tmp_path)
    try:
        yield deployed
    finally:
        deployed.close()


def test_text_with_characters_sqs_refuses_round_trips_through_sqs_and_dynamodb(echo_app: Deployed) -> None:
    app = echo_app.app
    values: list[Any] = [*EDGE_TEXT, {t: t for t in EDGE_TEXT}, -0.0, 5e-324, 10**4298, Decimal("1E+5")]
    handles = [app.send("rt.dec" if isinstance(v, Decimal) else "rt.echo", {"v": v}) for v in values]
    Worker(app, concurrency=2, wait_time_seconds=1, burst=True).run()
    for value, handle in zip(values, handles, strict=True):
        got = handle.get(timeout_seconds=10)
        assert got == value and type(got) is type(value) and repr(got) == repr(value)


def test_what_cannot_round_trip_is_refused_before_any_request(echo_app: Deployed) -> None:
    app = echo_app.app
    app.transport.depth(app.queue_name("default"))  # the connection is made before counting
    echo_app.server.reset_request_counts()
    for value in ("lone \udcff surrogate", (1, 2), {1: "int key"}, Decimal("1.5")):
        with pytest.raises(sqsq.ValidationError):
            app.send("rt.echo", {"v": value})
    assert echo_app.server.request_counts() == {}
    depth = app.transport.depth(app.queue_name("default"))
    assert (depth.visible, depth.in_flight, depth.delayed) == (0, 0, 0)
