"""The local AWS parses a condition expression text once; every parse after that equals moto's own, errors included."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("moto")

from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models.dynamo_type import Item

from sqsq.local.services import dynamodb_expressions
from sqsq.local.services.dynamodb_expressions import ORIGINAL_PARSE_ATTRIBUTE, patch_condition_parser

SQSQ_FINAL = (
    "attribute_not_exists(task_id) OR expires_at <= :now OR (task_name = :task_name AND sent_at = :sent_at AND "
    "(generation < :gen OR (generation = :gen AND NOT #status IN (:success, :failure, :revoked))))"
)
NAMES = {"#status": "status", "#n": "nested", "#a": "attempts"}
VALUES = {
    ":now": {"N": "100"}, ":task_name": {"S": "t"}, ":sent_at": {"N": "5.5"}, ":gen": {"N": "1"},
    ":success": {"S": "SUCCESS"}, ":failure": {"S": "FAILURE"}, ":revoked": {"S": "REVOKED"}, ":p": {"S": "ab"},
    ":lo": {"N": "1"}, ":hi": {"N": "3"}, ":t": {"S": "N"},
}
VALID = [
    SQSQ_FINAL,
    "attribute_exists(task_id) AND #status = :success",
    "begins_with(task_name, :p) OR contains(task_name, :p)",
    "#a BETWEEN :lo AND :hi",
    "size(task_name) > :lo AND attribute_type(#a, :t)",
    "#n.zz9[0] = :p OR NOT (#status <> :failure)",
    "#status IN (:success,:failure)",
]
BROKEN = [
    "#status = :missing",  # a value not given
    "#missing = :success AND #status = :missing",  # the name is looked up first
    "status = :success",  # a reserved word
    "#status = :missing AND status = :success",  # the missing value comes before the reserved word
    "((#status = :success))",  # redundant parentheses
    "#status = = :success",  # bad syntax
    "#status = :success AND",  # incomplete
    "#status ~ :success",  # cannot lex
]
ITEMS = [
    None,
    {"task_id": {"S": "x"}, "status": {"S": "RUNNING"}, "task_name": {"S": "t"}, "sent_at": {"N": "5.5"},
     "generation": {"N": "1"}, "expires_at": {"N": "200"}, "attempts": {"N": "2"}},
    {"task_id": {"S": "y"}, "status": {"S": "SUCCESS"}, "task_name": {"S": "abc"}, "generation": {"N": "0"},
     "expires_at": {"N": "50"}, "attempts": {"N": "9"}, "nested": {"M": {"zz9": {"L": [{"S": "ab"}]}}}},
]


@pytest.fixture(autouse=True, scope="module")
def patched() -> None:
    patch_condition_parser()


def shape(obj: Any) -> Any:
    """An operation tree as plain data, to compare two trees attribute by attribute."""
    if isinstance(obj, list | tuple):
        return [shape(o) for o in obj]
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    if hasattr(obj, "__dict__"):
        return (type(obj).__name__, {k: shape(v) for k, v in vars(obj).items()})
    return obj


def moto_parse(text: str, names: Any, values: Any) -> tuple[Any, ConditionExpressionParser]:
    parser = ConditionExpressionParser(text, names, values)
    return getattr(ConditionExpressionParser, ORIGINAL_PARSE_ATTRIBUTE)(parser), parser


def cached_parse(text: str, names: Any, values: Any) -> tuple[Any, ConditionExpressionParser]:
    parser = ConditionExpressionParser(text, names, values)
    return parser.parse(), parser


def outcome(parse: Any, text: str, names: Any, values: Any) -> Any:
    try:
        op, parser = parse(text, names, values)
    except Exception as exc:
        return ("raised", type(exc), str(exc))
    evaluated = []
    for attrs in ITEMS:
        try:
            evaluated.append(op.expr(None if attrs is None else Item({"S": "k"}, None, attrs)))
        except Exception as exc:
            evaluated.append((type(exc), str(exc)))
    return shape(op), parser.expr_attr_names_found, parser.expr_attr_values_found, evaluated


@pytest.mark.parametrize("text", VALID)
def test_a_cached_parse_builds_the_operation_tree_moto_builds(text: str) -> None:
    for _ in range(2):  # the first parse fills the cache, the second reads it
        assert outcome(cached_parse, text, NAMES, VALUES) == outcome(moto_parse, text, NAMES, VALUES)
    assert isinstance(dynamodb_expressions._cache[text], tuple)  # kept, not left to moto


def test_a_cached_structure_takes_each_request_s_values() -> None:
    first = outcome(cached_parse, SQSQ_FINAL, NAMES, VALUES)
    later = outcome(cached_parse, SQSQ_FINAL, NAMES, {**VALUES, ":gen": {"N": "0"}, ":now": {"N": "300"}})
    assert first != later
    assert later == outcome(moto_parse, SQSQ_FINAL, NAMES, {**VALUES, ":gen": {"N": "0"}, ":now": {"N": "300"}})


@pytest.mark.parametrize("text", BROKEN)
def test_a_broken_expression_raises_what_moto_raises(text: str) -> None:
    for _ in range(2):
        expected = outcome(moto_parse, text, NAMES, VALUES)
        assert expected[0] == "raised"
        assert outcome(cached_parse, text, NAMES, VALUES) == expected


@pytest.mark.parametrize("text", [SQSQ_FINAL, "#status = :success"])
def test_missing_names_or_values_on_a_cached_text_raise_what_moto_raises(text: str) -> None:
    cached_parse(text, NAMES, VALUES)  # cached now
    for names, values in [({}, VALUES), (NAMES, {}), (None, VALUES), (NAMES, None), (NAMES, {":now": {"N": "1"}})]:
        expected = outcome(moto_parse, text, names, values)
        assert expected[0] == "raised"
        assert outcome(cached_parse, text, names, values) == expected
