"""`@record`: a frozen, slotted dataclass that costs a third as much to define.

On Python 3.11 a dataclass compiles every method it generates with an `exec` of its own; a
frozen, slotted class gets six, and the Lambda handler's cold start defines some sixty such
classes before it answers anything (docs/performance.md, "Lambda"). `@record` lets
`dataclass` generate only what depends on the class, `__init__` and the frozen
`__setattr__`/`__delattr__`, and gives every record the same `__eq__`, `__hash__` and
`__repr__`, reading the field names each class lists once. They answer as a frozen
dataclass's do: equal to an instance of the very same class whose compared fields are equal
(as tuples compare), hashed on the same fields, printed `Name(field=value, ...)`. A method
the class defines itself is kept, as `dataclass` keeps it.

`dataclasses.fields`, `replace` and `asdict` work on records as on any dataclass.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")

# Per class: the names `__eq__`, `__hash__` and `__repr__` read, in field order.
_COMPARED = "_record_compared"
_HASHED = "_record_hashed"
_SHOWN = "_record_shown"


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[_T]) -> type[_T]:
    """`@dataclass(frozen=True, slots=True)`, with shared comparison, hash and repr."""
    own = {name for name in ("__eq__", "__hash__", "__repr__") if name in cls.__dict__}
    made = dataclasses.dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)
    fields = dataclasses.fields(made)  # type: ignore[arg-type]  # a dataclass by now
    setattr(made, _COMPARED, tuple(f.name for f in fields if f.compare))
    # dataclass hashes the compared fields, unless a field says otherwise (field(hash=...)).
    hashed = (f.name for f in fields if (f.compare if f.hash is None else f.hash))
    setattr(made, _HASHED, tuple(hashed))
    setattr(made, _SHOWN, tuple(f.name for f in fields if f.repr))
    for name, method in (("__eq__", _eq), ("__hash__", _hash), ("__repr__", _repr)):
        if name not in own:
            setattr(made, name, method)
    return made


def _values(instance: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple([getattr(instance, name) for name in names])


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        unanswered: bool = NotImplemented  # Python then asks `other`, as with a dataclass
        return unanswered
    names = getattr(self, _COMPARED)
    return _values(self, names) == _values(other, names)


def _hash(self: Any) -> int:
    return hash(_values(self, getattr(self, _HASHED)))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _SHOWN))
    return f"{self.__class__.__qualname__}({shown})"
