"""Checks every template must pass: the settings that make SQS-triggered Lambdas lose or duplicate work."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqsq import limits
from sqsq.errors import ConfigError
from sqsq.template.options import MIN_SAFE_MAX_RECEIVE_COUNT
from sqsq.template.plan import required_visibility_timeout_seconds
from sqsq.template.reading import sqs_functions


@dataclass(frozen=True)
class Finding:
    """One problem :func:`check_template` found.

    Attributes:
        code: ``"B12"`` (partial batch response ignored), ``"B14"`` (visibility vs timeout) or ``"B15"``
            (throttling burns receives).
        resource: ``"<function>/<event>"``.
        message: what is wrong, with the numbers, the required value and the fix.
    """

    code: str
    resource: str
    message: str


class TemplateCheckFailed(ConfigError):
    """A template fails :func:`check_template`; ``findings`` lists every problem."""

    def __init__(self, findings: list[Finding]):
        super().__init__(
            f"{len(findings)} problem(s) in the template:\n" + "\n".join(f"  [{f.code}] {f.resource}: {f.message}"
                                                                        for f in findings)
        )
        self.findings = findings


def check_template(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[Finding]:
    """Check every SQS-triggered function of a template against B12, B14 and B15.

    * B14: the queue's VisibilityTimeout must be >= min(43,200, 6 x function timeout + batching window) (AWS's
      guidance; AWS itself refuses a VisibilityTimeout below the function timeout, but only mid-deploy);
    * B12: the event must list ``ReportBatchItemFailures`` in FunctionResponseTypes, or Lambda deletes a whole
      batch when the handler reports some records failed;
    * B15: with limited concurrency (ReservedConcurrentExecutions set) and no ScalingConfig.MaximumConcurrency,
      maxReceiveCount must be >= 5, or throttled invocations dead-letter messages that never ran.

    Args:
        template: the template (see :func:`load_template`).
        parameters: parameter values (defaults otherwise), e.g. ``{"MaxReceiveCount": "3"}``.

    Returns:
        The findings; empty when the template passes.
    """
    findings = []
    for fn in sqs_functions(template, parameters):
        for ev in fn.events:
            where = f"{fn.resource_id}/{ev.event_id}"
            needed = required_visibility_timeout_seconds(fn.timeout_seconds, ev.batching_window_seconds)
            if ev.visibility_timeout_seconds < needed:
                findings.append(
                    Finding(
                        "B14",
                        where,
                        f"queue {ev.queue_name} has VisibilityTimeout {ev.visibility_timeout_seconds} s, but function "
                        f"timeout {fn.timeout_seconds} s x {limits.LAMBDA_VISIBILITY_TIMEOUT_FACTOR} + batching window "
                        f"{ev.batching_window_seconds} s requires at least {needed} s; set VisibilityTimeout >= "
                        f"{needed} (or render the template with `sqsq template APP`)",
                    )
                )
            if not ev.report_batch_item_failures:
                findings.append(
                    Finding(
                        "B12",
                        where,
                        f"SQS event on {ev.queue_name} lacks FunctionResponseTypes: [ReportBatchItemFailures]; "
                        "without it Lambda deletes the whole batch when the handler reports failed records. "
                        "Add it to the event",
                    )
                )
            limited = fn.reserved_concurrency is not None
            mrc = ev.max_receive_count
            if limited and ev.maximum_concurrency is None and mrc is not None and mrc < MIN_SAFE_MAX_RECEIVE_COUNT:
                findings.append(
                    Finding(
                        "B15",
                        where,
                        f"queue {ev.queue_name} has maxReceiveCount {mrc} < {MIN_SAFE_MAX_RECEIVE_COUNT} while the "
                        f"function's concurrency is limited (ReservedConcurrentExecutions {fn.reserved_concurrency}) "
                        "and the event has no ScalingConfig.MaximumConcurrency: throttled invocations count as "
                        "receives and dead-letter messages that never ran. Set ScalingConfig.MaximumConcurrency "
                        f"(<= {fn.reserved_concurrency}) and maxReceiveCount >= {MIN_SAFE_MAX_RECEIVE_COUNT}",
                    )
                )
    return findings
