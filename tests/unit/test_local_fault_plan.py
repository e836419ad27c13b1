"""``POST /_sqsq/faults`` bodies that would silently inject nothing (or everything) are refused with the reason."""

from __future__ import annotations

from typing import Any

import pytest

from sqsq.local.services.faults import FaultPlan


@pytest.mark.parametrize(("body", "reason"), [
    ({"rate": 1.0, "services": "sqs"}, "services must be a list"),  # was read as the services 's', 'q', 's'
    ({"rate": 1.0, "kinds": "throttle"}, "kinds must be a list"),
    ({"rate": True}, "rate must be a number"),  # was read as 1.0: every request failed
    ({"rate": {"sqs": False}}, "rate must be a number"),
])
def test_a_fault_plan_with_a_string_for_a_list_or_a_bool_for_a_rate_is_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        FaultPlan.from_json(body)


def test_a_fault_plan_with_lists_and_numbers_is_read() -> None:
    plan = FaultPlan.from_json({"rate": {"sqs": 1, "dynamodb": 0.5}, "kinds": ["throttle"], "seed": 3})
    assert plan.rates == {"sqs": 1.0, "dynamodb": 0.5} and plan.kinds == ("throttle",)
