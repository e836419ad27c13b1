"""sqsq.testing's in-memory modes offload large bodies to an in-memory payload store: they round-trip, never S3."""

from __future__ import annotations

import pytest

import sqsq
from sqsq.payloads import PayloadPointer
from sqsq.results.memory import MemoryResults
from sqsq.testing import eager, in_memory
from sqsq.transport.memory import MemoryTransport
from sqsq.transport.payloads import MemoryPayloadStore, S3PayloadStore

TWO_MIB = 2 * 1024 * 1024


class CountingStore(MemoryPayloadStore):
    """A MemoryPayloadStore that remembers what was put."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: list[str] = []

    def put(self, key: str, data: bytes) -> PayloadPointer:
        self.puts.append(key)
        return super().put(key, data)


def shell_app(monkeypatch: pytest.MonkeyPatch) -> sqsq.App:
    """An app whose environment is a shell with ``sqsq local``'s exports, pointed at an endpoint nobody serves."""
    monkeypatch.setenv("SQSQ_PAYLOAD_BUCKET", "shell-payloads")
    monkeypatch.setenv("SQSQ_ENDPOINT_URL", "http://127.0.0.1:9")  # any S3 call would fail the send
    app = sqsq.App("tp")

    @app.task(name="tp.size")
    def size(blob: str) -> int:
        return len(blob)

    @app.task(name="tp.refuse", retry_on=())
    def refuse(blob: str) -> None:
        raise ValueError(f"refused {len(blob)}")

    return app


def test_eager_runs_a_2_mib_argument_through_an_in_memory_store_and_deletes_it_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = shell_app(monkeypatch)
    store = CountingStore()
    with eager(app, payloads=store) as env:
        assert app.payloads is store is env.payloads
        handle = app.send("tp.size", {"blob": "x" * TWO_MIB})
        assert handle.get() == TWO_MIB
    assert store.puts == [f"sqsq/messages/{handle.id}"] and store.objects == {}  # offloaded, then deleted
    restored = app.payloads
    assert isinstance(restored, S3PayloadStore) and restored.bucket == "shell-payloads"  # built lazily, never called


def test_eager_keeps_the_payload_of_a_dead_lettered_message_and_the_dlq_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = shell_app(monkeypatch)
    with eager(app) as env:
        handle = app.send("tp.refuse", {"blob": "y" * TWO_MIB})
        with pytest.raises(sqsq.TaskFailed, match=f"refused {TWO_MIB}"):
            handle.get()
    (letter,) = env.dead_letters()
    assert letter.task_id == handle.id and letter.envelope is not None
    assert letter.envelope.args == {"blob": "y" * TWO_MIB}
    assert list(env.payloads.objects) == [(env.payloads.bucket, f"sqsq/messages/{handle.id}")]


def test_in_memory_drain_runs_a_2_mib_argument_from_the_in_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    app = shell_app(monkeypatch)
    with in_memory(app) as env:
        handle = app.send("tp.size", {"blob": "z" * TWO_MIB})
        assert len(env.payloads.objects) == 1 and env.depth().visible == 1
        env.drain()
        assert handle.get() == TWO_MIB
    assert env.payloads.objects == {}  # the worker deleted it with its message


def test_app_using_swaps_the_payload_store_and_puts_the_old_one_back() -> None:
    given, other = MemoryPayloadStore("given"), MemoryPayloadStore("other")
    app = sqsq.App("tq", transport=MemoryTransport(), results=MemoryResults(), payloads=given)
    with pytest.raises(RuntimeError), app.using(payloads=other):
        assert app.payloads is other
        with app.using(queue_prefix="n-"):  # settings changed inside: the swapped store stays
            assert app.payloads is other
        raise RuntimeError("restored even so")
    assert app.payloads is given
    plain = sqsq.App("tr", transport=MemoryTransport(), results=MemoryResults())
    with plain.using(payloads=other):
        assert plain.payloads is other
    assert plain.payloads is None  # no payload_bucket: nothing is offloaded, as before the block


def test_eager_keeps_a_send_delayed_past_900_seconds_as_an_in_memory_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    app = shell_app(monkeypatch)
    with eager(app) as env:
        handle = app.send("tp.size", {"blob": "x"}, delay_seconds=3600)
        assert handle.status is sqsq.Status.SCHEDULED
    assert len(env.scheduler.schedules) == 1
