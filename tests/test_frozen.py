"""`@frozen.record` answers as `@dataclass(frozen=True, slots=True)` does."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from datasources import frozen
from datasources.records import MoneyRecord


def line_class(decorator: Callable[[type], type]) -> Any:
    """The same class body under `decorator`: both classes get the same qualified name."""

    class Line:
        sku: str
        quantity: int = 1
        tags: tuple[str, ...] = ()
        note: str = field(default="", compare=False)
        secret: str = field(default="", repr=False)
        weight: float = field(default=0.0, hash=False)

    return decorator(Line)


Line = line_class(frozen.record)
ReferenceLine = line_class(dataclass(frozen=True, slots=True))


@frozen.record
class Twin:
    sku: str
    quantity: int = 1


@frozen.record
class Discounted(Line):
    percent: int = 0


@frozen.record
class Named:
    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


@frozen.record
class Node:
    name: str
    children: list[Any] = field(default_factory=list)


CASES: list[dict[str, Any]] = [
    {"sku": "a"},
    {"sku": "a", "quantity": 2, "tags": ("x", "y")},
    {"sku": "a", "note": "gift"},
    {"sku": "a", "secret": "s3cr3t", "weight": 1.5},
]


@pytest.mark.parametrize("left", CASES)
@pytest.mark.parametrize("right", CASES)
def test_equality_and_hash_match_a_frozen_dataclass(
    left: dict[str, Any], right: dict[str, Any]
) -> None:
    mine = Line(**left) == Line(**right)
    reference = ReferenceLine(**left) == ReferenceLine(**right)
    assert mine is reference
    assert (Line(**left) != Line(**right)) is (ReferenceLine(**left) != ReferenceLine(**right))
    assert hash(Line(**left)) == hash(ReferenceLine(**left))


@pytest.mark.parametrize("values", CASES)
def test_repr_matches_a_frozen_dataclass(values: dict[str, Any]) -> None:
    assert repr(Line(**values)) == repr(ReferenceLine(**values))


def test_only_the_very_same_class_compares_equal() -> None:
    assert Line("a") != Twin("a")
    assert Line("a") != Discounted("a")
    assert Line("a") != ("a", 1, ())
    assert Line("a").__eq__(Twin("a")) is NotImplemented


def test_nan_compares_as_tuples_do() -> None:
    nan = float("nan")
    assert Line("a", tags=(nan,)) == Line("a", tags=(nan,))  # the same object
    assert Line("a", tags=(nan,)) != Line("a", tags=(float("nan"),))
    assert ReferenceLine("a", tags=(nan,)) == ReferenceLine("a", tags=(nan,))


def test_records_are_frozen_and_slotted() -> None:
    line = Line("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.quantity = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del line.sku  # type: ignore[misc]
    assert not hasattr(line, "__dict__")


def test_dataclass_functions_work_on_records() -> None:
    line = Line("a", quantity=2, note="gift")
    assert dataclasses.is_dataclass(line)
    assert [f.name for f in dataclasses.fields(line)] == [
        "sku",
        "quantity",
        "tags",
        "note",
        "secret",
        "weight",
    ]
    assert dataclasses.replace(line, quantity=3) == Line("a", quantity=3)
    assert dataclasses.asdict(line)["note"] == "gift"
    assert pickle.loads(pickle.dumps(Twin("a", 2))) == Twin("a", 2)  # a module-level record


def test_a_subclass_compares_hashes_and_prints_its_own_fields() -> None:
    assert Discounted("a", percent=10) != Discounted("a", percent=20)
    assert hash(Discounted("a", percent=10)) != hash(Line("a"))
    assert repr(Discounted("a", percent=10)).endswith("weight=0.0, percent=10)")


def test_a_method_the_class_defines_is_kept() -> None:
    assert repr(Named("n")) == "<n>"
    assert Named("n") == Named("n")


def test_a_record_that_contains_itself_prints() -> None:
    root = Node("root")
    root.children.append(root)
    assert repr(root) == "Node(name='root', children=[...])"
    with pytest.raises(TypeError, match="unhashable"):
        hash(root)  # a list field makes it unhashable, as with a dataclass


def test_the_project_records_use_it() -> None:
    money = MoneyRecord(Decimal("1.00"), "EUR")
    assert money == MoneyRecord(Decimal("1.0"), "EUR")
    assert {money, MoneyRecord(Decimal("1.00"), "EUR")} == {money}
    assert repr(money) == "MoneyRecord(amount=Decimal('1.00'), currency_code='EUR')"
