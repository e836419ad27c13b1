"""DynamoDB condition expressions in the local AWS, parsed once per text instead of twice per request.

moto 5.2.5 parses a ConditionExpression (and a FilterExpression) from scratch every time: a regex lexer that
recompiles its patterns per token, then a cascade of passes over the token list. A conditional PutItem parses it
twice (``DynamoHandler.put_item`` validates, ``Table.put_item`` evaluates): about a third of the server's CPU for
sqsq's result writes, which send the same few expression texts with new values each time.

The parse's *structure* depends on the text alone: the expression attribute names (``#status``) and values
(``:now``) are only looked up, in token order, and carried in the tree. So the first parse of a text runs moto's
own passes with placeholders for the names and values, recording the lookups in order, and keeps the tree; later
parses of the same text make the same lookups on the request's names and values, in the same order (so a missing
one raises the same ``KeyError`` moto's parse raises), fill them into a copy of the tree, and finish as moto's
``parse`` does (names and values found, then the operation tree). A text whose structural parse fails (a syntax
error, a reserved word, redundant parentheses) is never kept: moto's own parse runs for it every time, so every
error is raised exactly as moto raises it.

Private moto internals this relies on (checked against moto 5.2.5): ``ConditionExpressionParser``'s passes
``_lex_condition_expression``, ``_parse_paths``, ``_apply_functions``, ``_apply_comparator``, ``_apply_in``,
``_apply_between``, ``_apply_parens_and_booleans``, ``_assert_no_redundant_parentheses``, ``_find_literals``,
``_find_expr_attr_values``, ``_make_op_condition``, ``_lookup_expression_attribute_name/value``, its ``Node``
namedtuple and the attributes ``condition_expression``, ``expr_attr_names_found``, ``expr_attr_values_found``.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["MAX_CACHED_EXPRESSIONS", "ORIGINAL_PARSE_ATTRIBUTE", "cached_structure", "patch_condition_parser"]

MAX_CACHED_EXPRESSIONS = 512
"""Distinct expression texts kept; when full the cache starts over (sqsq sends a handful)."""

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_parse_cached"
ORIGINAL_PARSE_ATTRIBUTE = "_sqsq_original_parse"
"""Where the patched class keeps moto's own ``parse`` (tests compare the two)."""
_UNCACHEABLE = object()
_cache: dict[str, Any] = {}


class _Slot:
    """Stands for the ``index``-th name or value lookup of a structural parse."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Recorder:
    """A stand-in for ExpressionAttributeNames or ExpressionAttributeValues: records each lookup, in order."""

    def __init__(self, kind: str, lookups: list[tuple[str, str]]) -> None:
        self._kind = kind
        self._lookups = lookups

    def __getitem__(self, name: str) -> _Slot:
        self._lookups.append((self._kind, name))
        return _Slot(len(self._lookups) - 1)


def _structure(parser_class: Any, text: str) -> Any:
    """``(node tree with slots, lookups in order)`` of ``text``, or ``_UNCACHEABLE`` when moto's passes raise."""
    lookups: list[tuple[str, str]] = []
    parser = parser_class(text, _Recorder("name", lookups), _Recorder("value", lookups))
    try:  # the passes of ConditionExpressionParser.parse, up to the operation tree
        nodes = parser._lex_condition_expression()
        nodes = parser._parse_paths(nodes)
        nodes = parser._apply_functions(nodes)
        nodes = parser._apply_comparator(nodes)
        nodes = parser._apply_in(nodes)
        nodes = parser._apply_between(nodes)
        nodes = parser._apply_parens_and_booleans(nodes)
        node = nodes[0]
        parser._assert_no_redundant_parentheses(node)
    except Exception:  # any failure: moto's own parse runs for this text, and raises it
        return _UNCACHEABLE
    slotted: set[int] = set()
    _mark_slotted(node, slotted)
    return node, tuple(lookups), frozenset(slotted)


def _mark_slotted(node: Any, slotted: set[int]) -> bool:
    """Add to ``slotted`` the ids of the nodes that hold a slot or have one below them; True for such a node."""
    below = [_mark_slotted(child, slotted) for child in node.children]
    if isinstance(node.value, _Slot) or any(below):
        slotted.add(id(node))
        return True
    return False


def cached_structure(parser_class: Any, text: str) -> Any:
    """The structural parse of ``text`` (see the module docstring), computed once per text."""
    entry = _cache.get(text)
    if entry is None:
        entry = _structure(parser_class, text)
        if len(_cache) >= MAX_CACHED_EXPRESSIONS:
            _cache.clear()
        _cache[text] = entry
    return entry


def _fill(node: Any, resolved: list[Any], slotted: frozenset[int]) -> Any:
    """``node`` with every slot replaced by its looked-up name or value: new nodes on the paths to slots, the
    cached ones elsewhere (moto only reads the tree)."""
    if id(node) not in slotted:
        return node
    value = node.value
    if isinstance(value, _Slot):
        value = resolved[value.index]
    return node._replace(value=value, children=[_fill(child, resolved, slotted) for child in node.children])


def patch_condition_parser() -> None:
    """Make moto's ``ConditionExpressionParser.parse`` reuse the structure of texts it has parsed. Idempotent."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    with _patch_lock:
        if getattr(ConditionExpressionParser, _PATCHED_MARK, False):
            return
        original = ConditionExpressionParser.parse

        def parse(self: Any) -> Any:
            text = self.condition_expression
            if not text or not isinstance(text, str):
                return original(self)
            entry = cached_structure(ConditionExpressionParser, text)
            if entry is _UNCACHEABLE:
                return original(self)
            node, lookups, slotted = entry
            resolved = [  # the same lookups moto's parse makes, in its order: a missing one raises as there
                self._lookup_expression_attribute_name(name) if kind == "name"
                else self._lookup_expression_attribute_value(name)
                for kind, name in lookups
            ]
            node = _fill(node, resolved, slotted)
            self.expr_attr_names_found.extend(self._find_literals(node))
            self.expr_attr_values_found.extend(self._find_expr_attr_values(node))
            return self._make_op_condition(node)

        setattr(ConditionExpressionParser, "parse", parse)  # noqa: B010 - mypy forbids assigning to a method
        setattr(ConditionExpressionParser, ORIGINAL_PARSE_ATTRIBUTE, original)
        setattr(ConditionExpressionParser, _PATCHED_MARK, True)
