"""The template Resolver visits each node once (issue 11: it resolved every child twice, exponential in depth)."""

from __future__ import annotations

from typing import Any

from sqsq.template import Resolver


class CountingResolver(Resolver):
    calls = 0

    def resolve(self, value: Any) -> Any:
        type(self).calls += 1
        return super().resolve(value)


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"Ref": "Stage"}
    for i in range(depth):
        node = {f"Level{i}": node, f"Plain{i}": [i, {"Fn::Sub": "${Stage}-x"}]}
    return node


def test_resolving_a_nested_value_visits_each_node_once() -> None:
    depth = 12
    r = CountingResolver({"Parameters": {"Stage": {"Type": "String", "Default": "dev"}}}, {"Stage": "qa"})
    resolved = r.resolve(_nested(depth))
    assert resolved["Plain11"] == [11, "qa-x"] and resolved["Level11"]["Plain10"] == [10, "qa-x"]
    # per level: the dict, its list and the list's two items; then the innermost Ref
    assert CountingResolver.calls == 4 * depth + 1
