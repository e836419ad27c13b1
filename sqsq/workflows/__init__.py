"""Workflows (issue 13): :func:`chain`, :func:`group`, :func:`chord`, ``task.map`` and ``task.chunks``.

No orchestrator: every step's message carries what comes after it (:mod:`sqsq.message_flow`), and the one
executor behind the poller and Lambda goes on after each step (:mod:`~sqsq.workflows.continuation`); chords are
counted in the results table (:mod:`sqsq.results.chords`). Modules: :mod:`~sqsq.workflows.signatures` (the
value-passing rule, checked at build time), :mod:`~sqsq.workflows.canvas` (the types), :mod:`~sqsq.workflows.dispatch`
(envelopes and sends), :mod:`~sqsq.workflows.ids`, :mod:`~sqsq.workflows.tree` and :mod:`~sqsq.workflows.handle`
(the handle and the tree of steps), :mod:`~sqsq.workflows.chunks`.

Revocation (the scheduling issue) slots in at :func:`sqsq.workflows.continuation.after_success`: a step whose
workflow id is revoked sends nothing further, and the executor's revocation check skips steps not yet started.
"""

from __future__ import annotations

from sqsq.workflows.canvas import Chain, Chord, Group, chain, chord, group
from sqsq.workflows.handle import WorkflowResult
from sqsq.workflows.tree import StepState

__all__ = ["Chain", "Chord", "Group", "StepState", "WorkflowResult", "chain", "chord", "group"]
