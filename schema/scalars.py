"""The nine AppSync ``AWS*`` scalars with AppSync's validation rules (APPSYNC.md §1).

Annotate fields with the ``NewType``s below and build every schema with
``StrawberryConfig(scalar_map=AWS_SCALAR_MAP)``; that is Strawberry's supported way to
bind a ``NewType`` to a scalar (passing a class to ``strawberry.scalar`` is deprecated).

Resolvers see validated strings for the string scalars (never normalised), an ``int``
for ``AWSTimestamp`` and the parsed JSON value for ``AWSJSON``. On output the date/time
scalars also accept ``date``/``time``/``datetime`` objects. Every input path (variable
or inline literal) and every output value goes through the same checks; failures raise
``ScalarValueError`` worded like AppSync's engine (§1.4).
"""

import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any, Literal, NewType
from urllib.parse import urlsplit

import orjson
import strawberry
from graphql import GraphQLError, IntValueNode, StringValueNode, ValueNode, print_ast
from strawberry.types.scalar import ScalarDefinition

AWSDate = NewType("AWSDate", str)
AWSTime = NewType("AWSTime", str)
AWSDateTime = NewType("AWSDateTime", str)
AWSTimestamp = NewType("AWSTimestamp", int)
AWSEmail = NewType("AWSEmail", str)
AWSJSON = NewType("AWSJSON", object)
AWSURL = NewType("AWSURL", str)
AWSPhone = NewType("AWSPhone", str)
AWSIPAddress = NewType("AWSIPAddress", str)


class ScalarValueError(GraphQLError, ValueError):
    """A value an AWS scalar does not accept, as input or as output.

    A ``GraphQLError`` so graphql-core reports the message unchanged; a ``ValueError``
    so plain Python callers can catch it without importing graphql.
    """


def _shown(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, date | time):
        return value.isoformat()
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _invalid(verb: Literal["parse", "serialize"], value: object, what: str) -> ScalarValueError:
    return ScalarValueError(f"Unable to {verb} `{_shown(value)}` as {what}.")


# --- date and time -------------------------------------------------------------------
# re.ASCII matters: without it \d also matches non-ASCII digits such as "٢".
_OFFSET = r"(?P<offset>Z|[+-](?P<oh>\d{2}):(?P<om>\d{2})(?::(?P<os>\d{2}))?)"
_DATE = r"(?P<year>-?\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
_TIME = r"(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d{1,9})?)?"
_DATE_RE = re.compile(f"{_DATE}{_OFFSET}?", re.ASCII)
_TIME_RE = re.compile(f"{_TIME}{_OFFSET}?", re.ASCII)
_DATETIME_RE = re.compile(f"{_DATE}T{_TIME}{_OFFSET}", re.ASCII)

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_UPPER_BOUNDS = {"hour": 23, "minute": 59, "second": 59, "oh": 23, "om": 59, "os": 59}


def _is_leap(year: int) -> bool:
    # Proleptic Gregorian with astronomical years, so negative years work too.
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _in_range(match: re.Match[str] | None) -> bool:
    if match is None:
        return False
    fields = {k: int(v) for k, v in match.groupdict().items() if v is not None and k != "offset"}
    if "month" in fields:
        month, day = fields["month"], fields["day"]
        if not 1 <= month <= 12:
            return False
        days = 29 if month == 2 and _is_leap(fields["year"]) else _DAYS_IN_MONTH[month - 1]
        if not 1 <= day <= days:
            return False
    return all(fields.get(name, 0) <= bound for name, bound in _UPPER_BOUNDS.items())


def _is_date(value: str) -> bool:
    return _in_range(_DATE_RE.fullmatch(value))


def _is_time(value: str) -> bool:
    return _in_range(_TIME_RE.fullmatch(value))


def _is_datetime(value: str) -> bool:
    return _in_range(_DATETIME_RE.fullmatch(value))


def _utc_as_z(text: str) -> str:
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _timespec(microsecond: int) -> str:
    return "milliseconds" if microsecond % 1000 == 0 else "microseconds"


def _render_date(value: object) -> object:
    # datetime is a date subclass; truncating it to a date silently would hide a bug.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _render_time(value: object) -> object:
    if isinstance(value, time):
        return _utc_as_z(value.isoformat(timespec=_timespec(value.microsecond)))
    return value


def _render_datetime(value: object) -> object:
    # A naive datetime falls through unrendered and is rejected: AWSDateTime needs an offset.
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return _utc_as_z(value.isoformat(timespec=_timespec(value.microsecond)))
    return value


# --- other string scalars --------------------------------------------------------------
_EMAIL_RE = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*",
    re.ASCII,
)
# Only a pre-filter (spaces and hyphens as separators); phonenumbers decides validity.
_PHONE_RE = re.compile(r"\+?\d[\d\s-]+", re.ASCII)


def _is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value) is not None


def _is_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and "//" not in parts.path


def _is_phone(value: str) -> bool:
    if _PHONE_RE.fullmatch(value) is None:
        return False
    # phonenumbers' metadata takes ~30 ms to import: only a phone value pays for it (Lambda
    # cold start, docs/performance.md).
    import phonenumbers

    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


def _is_ip_address(value: str) -> bool:
    _, slash, prefix = value.partition("/")
    if "[" in value or "]" in value or (slash and not (prefix.isascii() and prefix.isdigit())):
        return False  # brackets and dotted netmasks are not AppSync's CIDR form
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return False
    return True


def _render_ip_address(value: object) -> object:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value.with_prefixlen
    return value


def _as_is(value: object) -> object:
    return value


def _string_scalar(
    name: str,
    description: str,
    what: str,
    is_valid: Callable[[str], bool],
    render: Callable[[object], object] = _as_is,
) -> ScalarDefinition:
    def check(verb: Literal["parse", "serialize"], value: object) -> str:
        if isinstance(value, str) and is_valid(value):
            return value
        raise _invalid(verb, value, what)

    def parse_value(value: object) -> str:
        return check("parse", value)

    def parse_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> str:
        if isinstance(node, StringValueNode):
            return check("parse", node.value)
        raise _invalid("parse", print_ast(node), what)

    def serialize(value: object) -> str:
        return check("serialize", render(value))

    return strawberry.scalar(
        name=name,
        description=description,
        serialize=serialize,
        parse_value=parse_value,
        parse_literal=parse_literal,
    )


# --- AWSTimestamp ----------------------------------------------------------------------
_TIMESTAMP = "a valid timestamp"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _timestamp(verb: Literal["parse", "serialize"], value: object) -> int:
    # bool is an int subclass; JSON true must not pass as 1.
    if isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    raise _invalid(verb, value, _TIMESTAMP)


def _parse_timestamp(value: object) -> int:
    return _timestamp("parse", value)


def _parse_timestamp_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> int:
    if isinstance(node, IntValueNode):
        return _timestamp("parse", int(node.value))
    raise _invalid("parse", print_ast(node), _TIMESTAMP)


def _serialize_timestamp(value: object) -> int:
    return _timestamp("serialize", value)


# --- AWSJSON ---------------------------------------------------------------------------
_JSON = "valid JSON"


def _parse_json(value: object) -> object:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    raise _invalid("parse", value, _JSON)


def _parse_json_literal(node: ValueNode, _variables: dict[str, Any] | None = None) -> object:
    # AppSync rejects object/list literals: the JSON must arrive inside a string.
    if isinstance(node, StringValueNode):
        return _parse_json(node.value)
    raise _invalid("parse", print_ast(node), _JSON)


def _serialize_json(value: object) -> str:
    # Always encoded, strings included, so that whatever a resolver received from
    # parse_value round-trips; AppSync's handling of string results is unverified.
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        raise _invalid("serialize", value, _JSON) from None


# --- definitions -----------------------------------------------------------------------
AWS_SCALAR_MAP: Mapping[object, ScalarDefinition] = {
    AWSDate: _string_scalar(
        "AWSDate",
        "An extended ISO 8601 date `YYYY-MM-DD` with an optional offset, e.g. `1970-01-01Z`.",
        "a valid Date Object",
        _is_date,
        _render_date,
    ),
    AWSTime: _string_scalar(
        "AWSTime",
        "An extended ISO 8601 time `hh:mm[:ss[.sss]]` with an optional offset, "
        "e.g. `12:30:24.500+05:30`.",
        "a valid Time Object",
        _is_time,
        _render_time,
    ),
    AWSDateTime: _string_scalar(
        "AWSDateTime",
        "An extended ISO 8601 date-time `YYYY-MM-DDThh:mm[:ss[.sss]]` with a mandatory "
        "offset, e.g. `1970-01-01T12:30:00.000Z`.",
        "a valid DateTime Object",
        _is_datetime,
        _render_datetime,
    ),
    AWSTimestamp: strawberry.scalar(
        name="AWSTimestamp",
        description="Seconds since 1970-01-01T00:00Z as an integer; negative values allowed.",
        serialize=_serialize_timestamp,
        parse_value=_parse_timestamp,
        parse_literal=_parse_timestamp_literal,
    ),
    AWSEmail: _string_scalar(
        "AWSEmail",
        "An email address `local-part@domain-part`, e.g. `username@example.com`.",
        "a valid email address",
        _is_email,
    ),
    AWSJSON: strawberry.scalar(
        name="AWSJSON",
        description="A string holding valid JSON; resolvers see the parsed value and "
        "results are returned as a JSON string.",
        serialize=_serialize_json,
        parse_value=_parse_json,
        parse_literal=_parse_json_literal,
    ),
    AWSURL: _string_scalar(
        "AWSURL",
        "A URL with a scheme and no `//` in its path, e.g. `https://example.com/a/b`.",
        "a valid URL",
        _is_url,
    ),
    AWSPhone: _string_scalar(
        "AWSPhone",
        "A phone number; digit groups may be separated by spaces or hyphens and numbers "
        "without a country code are read as North American (NANP).",
        "a valid phone number",
        _is_phone,
    ),
    AWSIPAddress: _string_scalar(
        "AWSIPAddress",
        "An IPv4 or unbracketed IPv6 address with an optional CIDR suffix, e.g. `123.45.67.89/16`.",
        "a valid IP address",
        _is_ip_address,
        _render_ip_address,
    ),
}
"""Pass as ``StrawberryConfig(scalar_map=...)`` (merge it with any other entries)."""

AWS_SCALARS: tuple[object, ...] = tuple(AWS_SCALAR_MAP)
"""The nine ``NewType``s, in APPSYNC.md §2.1 order."""

AWS_SCALAR_NAMES: frozenset[str] = frozenset(d.name for d in AWS_SCALAR_MAP.values())
