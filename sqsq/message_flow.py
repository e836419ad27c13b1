"""The envelope's optional ``flow`` field: where a message stands in a workflow (issue 13, :mod:`sqsq.workflows`).

A workflow needs no orchestrator: every message carries what comes after it. The shape (all optional in the
envelope; a message outside a workflow has no ``flow`` and its body is unchanged)::

    "flow": {"root": "<workflow id>", "step": 2, "claim": true,
             "rest": [{"task": "b", "args": {"y": 2}, "pass_as": "x"}, ...],   # the rest of a chain
             "chord": {"id": "<chord id>", "index": 7, "size": 100,             # a chord member
                       "callback": {...}, "on_error": {...}},
             "collect": {"id": "<chord id>", "size": 100, "pass_as": "values"}} # a chord callback

When signing is on, ``flow`` is covered by the signature (it decides what runs next); see :mod:`sqsq.signing`.

The models are ``defer_build``: each builds its validator on first use, and the envelope's validator includes
their schemas, so a consumer that never handles a workflow message never builds these models' own validators.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StepSig(BaseModel):
    """One signature as it travels: the task, its bound arguments, and where the previous result goes.

    Attributes:
        task: registered task name.
        args: the bound arguments in JSON mode (checked at build time, validated again at the worker).
        pass_as: the parameter the previous step's result (or a chord's ordered list) is passed as; ``None``:
            nothing is passed (the first step of a chain, a group member).
        queue: logical queue to send to instead of the task's own.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    task: str = Field(min_length=1, max_length=256)
    args: dict[str, Any]
    pass_as: str | None = None
    queue: str | None = None


class ChordRef(BaseModel):
    """A chord member's place: the chord's id, the member's index, the chord's size and what runs after it."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=100)
    index: int = Field(ge=0)
    size: int = Field(ge=1)
    callback: StepSig | None = None
    on_error: StepSig | None = None


class CollectRef(BaseModel):
    """A chord callback's inputs: the member results of chord ``id`` (``size`` members), passed as ``pass_as``."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=1)
    pass_as: str


def _no_steps() -> list[StepSig]:
    # A Python function, not ``list``: pydantic inspects a default factory's signature, and for ``list`` that
    # parses its text signature with ``tokenize``, whose regex compile cost ~1-2 ms on the first Envelope build.
    return []


class Flow(BaseModel):
    """Where one message stands in a workflow.

    Attributes:
        root: the workflow id (its record holds the workflow's state and final value).
        step: this step's index in its chain (0 for group and chord members).
        claim: run claimed (see :mod:`sqsq.executor`): set on steps a continuation may send twice.
        final: this step's result is the workflow's (the last step of a chain, a chord's callback).
        rest: the rest of the chain, sent one step at a time, each with the previous result.
        chord: set on a chord member.
        collect: set on a chord callback.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    root: str = Field(min_length=1, max_length=100)
    step: int = Field(default=0, ge=0)
    claim: bool = False
    final: bool = False
    rest: list[StepSig] = Field(default_factory=_no_steps)
    chord: ChordRef | None = None
    collect: CollectRef | None = None
