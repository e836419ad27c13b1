"""Issue 11's size guide for sqsq/: no module over 400 lines, no class over 300, no function over 60.

A unit may stay over the guide only if it is named below with the reason; an entry that no longer offends fails too,
so the list stays short and true. ``python -m bench.sizes`` prints the sizes.
"""

from __future__ import annotations

from bench.sizes import measure, over_guide

ALLOWED = {
    # A click command: its signature is 16 parameters (the options and the context) and its docstring is the --help text;
    # the body (about 40 lines) is the child process's argument list and the Worker it builds.
    "FUNC sqsq/cli/worker.py:worker": "click command; signature and help text, body ~40 lines",
}


def test_every_unit_of_sqsq_is_within_the_size_guide_or_allowed_with_a_reason() -> None:
    offenders = {s.key: s.lines for s in over_guide(measure("sqsq"))}
    assert {k: n for k, n in offenders.items() if k not in ALLOWED} == {}


def test_the_allow_list_names_only_units_still_over_the_guide() -> None:
    offenders = {s.key for s in over_guide(measure("sqsq"))}
    assert sorted(set(ALLOWED) - offenders) == [], "remove these entries: they are within the guide now"
