"""Field-level authorization (appsync.authz): APPSYNC.md §2.4, on a schema of our directives.

The matrix runs every caller (one per auth mode, Cognito three times for its groups) against
every annotated field and type below, and asserts the data and the AppSync error entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import strawberry
from graphql import parse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.extensions import ParserCache, ValidationCache

from appsync.auth.identity import Caller
from appsync.authz import (
    UNAUTHORIZED,
    AuthMode,
    FieldAuthorization,
    MissingCallerError,
    auth_table,
    not_authorized,
)
from appsync.errors import INTERNAL_FAILURE, format_error
from appsync.http import GraphQLEndpoint
from appsync.messages import translate_error
from schema.directives import AwsApiKey, AwsCognitoUserPools, AwsIam, AwsLambda, AwsOidc

ALL_MODES = [AwsApiKey(), AwsIam(), AwsOidc(), AwsLambda(), AwsCognitoUserPools()]


@dataclass
class Context:
    caller: Caller | None


CALLS: dict[str, int] = {}


def _called(name: str) -> str:
    CALLS[name] = CALLS.get(name, 0) + 1
    return name


@strawberry.type
class Plain:
    """No directive anywhere: reachable only through the default mode."""

    name: str = "plain"


@strawberry.type(directives=[AwsIam(), AwsApiKey()])
class Widget:
    id: strawberry.ID = strawberry.ID("w1")
    # A field directive replaces the type's: API_KEY may read `id`, not `secret`.
    secret: str | None = strawberry.field(default="s3cret", directives=[AwsIam()])
    # Unreachable through Widget for Cognito callers: the return-type check refuses first.
    staff_note: str | None = strawberry.field(
        default="note", directives=[AwsCognitoUserPools(cognito_groups=["staff"])]
    )

    @strawberry.field
    def plain(self) -> Plain | None:
        return Plain()


@strawberry.type(directives=[AwsCognitoUserPools(cognito_groups=["staff", "admin"]), AwsOidc()])
class Ledger:
    total: int = 42
    memo: str | None = strawberry.field(default="memo", directives=[AwsCognitoUserPools()])


@strawberry.type
class Query:
    @strawberry.field
    def open(self) -> str | None:
        return _called("open")

    @strawberry.field(directives=[AwsApiKey()])
    def key_only(self) -> str | None:
        return _called("keyOnly")

    @strawberry.field(directives=[AwsIam()])
    def iam_only(self) -> str | None:
        return _called("iamOnly")

    @strawberry.field(directives=[AwsOidc()])
    def oidc_only(self) -> str | None:
        return _called("oidcOnly")

    @strawberry.field(directives=[AwsLambda()])
    def lambda_only(self) -> str | None:
        return _called("lambdaOnly")

    @strawberry.field(directives=[AwsCognitoUserPools()])
    def pool_only(self) -> str | None:
        return _called("poolOnly")

    @strawberry.field(directives=[AwsCognitoUserPools(cognito_groups=["staff"])])
    def staff_only(self) -> str | None:
        return _called("staffOnly")

    @strawberry.field(directives=ALL_MODES)
    def widget(self) -> Widget | None:
        return Widget()

    @strawberry.field(directives=ALL_MODES)
    def widgets(self) -> list[Widget] | None:
        return [Widget(id=strawberry.ID("w1")), Widget(id=strawberry.ID("w2"))]

    @strawberry.field(directives=[AwsIam()])
    def iam_plain(self) -> Plain | None:
        return Plain()

    @strawberry.field(directives=[AwsCognitoUserPools(), AwsOidc(), AwsApiKey()])
    def ledger(self) -> Ledger | None:
        return Ledger()

    @strawberry.field(directives=ALL_MODES)
    def must_widget(self) -> Widget:
        return Widget()


CALLERS: dict[str, Caller] = {
    "api_key": Caller(AuthMode.API_KEY, None),
    "iam": Caller(AuthMode.AWS_IAM, {"userArn": "arn:aws:iam::111122223333:user/pos"}),
    "oidc": Caller(AuthMode.OPENID_CONNECT, {"sub": "o-1", "issuer": "https://idp"}),
    "lambda": Caller(AuthMode.AWS_LAMBDA, {"resolverContext": {"tenant": "t1"}}),
    "cognito": Caller(AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "c-1"}),
    "cognito_staff": Caller(
        AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "c-2"}, frozenset({"staff"})
    ),
    "cognito_admin": Caller(
        AuthMode.AMAZON_COGNITO_USER_POOLS, {"sub": "c-3"}, frozenset({"admin", "other"})
    ),
}
COGNITO = {"cognito", "cognito_staff", "cognito_admin"}


def _deny(path: list[str | int], field_name: str, type_name: str) -> tuple[list[str | int], str]:
    return path, not_authorized(field_name, type_name)


@dataclass(frozen=True)
class Case:
    """One annotated field or type: who gets `data`, and where everyone else is refused."""

    name: str
    query: str
    data: dict[str, Any]
    allowed: frozenset[str]
    # caller -> (error path, message); every caller is in `allowed` or here.
    denied: dict[str, tuple[list[str | int], str]] = field(default_factory=dict)
    # the data a refused caller gets (default: the refused field's parent chain with null)
    denied_data: dict[str, dict[str, Any]] = field(default_factory=dict)


def _only(name: str, callers: set[str], field_name: str, data: str | None = None) -> Case:
    """A root field with directives for `callers`' mode(s) only."""
    return Case(
        name,
        f"{{ {field_name} }}",
        {field_name: data or field_name},
        frozenset(callers),
        {c: _deny([field_name], field_name, "Query") for c in CALLERS if c not in callers},
    )


_AT_WIDGET = {
    c: _deny(["widget"], "widget", "Widget") for c in ("oidc", "lambda", *sorted(COGNITO))
}

CASES: list[Case] = [
    # No directive: the default mode (API_KEY) only.
    _only("default mode only", {"api_key"}, "open"),
    _only("@aws_api_key", {"api_key"}, "keyOnly"),
    # Annotated: the default mode is no longer implied (API_KEY refused).
    _only("@aws_iam, default not implicit", {"iam"}, "iamOnly"),
    _only("@aws_oidc", {"oidc"}, "oidcOnly"),
    _only("@aws_lambda", {"lambda"}, "lambdaOnly"),
    _only("@aws_cognito_user_pools, any group", COGNITO, "poolOnly"),
    # cognito_groups: the caller's groups must intersect.
    _only("@aws_cognito_user_pools(staff)", {"cognito_staff"}, "staffOnly"),
    Case(
        "type directives govern unannotated fields; return type checked",
        "{ widget { id } }",
        {"widget": {"id": "w1"}},
        frozenset({"api_key", "iam"}),
        _AT_WIDGET,
        {c: {"widget": None} for c in _AT_WIDGET},
    ),
    Case(
        "field directive replaces the type's",
        "{ widget { secret } }",
        {"widget": {"secret": "s3cret"}},
        frozenset({"iam"}),
        {"api_key": _deny(["widget", "secret"], "secret", "Widget"), **_AT_WIDGET},
        {"api_key": {"widget": {"secret": None}}, **{c: {"widget": None} for c in _AT_WIDGET}},
    ),
    Case(
        "a Cognito field on a type Cognito may not reach",
        "{ widget { staffNote } }",
        {},
        frozenset(),
        {
            "api_key": _deny(["widget", "staffNote"], "staffNote", "Widget"),
            "iam": _deny(["widget", "staffNote"], "staffNote", "Widget"),
            **_AT_WIDGET,
        },
        {
            "api_key": {"widget": {"staffNote": None}},
            "iam": {"widget": {"staffNote": None}},
            **{c: {"widget": None} for c in _AT_WIDGET},
        },
    ),
    Case(
        "nested return type without the caller's mode",
        "{ widget { plain { name } } }",
        {"widget": {"plain": {"name": "plain"}}},
        frozenset({"api_key"}),
        {"iam": _deny(["widget", "plain"], "plain", "Plain"), **_AT_WIDGET},
        {"iam": {"widget": {"plain": None}}, **{c: {"widget": None} for c in _AT_WIDGET}},
    ),
    Case(
        "root field allowed for IAM returning a type without @aws_iam",
        "{ iamPlain { name } }",
        {},
        frozenset(),
        {
            "iam": _deny(["iamPlain"], "iamPlain", "Plain"),
            **{c: _deny(["iamPlain"], "iamPlain", "Query") for c in CALLERS if c != "iam"},
        },
        {c: {"iamPlain": None} for c in CALLERS},
    ),
    Case(
        "return type's cognito_groups apply",
        "{ ledger { total } }",
        {"ledger": {"total": 42}},
        frozenset({"oidc", "cognito_staff", "cognito_admin"}),
        {
            "api_key": _deny(["ledger"], "ledger", "Ledger"),
            "cognito": _deny(["ledger"], "ledger", "Ledger"),
            "iam": _deny(["ledger"], "ledger", "Query"),
            "lambda": _deny(["ledger"], "ledger", "Query"),
        },
        {c: {"ledger": None} for c in ("api_key", "cognito", "iam", "lambda")},
    ),
    Case(
        "field without groups replaces the type's groups",
        "{ ledger { memo } }",
        {"ledger": {"memo": "memo"}},
        frozenset({"cognito_staff", "cognito_admin"}),
        {
            "oidc": _deny(["ledger", "memo"], "memo", "Ledger"),
            "api_key": _deny(["ledger"], "ledger", "Ledger"),
            "cognito": _deny(["ledger"], "ledger", "Ledger"),
            "iam": _deny(["ledger"], "ledger", "Query"),
            "lambda": _deny(["ledger"], "ledger", "Query"),
        },
        {
            "oidc": {"ledger": {"memo": None}},
            **{c: {"ledger": None} for c in ("api_key", "cognito", "iam", "lambda")},
        },
    ),
]

MATRIX = [(case, caller) for case in CASES for caller in CALLERS]


def build_schema(default_mode: AuthMode = AuthMode.API_KEY) -> strawberry.Schema:
    authorization = FieldAuthorization(default_mode=default_mode)
    schema = strawberry.Schema(
        query=Query,
        extensions=[
            lambda: ParserCache(maxsize=64),
            lambda: ValidationCache(maxsize=64),
            authorization,
        ],
    )
    authorization.prepare(schema)
    return schema


SCHEMA = build_schema()


async def run(
    query: str, caller: Caller | None, schema: strawberry.Schema = SCHEMA
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    result = await schema.execute(query, context_value=Context(caller))
    document = parse(query)
    errors = [
        format_error(translate_error(e, document, schema._schema)) for e in result.errors or []
    ]
    return result.data, errors


def test_the_matrix_covers_every_caller_of_every_case() -> None:
    for case in CASES:
        assert case.allowed | set(case.denied) == set(CALLERS), case.name
        assert not case.allowed & set(case.denied), case.name
    assert len(MATRIX) == len(CASES) * len(CALLERS) == 14 * 7


@pytest.mark.parametrize(
    ("case", "caller"), MATRIX, ids=[f"{case.name}-{caller}" for case, caller in MATRIX]
)
async def test_matrix(case: Case, caller: str) -> None:
    # given / when
    data, errors = await run(case.query, CALLERS[caller])

    # then
    if caller in case.allowed:
        assert errors == []
        assert data == case.data
        return
    path, message = case.denied[caller]
    assert data == case.denied_data.get(caller, {path[0]: None})
    assert len(errors) == 1
    assert errors[0] == {
        "path": path,
        "data": None,
        "errorType": UNAUTHORIZED,
        "errorInfo": None,
        "locations": errors[0]["locations"],
        "message": message,
    }
    assert errors[0]["locations"][0]["sourceName"] is None


async def test_the_appsync_example_verbatim() -> None:
    # §2.4's example shape: path, data, errorType, errorInfo, locations, message, in that order
    data, errors = await run("query {\n  iamOnly\n}", CALLERS["api_key"])

    assert data == {"iamOnly": None}
    assert errors == [
        {
            "path": ["iamOnly"],
            "data": None,
            "errorType": "Unauthorized",
            "errorInfo": None,
            "locations": [{"line": 2, "column": 3, "sourceName": None}],
            "message": "Not Authorized to access iamOnly on type Query",
        }
    ]
    assert list(errors[0]) == ["path", "data", "errorType", "errorInfo", "locations", "message"]


async def test_every_list_item_is_checked() -> None:
    data, errors = await run("{ widgets { id secret } }", CALLERS["api_key"])

    assert data == {"widgets": [{"id": "w1", "secret": None}, {"id": "w2", "secret": None}]}
    assert [(e["path"], e["message"]) for e in errors] == [
        (["widgets", 0, "secret"], "Not Authorized to access secret on type Widget"),
        (["widgets", 1, "secret"], "Not Authorized to access secret on type Widget"),
    ]


async def test_a_refused_non_null_field_nulls_its_parent() -> None:
    data, errors = await run("{ open mustWidget { id } }", CALLERS["oidc"])

    assert data is None
    assert [(e["path"], e["message"], e["errorType"]) for e in errors] == [
        (["open"], "Not Authorized to access open on type Query", UNAUTHORIZED),
        (["mustWidget"], "Not Authorized to access mustWidget on type Widget", UNAUTHORIZED),
    ]


async def test_a_refused_field_never_runs_its_resolver() -> None:
    before = CALLS.get("iamOnly", 0)

    await run("{ iamOnly }", CALLERS["api_key"])

    assert CALLS.get("iamOnly", 0) == before


async def test_the_default_mode_is_a_setting() -> None:
    # given: IAM is the default, so unannotated Query.open and type Plain are IAM's
    schema = build_schema(AuthMode.AWS_IAM)

    # when
    iam = await run("{ open iamPlain { name } widget { plain { name } } }", CALLERS["iam"], schema)
    api_key = await run("{ open }", CALLERS["api_key"], schema)

    # then
    assert iam == (
        {"open": "open", "iamPlain": {"name": "plain"}, "widget": {"plain": {"name": "plain"}}},
        [],
    )
    assert api_key[0] == {"open": None}
    assert api_key[1][0]["message"] == "Not Authorized to access open on type Query"


@pytest.mark.parametrize(
    "denied",
    [
        "Query.lambdaOnly",
        "arn:aws:appsync:us-east-1:111122223333:apis/abcdefghijklmnopqrstuvwxyz/types/Query"
        "/fields/lambdaOnly",
    ],
)
async def test_lambda_denied_fields_resolve_to_null_without_error(denied: str) -> None:
    caller = Caller(AuthMode.AWS_LAMBDA, {"resolverContext": {}}, denied_fields=frozenset({denied}))
    before = CALLS.get("lambdaOnly", 0)

    data, errors = await run("{ lambdaOnly }", caller)

    assert (data, errors) == ({"lambdaOnly": None}, [])
    assert CALLS.get("lambdaOnly", 0) == before


async def test_a_refusal_wins_over_denied_fields() -> None:
    caller = Caller(
        AuthMode.AWS_LAMBDA, {"resolverContext": {}}, denied_fields=frozenset({"Query.open"})
    )

    data, errors = await run("{ open }", caller)

    assert data == {"open": None}
    assert errors[0]["errorType"] == UNAUTHORIZED


async def test_without_a_caller_nothing_resolves() -> None:
    data, errors = await run("{ open }", None)

    assert data is None
    assert [e["errorType"] for e in errors] == [INTERNAL_FAILURE]


async def test_introspection_and_typename_are_not_fields_of_ours() -> None:
    data, errors = await run('{ __typename __type(name: "Widget") { name } }', CALLERS["oidc"])

    assert errors == []
    assert data == {"__typename": "Query", "__type": {"name": "Widget"}}


def test_check_outside_execution_for_subscriptions() -> None:
    authorization = FieldAuthorization(default_mode="API_KEY")

    assert authorization.check(SCHEMA, CALLERS["iam"], "Query", "iamOnly") is None
    assert authorization.check(SCHEMA, CALLERS["api_key"], "Query", "iamOnly") == (
        "Not Authorized to access iamOnly on type Query"
    )


def test_auth_table_reads_directives_once() -> None:
    table = auth_table(SCHEMA)

    open_rule = table[("Query", "open")]
    assert (open_rule.field.source, open_rule.field.modes) == ("default", None)
    secret = table[("Widget", "secret")]
    assert (secret.field.source, secret.field.modes) == ("field", frozenset({AuthMode.AWS_IAM}))
    widget_id = table[("Widget", "id")]
    assert widget_id.field.source == "type"
    assert widget_id.field.modes == frozenset({AuthMode.AWS_IAM, AuthMode.API_KEY})
    iam_plain = table[("Query", "iamPlain")]
    assert iam_plain.return_type == "Plain"
    assert [g.source for g in iam_plain.returns] == ["default"]
    ledger = table[("Query", "ledger")].returns[0]
    assert ledger.cognito_groups == frozenset({"staff", "admin"})
    assert table[("Ledger", "memo")].field.cognito_groups is None
    assert table[("Query", "open")].return_type is None
    assert not any(type_name.startswith("__") for type_name, _ in table)


def test_missing_caller_is_a_wiring_error() -> None:
    from appsync.authz import caller_of

    with pytest.raises(MissingCallerError):
        caller_of(object())


async def test_through_the_http_edge() -> None:
    async def context(_: Request) -> Context:
        return Context(CALLERS["api_key"])

    endpoint = GraphQLEndpoint(SCHEMA, context_getter=context, max_body_bytes=4096, graphiql=False)
    app = Starlette(routes=[Route("/graphql", endpoint)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.post("/graphql", json={"query": "{ keyOnly widget { secret } }"})

    assert response.status_code == 200
    assert response.json() == {
        "data": {"keyOnly": "keyOnly", "widget": {"secret": None}},
        "errors": [
            {
                "path": ["widget", "secret"],
                "data": None,
                "errorType": "Unauthorized",
                "errorInfo": None,
                "locations": [{"line": 1, "column": 20, "sourceName": None}],
                "message": "Not Authorized to access secret on type Widget",
            }
        ],
    }
