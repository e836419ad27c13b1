"""The chord counters (issue 13, :mod:`sqsq.results.chords`) on both stores: one count per member, one transition."""

from __future__ import annotations

import time
import uuid
from typing import cast

from sqsq.results import ResultRecord, ResultStore, Status
from sqsq.results.chords import ChordStore

EXPIRES_AT = int(time.time()) + 3600


def _chords(results: ResultStore) -> ChordStore:
    return cast(ChordStore, results)


def test_a_member_added_twice_is_counted_once(results: ResultStore) -> None:
    store, counter = _chords(results), f"c-{uuid.uuid4()}"
    assert store.chord_state(counter) is None
    assert [store.add_member(counter, m, EXPIRES_AT) for m in (0, 1, 1, 2, 0)] == [1, 2, 2, 3, 3]
    state = store.chord_state(counter)
    assert state is not None and (state.done, state.fired, state.failed) == (3, False, False)


def test_fired_is_set_once_and_only_when_the_count_reaches_the_target(results: ResultStore) -> None:
    store, counter = _chords(results), f"c-{uuid.uuid4()}"
    store.add_member(counter, 0, EXPIRES_AT)
    assert store.chord_transition(counter, "fired", 2, EXPIRES_AT) is False
    store.add_member(counter, 1, EXPIRES_AT)
    assert [store.chord_transition(counter, "fired", 2, EXPIRES_AT) for _ in range(3)] == [True, False, False]
    state = store.chord_state(counter)
    assert state is not None and state.fired and not state.failed


def test_failed_is_set_once_and_not_after_fired(results: ResultStore) -> None:
    store, counter = _chords(results), f"c-{uuid.uuid4()}"
    assert [store.chord_transition(counter, "failed", 0, EXPIRES_AT) for _ in range(2)] == [True, False]
    fired = f"c-{uuid.uuid4()}"
    store.add_member(fired, 0, EXPIRES_AT)
    assert store.chord_transition(fired, "fired", 1, EXPIRES_AT)
    assert store.chord_transition(fired, "failed", 0, EXPIRES_AT) is False


def test_get_many_returns_the_live_records_among_the_ids(results: ResultStore) -> None:
    store = _chords(results)
    ids = [f"t-{uuid.uuid4()}" for _ in range(130)]  # more than one BatchGetItem
    for task_id in ids[:120]:
        results.put(ResultRecord(task_id, Status.SUCCESS, "x", result_json="1").stamped(3600))
    found = store.get_many([*ids, ids[0]])
    assert set(found) == set(ids[:120]) and found[ids[5]].result_json == "1"
