"""Typed, validated, immutable settings read from environment variables and a `.env` file.

Every `*Settings` class of the project is an `EnvSettings`: its fields are its annotations,
`setting()` adds bounds, a pattern or the variables to read, `validate()` checks what spans
several fields. A field `port` of a class with `env_prefix = "CG_"` reads `CG_PORT` (names
are case-insensitive, as on every platform's shell conventions we support); values given to
the constructor win over the environment, which wins over `.env`, which wins over defaults.

Why not pydantic-settings, which this replaced: importing it costs ~120 ms, a quarter of the
Lambda handler's cold import (docs/performance.md), for the few features below. Field types
are resolved on a class's first instantiation, so a class that is never built costs nothing.

Supported field types: str, int, float, bool, Decimal, SecretStr, Literal[...], Enum
subclasses, `X | None`, list[X] (a JSON array, or comma-separated text) and dict[str, X] (a
JSON object) of those, and nested `Model`s (a JSON object in the environment).
"""

from __future__ import annotations

import json
import os
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, Union, dataclass_transform, get_args, get_origin

__all__ = ["EnvSettings", "Model", "SecretStr", "Setting", "SettingsError", "setting"]

_MISSING: Any = object()
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


class SecretStr:
    """A string kept out of reprs, logs and tracebacks; `get_secret_value()` reveals it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')" if self._value else "SecretStr('')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsError(ValueError):
    """Every problem found in one class's values, each naming the field and its variable."""

    def __init__(self, owner: str, problems: list[str]) -> None:
        self.owner = owner
        self.problems = problems
        super().__init__(f"invalid {owner}: " + "; ".join(problems))


class Setting:
    """A field's default and constraints (see `setting`)."""

    __slots__ = (
        "default",
        "description",
        "env",
        "factory",
        "ge",
        "gt",
        "le",
        "lt",
        "max_length",
        "min_length",
        "pattern",
    )

    def __init__(
        self,
        default: Any = _MISSING,
        *,
        factory: Callable[[], Any] | None = None,
        env: tuple[str, ...] = (),
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        description: str = "",
    ) -> None:
        self.default = default
        self.factory = factory
        self.env = env
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.min_length, self.max_length = min_length, max_length
        self.pattern = pattern
        self.description = description

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.factory is None

    def default_value(self) -> Any:
        return self.factory() if self.factory is not None else self.default

    def check(self, value: Any) -> None:
        """Raise ValueError when `value` (already of the field's type) breaks a constraint."""
        if value is None:
            return
        if self.ge is not None and not value >= self.ge:
            raise ValueError(f"must be >= {self.ge} (got {value!r})")
        if self.gt is not None and not value > self.gt:
            raise ValueError(f"must be > {self.gt} (got {value!r})")
        if self.le is not None and not value <= self.le:
            raise ValueError(f"must be <= {self.le} (got {value!r})")
        if self.lt is not None and not value < self.lt:
            raise ValueError(f"must be < {self.lt} (got {value!r})")
        if self.min_length is not None and len(value) < self.min_length:
            raise ValueError(f"must have at least {self.min_length} characters or items")
        if self.max_length is not None and len(value) > self.max_length:
            raise ValueError(f"must have at most {self.max_length} characters or items")
        if self.pattern is not None and re.search(self.pattern, value) is None:
            raise ValueError(f"must match {self.pattern} (got {value!r})")


def setting(
    default: Any = _MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    env: tuple[str, ...] = (),
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    description: str = "",
) -> Any:
    """A field with constraints. `env`: the variables to read, first set wins, instead of
    the prefixed field name (e.g. `("CG_AWS_REGION", "AWS_REGION")`). `pattern` is searched,
    so anchor it. `description` documents the field where a comment would not reach (docs)."""
    return Setting(
        default,
        factory=factory,
        env=env,
        ge=ge,
        gt=gt,
        le=le,
        lt=lt,
        min_length=min_length,
        max_length=max_length,
        pattern=pattern,
        description=description,
    )


class _Field:
    __slots__ = ("convert", "name", "spec")

    def __init__(self, name: str, spec: Setting, convert: Callable[[Any], Any]) -> None:
        self.name, self.spec, self.convert = name, spec, convert


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(setting,))
class Model:
    """Typed, validated, immutable values; the fields are the class's annotations.

    Subclasses override `validate()` for rules that span fields (raise ValueError)."""

    # Per class, filled on first instantiation: resolving annotations is most of the cost.
    _model_fields: ClassVar[dict[str, _Field] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._model_fields = None

    def __init__(self, **values: Any) -> None:
        cls = type(self)
        fields = cls._fields()
        unknown = values.keys() - fields.keys()
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        found = self._lookup(fields, values)
        problems: list[str] = []
        for name, field in fields.items():
            if name in found:
                source, raw = found[name]
                try:
                    value = field.convert(raw)
                    field.spec.check(value)
                except (ValueError, TypeError) as exc:
                    problems.append(f"{name}{source}: {exc}")
                    continue
            elif field.spec.required:
                problems.append(f"{name}{self._where(field)}: required")
                continue
            else:
                value = field.spec.default_value()
            object.__setattr__(self, name, value)
        if not problems:
            try:
                self.validate()
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise SettingsError(cls.__name__, problems)

    def validate(self) -> None:
        """Rules across fields; raise ValueError. Called once every field is set."""

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, validated again; the environment is not read again."""
        values = {name: getattr(self, name) for name in type(self)._fields()}
        values.update(changes)
        return type(self)(**values)

    @classmethod
    def fields(cls) -> Mapping[str, Setting]:
        return {name: field.spec for name, field in cls._fields().items()}

    @classmethod
    def _fields(cls) -> dict[str, _Field]:
        fields = cls.__dict__.get("_model_fields")
        if fields is None:
            fields = {}
            for name, hint in typing.get_type_hints(cls).items():
                if get_origin(hint) is ClassVar or name.startswith("_"):
                    continue
                declared = getattr(cls, name, _MISSING)
                spec = declared if isinstance(declared, Setting) else Setting(declared)
                fields[name] = _Field(name, spec, _converter(hint))
            cls._model_fields = fields
        return fields

    def _lookup(
        self, fields: Mapping[str, _Field], values: Mapping[str, Any]
    ) -> dict[str, tuple[str, Any]]:
        """(where it came from, raw value) per field given; a Model takes only arguments."""
        return {name: ("", value) for name, value in values.items()}

    def _where(self, field: _Field) -> str:
        return ""

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._fields())

    __hash__ = None  # type: ignore[assignment]  # lists and dicts make values unhashable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__name__}({shown})"

    def __rich_repr__(self) -> Iterator[tuple[str, Any]]:
        for name in self._fields():
            yield name, getattr(self, name)


class EnvSettings(Model):
    """A `Model` whose fields not given as arguments come from the environment."""

    env_prefix: ClassVar[str] = ""
    # Read from the working directory, as pydantic-settings and python-dotenv do; missing is
    # fine. Variables set in the environment win over it.
    env_file: ClassVar[str | None] = ".env"

    @classmethod
    def env_names(cls) -> dict[str, tuple[str, ...]]:
        """The variables each field reads, first set wins."""
        return {
            name: field.spec.env or (f"{cls.env_prefix}{name}".upper(),)
            for name, field in cls._fields().items()
        }

    def _lookup(
        self, fields: Mapping[str, _Field], values: Mapping[str, Any]
    ) -> dict[str, tuple[str, Any]]:
        found = super()._lookup(fields, values)
        if len(found) == len(fields):
            return found
        environ = _dotenv(self.env_file) | {key.upper(): value for key, value in os.environ.items()}
        for name, names in self.env_names().items():
            if name in found:
                continue
            for variable in names:
                if (value := environ.get(variable.upper())) is not None:
                    found[name] = (f" ({variable})", value)
                    break
        return found

    def _where(self, field: _Field) -> str:
        return f" ({self.env_names()[field.name][0]})"


def _dotenv(path: str | None) -> dict[str, str]:
    """`KEY=value` lines (`export`, quotes and `#` comments allowed) of a `.env` file."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        found[key.strip().upper()] = value
    return found


# --- conversion from environment text or Python values ----------------------------------


def _converter(hint: Any) -> Callable[[Any], Any]:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        if len(members) != 1 or len(args) != 2:
            raise TypeError(f"unsupported setting type {hint}: only `X | None` unions")
        inner = _converter(members[0])
        text_like = members[0] in (str, SecretStr)
        # An empty variable unsets a number or a choice; for text it is the empty string.
        return lambda value: (
            None if value is None or (value == "" and not text_like) else inner(value)
        )
    if origin is Literal:
        return _choice(args)
    if origin is list:
        item = _converter(args[0])
        return lambda value: [item(part) for part in _sequence(value)]
    if origin is dict:
        key, item = _converter(args[0]), _converter(args[1])
        return lambda value: {key(k): item(v) for k, v in _mapping(value).items()}
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return _enum(hint)
        if issubclass(hint, Model):
            return lambda value: value if isinstance(value, hint) else hint(**_mapping(value))
        if hint in _SCALARS:
            return _SCALARS[hint]
    raise TypeError(f"unsupported setting type {hint}")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text (got {value!r})")
    return value


def _secret(value: Any) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(_text(value))


def _integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            pass
    raise ValueError(f"must be an integer (got {value!r})")


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"must be a number (got {value!r})")


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise ValueError(f"must be a decimal number (got {value!r})")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
    raise ValueError(f"must be true or false (got {value!r})")


_SCALARS: dict[type, Callable[[Any], Any]] = {
    str: _text,
    SecretStr: _secret,
    int: _integer,
    float: _number,
    Decimal: _decimal,
    bool: _boolean,
}


def _choice(allowed: tuple[Any, ...]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value in allowed:
            return value
        raise ValueError(f"must be one of {', '.join(map(str, allowed))} (got {value!r})")

    return convert


def _enum(kind: type[Enum]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            names = ", ".join(str(member.value) for member in kind)
            raise ValueError(f"must be one of {names} (got {value!r})") from None

    return convert


def _sequence(value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _json(text)
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValueError(f"must be a list (got {value!r})")


def _mapping(value: Any) -> Mapping[Any, Any]:
    if isinstance(value, str):
        value = _json(value)
    if isinstance(value, Mapping):
        return value
    raise ValueError(f"must be an object (got {value!r})")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at {exc.pos})") from None
