"""The embedded demo ERP: an OData v4 server in this process, for `make run`.

It serves the entity sets of the CAP service the tests start (tests/engines/erp_service) with
the OData subset the adapter uses, so `make run` exercises the very HTTP client, batching and
error mapping production does:

    GET {root}/{EntitySet}?$filter=...&$select=...&$top=..&$skip=..&$skiptoken=..
    $filter   eq ne lt le gt ge, in (...), and, or, not, parentheses; string literals with
              '' escapes, Edm.Date (2024-01-01), numbers, null; navigation paths
              (to_Customer/ExternalReference)
    paging    server-driven: at most `page_size` rows (or `Prefer: odata.maxpagesize`),
              then an `@odata.nextLink` with `$skiptoken`, as CAP does
    errors    {"error": {"code": "400", "message": "..."}}

tests/test_erp.py runs one contract suite against this server and CAP alike; that is what
makes it a faithful stand-in. It runs on the caller's event loop rather than a thread: the
data is immutable, requests are short, and the loop that opens it closes it (no cross-thread
shutdown, no session bound to another loop).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from datasources import frozen
from datasources.erp.demo import COLUMNS, KEYS, ErpData, Row, Value

ROOTS = {"stock": "/odata/v4/stock", "pricing": "/odata/v4/pricing"}
DEFAULT_PAGE_SIZE = 10_000  # as the CAP fixture; CAP itself defaults to 1000
# Navigation properties: entity set -> name -> (target set, local property = target key).
_NAVIGATIONS = {"ConditionRecord": {"to_Customer": ("Customer", "Customer")}}
_SYSTEM_OPTIONS = {"$filter", "$select", "$top", "$skip", "$skiptoken", "$format"}


class FilterError(ValueError):
    """The $filter uses something outside the supported subset, or is malformed."""


# --- $filter: tokenizer and recursive-descent parser ---------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<date>\d{4}-\d{2}-\d{2})(?![\d:T])"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*)"
    r"|(?P<punct>[(),]))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
}
Resolve = Callable[[Row, str], Value | None]
Predicate = Callable[[Row], bool]


@frozen.record
class _Const:
    value: Value | None


Operand = Callable[[Row], Value | None] | _Const


def _tokens(text: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            if text[at:].strip() == "":
                break
            raise FilterError(f"cannot read $filter at {text[at : at + 20]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        at = match.end()
    return out


class _Parser:
    def __init__(self, text: str, resolve: Resolve) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self._resolve = resolve
        self._depth = 0  # > 0 inside parentheses or `not`
        self._top_level_or = False
        self._narrowing: dict[str, frozenset[Value | None]] = {}

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._at != len(self._tokens):
            raise FilterError(f"unexpected {self._tokens[self._at][1]!r} in $filter")
        return predicate

    def narrowing(self) -> dict[str, frozenset[Value | None]]:
        """Columns every matching row must hold one of these values in: the `col eq v` and
        `col in (...)` conjuncts at the top level, usable as an index lookup."""
        return {} if self._top_level_or else self._narrowing

    def _peek(self) -> str | None:
        return self._tokens[self._at][1] if self._at < len(self._tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        if self._at >= len(self._tokens):
            raise FilterError("$filter ends too early")
        token = self._tokens[self._at]
        if expected is not None and token[1] != expected:
            raise FilterError(f"expected {expected!r}, found {token[1]!r} in $filter")
        self._at += 1
        return token

    def _or(self) -> Predicate:
        left = self._and()
        while self._peek() == "or":
            self._take()
            self._top_level_or = self._top_level_or or self._depth == 0
            left = _either(left, self._and())
        return left

    def _and(self) -> Predicate:
        left = self._unary()
        while self._peek() == "and":
            self._take()
            left = _both(left, self._unary())
        return left

    def _unary(self) -> Predicate:
        if self._peek() == "not":
            self._take()
            self._depth += 1
            inner = self._unary()
            self._depth -= 1
            return lambda row: not inner(row)
        if self._peek() == "(":
            self._take("(")
            self._depth += 1
            inner = self._or()
            self._depth -= 1
            self._take(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        left = self._operand()
        _, op = self._take()
        if op == "in":
            self._take("(")
            values = [self._operand()]
            while self._peek() == ",":
                self._take(",")
                values.append(self._operand())
            self._take(")")
            if all(isinstance(v, _Const) for v in values):
                members = frozenset(v.value for v in values if isinstance(v, _Const))
                self._narrow(left, members)
                return lambda row: _value(left, row) in members
            return lambda row: _value(left, row) in {_value(v, row) for v in values}
        compare = _COMPARE.get(op)
        if compare is None:
            raise FilterError(f"operator {op!r} is not supported in $filter")
        right = self._operand()
        if op == "eq" and isinstance(right, _Const):
            self._narrow(left, frozenset({right.value}))
        return lambda row: compare(_value(left, row), _value(right, row))

    def _narrow(self, operand: Operand, values: frozenset[Value | None]) -> None:
        column = getattr(operand, "column", None)
        if self._depth == 0 and column is not None:
            known = self._narrowing.get(column)
            self._narrowing[column] = values if known is None else known & values

    def _operand(self) -> Operand:
        kind, text = self._take()
        if kind == "string":
            return _Const(text[1:-1].replace("''", "'"))
        if kind == "date":
            return _Const(date.fromisoformat(text))
        if kind == "number":
            return _Const(Decimal(text))
        if kind == "name" and text == "null":
            return _Const(None)
        if kind == "name":
            self._resolve({}, text)  # unknown properties fail now, as a 400, not per row
            return _Path(text, self._resolve)
        raise FilterError(f"unexpected {text!r} in $filter")


class _Path:
    """A property path; `column` is set when it is a plain column (indexable)."""

    def __init__(self, path: str, resolve: Resolve) -> None:
        self.column = None if "/" in path else path
        self._path = path
        self._resolve = resolve

    def __call__(self, row: Row) -> Value | None:
        return self._resolve(row, self._path)


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) or b(row)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda row: a(row) and b(row)


def _value(operand: Operand, row: Row) -> Value | None:
    return operand.value if isinstance(operand, _Const) else operand(row)


# --- the server ------------------------------------------------------------------------------


@frozen.record
class EmbeddedErp:
    """Where the embedded ERP listens: the service roots to put in `ErpSettings`."""

    stock_url: str
    pricing_url: str


class _Service:
    def __init__(self, data: ErpData, page_size: int) -> None:
        self._services = data.entity_sets()
        self._sets = {name: rows for sets in self._services.values() for name, rows in sets.items()}
        self._page_size = page_size
        self._indexes = {
            name: {row[KEYS[name][0]]: row for row in rows}
            for name, rows in self._sets.items()
            if len(KEYS[name]) == 1
        }
        self._columns = {name: COLUMNS[name] for name in self._sets}
        self._resolvers: dict[str, Resolve] = {}
        self._by_column: dict[tuple[str, str], dict[Value | None, list[int]]] = {}

    def routes(self, service: str, root: str) -> list[web.RouteDef]:
        names = set(self._services[service])

        async def read(request: web.Request) -> web.Response:
            name = request.match_info["entity_set"]
            if name not in names:
                return _error(404, f'Invalid resource path "{name}"')
            try:
                return self._read(request, name)
            except FilterError as exc:
                return _error(400, str(exc))
            except TypeError as exc:  # a date compared with a string, and the like
                return _error(400, f"incompatible operands in $filter: {exc}")

        return [web.get(f"{root}/{{entity_set}}", read)]

    def _resolver(self, entity_set: str) -> Resolve:
        if entity_set not in self._resolvers:
            self._resolvers[entity_set] = self._new_resolver(entity_set)
        return self._resolvers[entity_set]

    def _new_resolver(self, entity_set: str) -> Resolve:
        columns = set(self._columns[entity_set])
        navigations = _NAVIGATIONS.get(entity_set, {})

        def resolve(row: Row, path: str) -> Value | None:
            head, _, rest = path.partition("/")
            if not rest:
                if head not in columns:
                    raise FilterError(f'Property "{head}" does not exist in "{entity_set}"')
                return row.get(head)
            if head not in navigations:
                raise FilterError(f'Navigation "{head}" does not exist in "{entity_set}"')
            target, local = navigations[head]
            if not row:  # validating the path, not reading a row
                self._resolver(target)({}, rest)
                return None
            key = row.get(local)
            related = None if key is None else self._indexes[target].get(key)
            return None if related is None else self._resolver(target)(related, rest)

        return resolve

    def _candidates(
        self, name: str, narrowing: Mapping[str, frozenset[Value | None]]
    ) -> Sequence[Row]:
        """The rows a filter can match, through a column index when it names one: scanning
        every condition record of the demo set takes longer than the adapter's timeout."""
        rows = self._sets[name]
        if not narrowing:
            return rows
        # The conjunct that leaves the fewest rows (`Product in (...)`, not a stock type).
        positions = min(
            (
                [p for v in values for p in self._column_index(name, column).get(v, ())]
                for column, values in narrowing.items()
            ),
            key=len,
        )
        return [rows[p] for p in sorted(positions)]

    def _column_index(self, name: str, column: str) -> Mapping[Value | None, list[int]]:
        key = (name, column)
        if key not in self._by_column:
            index: dict[Value | None, list[int]] = {}
            for position, row in enumerate(self._sets[name]):
                index.setdefault(row.get(column), []).append(position)
            self._by_column[key] = index
        return self._by_column[key]

    def _read(self, request: web.Request, name: str) -> web.Response:
        query = request.rel_url.query
        unknown = {k for k in query if k.startswith("$")} - _SYSTEM_OPTIONS
        if unknown:
            raise FilterError(f"system query option {sorted(unknown)[0]} is not supported")
        resolve = self._resolver(name)
        rows: Sequence[Row] = self._sets[name]
        if text := query.get("$filter"):
            parser = _Parser(text, resolve)
            predicate = parser.parse()
            rows = [row for row in self._candidates(name, parser.narrowing()) if predicate(row)]
        select = [p for p in query.get("$select", "").split(",") if p]
        for prop in select:
            resolve({}, prop)
        skip = _int(query, "$skip") + _int(query, "$skiptoken")
        top = _int(query, "$top", default=None)
        preferred = _max_page_size(request.headers.get("Prefer"))
        page_size = min(self._page_size, preferred) if preferred else self._page_size
        end = len(rows) if top is None else min(len(rows), _int(query, "$skip") + top)
        page = rows[skip : min(end, skip + page_size)]
        body: dict[str, Any] = {
            "@odata.context": f"$metadata#{name}",
            "value": [_project(row, select) for row in page],
        }
        if skip + len(page) < end:
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            token = _int(query, "$skiptoken") + len(page)
            body["@odata.nextLink"] = f"{name}?{urlencode({**params, '$skiptoken': token})}"
        return web.Response(
            body=json.dumps(body, default=_json_value), content_type="application/json"
        )


def _int(query: Mapping[str, str], key: str, default: int | None = 0) -> Any:
    if key not in query:
        return default
    try:
        value = int(query[key])
    except ValueError as exc:
        raise FilterError(f"{key} must be a non-negative integer") from exc
    if value < 0:
        raise FilterError(f"{key} must be a non-negative integer")
    return value


def _max_page_size(prefer: str | None) -> int | None:
    match = re.search(r"odata\.maxpagesize=(\d+)", prefer or "")
    return max(1, int(match.group(1))) if match else None


def _project(row: Row, select: Sequence[str]) -> Row:
    return {k: row[k] for k in select} if select else row


def _json_value(value: object) -> object:
    if isinstance(value, Decimal):
        # The shortest float repr of a Decimal(15,2) or (13,3) reads back as the same decimal.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _error(status: int, message: str) -> web.Response:
    body = {"error": {"code": str(status), "message": message}}
    return web.Response(status=status, body=json.dumps(body), content_type="application/json")


@asynccontextmanager
async def serve_embedded_erp(
    data: ErpData, *, host: str = "127.0.0.1", port: int = 0, page_size: int = DEFAULT_PAGE_SIZE
) -> AsyncIterator[EmbeddedErp]:
    """Serve `data` on `host:port` (0: a free port) on the running loop until the block ends."""
    service = _Service(data, page_size)
    app = web.Application()
    for name, root in ROOTS.items():
        app.add_routes(service.routes(name, root))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # Our own socket: the chosen port is known without reaching into aiohttp's site.
    sock = socket.create_server((host, port))
    try:
        await web.SockSite(runner, sock).start()
        bound = sock.getsockname()[1]
        base = f"http://{host}:{bound}"
        yield EmbeddedErp(stock_url=base + ROOTS["stock"], pricing_url=base + ROOTS["pricing"])
    finally:
        await runner.cleanup()
        sock.close()
