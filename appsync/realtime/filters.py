"""AppSync's enhanced subscription filters (APPSYNC.md §5.4): parse, check limits, evaluate.

The JSON form is the one `extensions.setSubscriptionFilter` takes::

    {"filterGroup": [
        {"filters": [{"fieldName": "userId", "operator": "eq", "value": 1}]},
        {"filters": [{"fieldName": "group", "operator": "in", "value": ["A", "B"]}]}]}

Entries of `filterGroup` are OR-ed; the conditions inside one entry are AND-ed.
`fieldName` is a path into the subscription field's payload (`loc.addr.country`).

Limits, and the text of the refusal (errorCode 400):

- `in` / `notIn`: at most 5 values, `subscription exceeds maximum value limit 5 for operator
  \\`in\\`.` [obs, amplify-category-api#740];
- distinct `fieldName`s in one entry: at most 5, `Filters exceed maximum attributes limit 5
  for subscription` [obs, amplify-flutter#6142];
- `containsAny`: at most 20 values; `fieldName` at most 5 levels deep and 256 characters
  (the limits the lambda-appsync crate enforces) [unverified];
- at most 10 entries in `filterGroup` [unverified]; `between` takes exactly `[low, high]`.

Comparison semantics are ours where AppSync's docs are silent: a missing field fails every
operator but `ne`, `notIn` and `notContains`; `lt`/`le`/`gt`/`ge`/`between` compare numbers
with numbers and strings with strings only; `contains` works on strings (substring) and
lists (member); `containsAny` on lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from datasources import frozen

__all__ = [
    "OPERATORS",
    "Condition",
    "FilterError",
    "SubscriptionFilter",
    "parse_filter",
]

OPERATORS: Final = frozenset(
    {
        "eq", "ne", "le", "lt", "ge", "gt", "contains", "notContains", "beginsWith",
        "in", "notIn", "between", "containsAny",
    }
)  # fmt: skip
MAX_ENTRIES: Final = 10
MAX_ATTRIBUTES: Final = 5
MAX_IN_VALUES: Final = 5
MAX_CONTAINS_ANY_VALUES: Final = 20
MAX_PATH_DEPTH: Final = 5
MAX_PATH_CHARS: Final = 256

_MISSING: Final = object()


class FilterError(ValueError):
    """A filter AppSync would refuse; `str(error)` is the client-facing message."""


@frozen.record
class Condition:
    path: tuple[str, ...]
    operator: str
    value: Any

    def matches(self, payload: Mapping[str, Any]) -> bool:
        found = _dig(payload, self.path)
        op, value = self.operator, self.value
        if found is _MISSING:
            return op in ("ne", "notIn", "notContains")
        if op == "eq":
            return _equal(found, value)
        if op == "ne":
            return not _equal(found, value)
        if op in ("lt", "le", "gt", "ge"):
            return _ordered(found, value, op)
        if op == "between":
            return _ordered(found, value[0], "ge") and _ordered(found, value[1], "le")
        if op == "in":
            return any(_equal(found, item) for item in value)
        if op == "notIn":
            return not any(_equal(found, item) for item in value)
        if op == "beginsWith":
            return isinstance(found, str) and isinstance(value, str) and found.startswith(value)
        if op == "containsAny":
            return isinstance(found, list) and any(
                _equal(item, wanted) for item in found for wanted in value
            )
        contained = _contains(found, value)
        return contained if op == "contains" else not contained


@frozen.record
class SubscriptionFilter:
    """One filter document: `entries` OR-ed, each entry's conditions AND-ed."""

    entries: tuple[tuple[Condition, ...], ...]

    def matches(self, payload: Mapping[str, Any]) -> bool:
        return any(all(c.matches(payload) for c in entry) for entry in self.entries)


def parse_filter(document: Any) -> SubscriptionFilter:
    """`document` as `setSubscriptionFilter` takes it; `FilterError` when AppSync refuses it."""
    if not isinstance(document, Mapping) or not isinstance(document.get("filterGroup"), list):
        raise FilterError("The subscription filter must be an object with a filterGroup list.")
    groups: list[Any] = document["filterGroup"]
    if not groups:
        raise FilterError("The subscription filter's filterGroup is empty.")
    if len(groups) > MAX_ENTRIES:
        raise FilterError(f"Filter groups exceed maximum limit {MAX_ENTRIES} for subscription")
    return SubscriptionFilter(tuple(_entry(group) for group in groups))


def _entry(group: Any) -> tuple[Condition, ...]:
    filters = group.get("filters") if isinstance(group, Mapping) else None
    if not isinstance(filters, list) or not filters:
        raise FilterError("Each filterGroup entry needs a non-empty filters list.")
    conditions = tuple(_condition(item) for item in filters)
    if len({c.path for c in conditions}) > MAX_ATTRIBUTES:
        raise FilterError(
            f"Filters exceed maximum attributes limit {MAX_ATTRIBUTES} for subscription"
        )
    return conditions


def _condition(item: Any) -> Condition:
    if not isinstance(item, Mapping):
        raise FilterError("Each filter must be an object with fieldName, operator and value.")
    field_name, operator = item.get("fieldName"), item.get("operator")
    if not isinstance(field_name, str) or not field_name:
        raise FilterError("A filter's fieldName must be a non-empty string.")
    path = tuple(field_name.split("."))
    if len(field_name) > MAX_PATH_CHARS or len(path) > MAX_PATH_DEPTH or "" in path:
        raise FilterError(f"Invalid fieldName {field_name!r} in the subscription filter.")
    if operator not in OPERATORS:
        raise FilterError(f"Unsupported operator {operator!r} in the subscription filter.")
    if "value" not in item:
        raise FilterError(f"The filter on {field_name!r} has no value.")
    value = item["value"]
    _check_value(str(operator), value)
    return Condition(path, str(operator), value)


def _check_value(operator: str, value: Any) -> None:
    if operator in ("in", "notIn", "containsAny", "between") and not isinstance(value, list):
        raise FilterError(f"Operator `{operator}` takes a list value.")
    if operator in ("in", "notIn") and len(value) > MAX_IN_VALUES:
        raise FilterError(
            f"subscription exceeds maximum value limit {MAX_IN_VALUES} for operator `{operator}`."
        )
    if operator == "containsAny" and len(value) > MAX_CONTAINS_ANY_VALUES:
        raise FilterError(
            f"subscription exceeds maximum value limit {MAX_CONTAINS_ANY_VALUES}"
            " for operator `containsAny`."
        )
    if operator == "between" and len(value) != 2:
        raise FilterError("Operator `between` takes [low, high].")


def _dig(payload: Any, path: Sequence[str]) -> Any:
    current = payload
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return _MISSING
        current = current[key]
    return current


def _equal(left: Any, right: Any) -> bool:
    # JSON semantics: true is not 1.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return bool(left == right)


def _ordered(left: Any, right: Any, op: str) -> bool:
    numbers = (int, float)
    comparable = (
        isinstance(left, numbers)
        and isinstance(right, numbers)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    ) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        return False
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    return bool(left >= right)


def _contains(found: Any, value: Any) -> bool:
    if isinstance(found, str):
        return isinstance(value, str) and value in found
    if isinstance(found, list):
        return any(_equal(item, value) for item in found)
    return False
