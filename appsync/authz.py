"""Field-level authorization as AppSync enforces it (APPSYNC.md §2.4).

For every resolved object field, `allowed(field)` is the set of modes named by auth
directives on the field, else on its parent type, else the API's default mode:

- a field directive replaces the type's directives (never merges with them);
- once a field or type is annotated, the default mode is not implicitly allowed there;
- a field returning an object type is also checked against that type's directives (else
  the default mode): failing it names the return type, `Not Authorized to access
  iamToPlain on type Plain`; for an interface or union every possible type must pass
  (AppSync's handling is unverified; this is the conservative reading);
- under Cognito user pools, `cognito_groups` on the applicable directive must intersect
  the caller's groups; groups mean nothing in other modes;
- a Lambda authorizer's `deniedFields` ("Type.field" or a field ARN) resolve to null with
  no error and without running their resolver (AppSync's docs: "forcibly changed to null").

A refused field is null plus one error entry `{errorType: "Unauthorized", message: "Not
Authorized to access <field> on type <Type>"}`; null propagates per GraphQL rules.

Introspection fields (`__typename`, `__schema`, `__type`) are not checked. Input objects'
directives are not enforced (AppSync's INPUT_OBJECT locations are for schema validation).

Cost: the rules are read from the schema's directives once per schema and resolved to one
table per (mode, groups, deniedFields) combination, so the per-field check is a single
dict lookup, synchronous (ENGINES.md: an async check on list fields costs +100 %).

Install: pass the `FieldAuthorization` instance in `strawberry.Schema(extensions=[...])`
(it is the per-request extension factory) and call `prepare(schema)` at build. It is a
middleware, so it runs before any resolver, cached ones included (appsync.cache wraps
resolvers, inside every middleware). The request context must carry `caller`.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, Literal, Protocol

import strawberry
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from appsync.auth.modes import AuthMode
from appsync.errors import AppSyncError
from datasources import frozen
from schema.directives import AwsApiKey, AwsCognitoUserPools, AwsIam, AwsLambda, AwsOidc

__all__ = [
    "UNAUTHORIZED",
    "AuthMode",
    "AuthRule",
    "CallerLike",
    "FieldAuthorization",
    "Grant",
    "MissingCallerError",
    "auth_table",
    "caller_of",
    "not_authorized",
]

UNAUTHORIZED: Final = "Unauthorized"


class CallerLike(Protocol):
    """What this module reads of `appsync.auth.identity.Caller`; any such object will do
    (the realtime endpoint may check a subscription with one)."""

    @property
    def mode(self) -> str: ...  # an AuthMode value
    @property
    def identity(self) -> Mapping[str, Any] | None: ...
    @property
    def groups(self) -> frozenset[str]: ...
    @property
    def denied_fields(self) -> frozenset[str]: ...  # "Type.field" (field ARNs tolerated)
    @property
    def source_ip(self) -> str | None: ...


class MissingCallerError(RuntimeError):
    """The context has no `caller`: authentication is not wired in front of the schema."""


DIRECTIVE_MODES: Final[Mapping[type, AuthMode]] = {
    AwsApiKey: AuthMode.API_KEY,
    AwsIam: AuthMode.AWS_IAM,
    AwsOidc: AuthMode.OPENID_CONNECT,
    AwsLambda: AuthMode.AWS_LAMBDA,
    AwsCognitoUserPools: AuthMode.AMAZON_COGNITO_USER_POOLS,
}
_FIELD_ARN = re.compile(r"^arn:[^:]+:appsync:[^:]*:[^:]*:apis/[^/]+/types/([^/]+)/fields/([^/]+)$")


@frozen.record
class Grant:
    """Who may pass one check. `modes` None means "the API's default mode only"."""

    modes: frozenset[AuthMode] | None
    cognito_groups: frozenset[str] | None  # None: any user of the pool
    source: Literal["field", "type", "default"]

    def allowed_modes(self, default_mode: AuthMode) -> frozenset[AuthMode]:
        return frozenset({default_mode}) if self.modes is None else self.modes


@frozen.record
class AuthRule:
    """The two checks AppSync makes when it resolves `type_name.field_name`."""

    type_name: str
    field_name: str
    field: Grant  # field directives, else the parent type's, else the default mode
    return_type: str | None  # the named type returned when it is a composite, else None
    # That type's directives, else the default mode; for an interface or union one grant
    # per possible object type, all of which must pass (AppSync's handling of abstract
    # return types is unverified: this is the conservative reading).
    returns: tuple[Grant, ...]


_DEFAULT: Final = Grant(None, None, "default")


def not_authorized(field_name: str, type_name: str) -> str:
    return f"Not Authorized to access {field_name} on type {type_name}"


def auth_table(schema: strawberry.Schema) -> dict[tuple[str, str], AuthRule]:
    """Every object field's rule, read from the schema directives (introspection excluded)."""
    core = schema._schema
    table: dict[tuple[str, str], AuthRule] = {}
    for type_name, graphql_type in core.type_map.items():
        if type_name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        type_grant = _grant(_directives(graphql_type.extensions), "type")
        for field_name, field in graphql_type.fields.items():
            field_grant = _grant(_directives(field.extensions), "field") or type_grant
            return_type, returns = _return_grants(core, get_named_type(field.type))
            table[(type_name, field_name)] = AuthRule(
                type_name, field_name, field_grant or _DEFAULT, return_type, returns
            )
    return table


def caller_of(context: Any) -> CallerLike:
    """`context.caller`, or `MissingCallerError`: no caller means no authorization, never all."""
    caller: CallerLike | None = getattr(context, "caller", None)
    if caller is None:
        raise MissingCallerError(
            "the request context has no `caller`; authentication must run before execution"
        )
    return caller


# What one (type, field) resolves to for one caller: absent = allowed, a message = refused
# with Unauthorized, _NULLED = null without an error (Lambda deniedFields).
class _Nulled:
    __slots__ = ()


_NULLED: Final = _Nulled()
_Outcome = str | _Nulled
_Outcomes = Mapping[tuple[str, str], _Outcome]
# Per mode: key -> the checks still to make, in order: (groups that must intersect the
# caller's, or None for an outright refusal; the refusal's message).
_Checks = tuple[tuple[frozenset[str] | None, str], ...]
_OUTCOME_CACHE_SIZE = 1024


class _Tables:
    """One schema's rules resolved for a default mode; outcomes cached per caller shape."""

    def __init__(self, rules: Mapping[tuple[str, str], AuthRule], default_mode: AuthMode):
        self.checks: dict[AuthMode, dict[tuple[str, str], _Checks]] = {
            mode: _mode_checks(rules, mode, default_mode) for mode in AuthMode
        }
        self._outcomes: dict[tuple[AuthMode, frozenset[str], frozenset[str]], _Outcomes] = {}

    def outcomes(self, mode: AuthMode, groups: frozenset[str], denied: frozenset[str]) -> _Outcomes:
        if mode is not AuthMode.AMAZON_COGNITO_USER_POOLS:
            groups = frozenset()  # groups only matter under Cognito: share one table
        cache_key = (mode, groups, denied)
        found = self._outcomes.get(cache_key)
        if found is None:
            if len(self._outcomes) >= _OUTCOME_CACHE_SIZE:
                self._outcomes.clear()  # callers' shapes are few; this bounds a flood
            found = self._outcomes[cache_key] = self._resolve(mode, groups, denied)
        return found

    def _resolve(self, mode: AuthMode, groups: frozenset[str], denied: frozenset[str]) -> _Outcomes:
        outcomes: dict[tuple[str, str], _Outcome] = {}
        for key in _denied_keys(denied):
            outcomes[key] = _NULLED
        for key, checks in self.checks[mode].items():
            for required, message in checks:
                if required is None or required.isdisjoint(groups):
                    outcomes[key] = message  # a refusal wins over deniedFields' null
                    break
        return outcomes


class FieldAuthorization:
    """AppSync's directive-based field authorization; the instance is the extension factory.

    `default_mode` is the API's default authentication type (settings). Call `prepare` at
    schema build to read the directives eagerly (a request would otherwise do it once).
    """

    def __init__(self, *, default_mode: AuthMode | str) -> None:
        self.default_mode = AuthMode(default_mode)
        self._tables: weakref.WeakKeyDictionary[strawberry.Schema, _Tables] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> SchemaExtension:
        return _AuthorizationExtension(self)

    def prepare(self, schema: strawberry.Schema) -> None:
        self._tables_for(schema)

    def check(
        self, schema: strawberry.Schema, caller: CallerLike, type_name: str, field_name: str
    ) -> str | None:
        """The refusal message for one field, or None when allowed or merely nulled.

        For checks outside execution, e.g. starting a subscription on `Subscription.x`.
        """
        outcome = self.outcomes(schema, caller).get((type_name, field_name))
        return outcome if isinstance(outcome, str) else None

    def outcomes(self, schema: strawberry.Schema, caller: CallerLike) -> _Outcomes:
        return self._tables_for(schema).outcomes(
            AuthMode(caller.mode), frozenset(caller.groups), frozenset(caller.denied_fields)
        )

    def _tables_for(self, schema: strawberry.Schema) -> _Tables:
        tables = self._tables.get(schema)
        if tables is None:
            tables = self._tables[schema] = _Tables(auth_table(schema), self.default_mode)
        return tables


class _AuthorizationExtension(SchemaExtension):
    def __init__(self, policy: FieldAuthorization) -> None:
        super().__init__()
        self._policy = policy
        self._outcomes: _Outcomes = {}

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        self._outcomes = self._policy.outcomes(execution.schema, caller_of(execution.context))
        yield

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        outcome = self._outcomes.get((info.parent_type.name, info.field_name))
        if outcome is None:
            return _next(root, info, *args, **kwargs)
        if outcome is _NULLED:
            return None
        raise AppSyncError(str(outcome), UNAUTHORIZED)


# --- reading the directives ------------------------------------------------------------


def _directives(extensions: Mapping[str, Any] | None) -> list[object]:
    definition = (extensions or {}).get("strawberry-definition")
    return list(getattr(definition, "directives", None) or ())


def _grant(directives: list[object], source: Literal["field", "type"]) -> Grant | None:
    modes: set[AuthMode] = set()
    groups: frozenset[str] | None = None
    for directive in directives:
        mode = DIRECTIVE_MODES.get(type(directive))
        if mode is None:
            continue  # @aws_subscribe and other non-auth directives
        modes.add(mode)
        if isinstance(directive, AwsCognitoUserPools) and directive.cognito_groups:
            groups = frozenset(group for group in directive.cognito_groups if group)
    return Grant(frozenset(modes), groups or None, source) if modes else None


def _return_grants(core: GraphQLSchema, named: Any) -> tuple[str | None, tuple[Grant, ...]]:
    if isinstance(named, GraphQLObjectType):
        possible: list[GraphQLObjectType] = [named]
    elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        possible = list(core.get_possible_types(named))
    else:
        return None, ()
    grants = tuple(_grant(_directives(t.extensions), "type") or _DEFAULT for t in possible)
    return named.name, grants


def _mode_checks(
    rules: Mapping[tuple[str, str], AuthRule], mode: AuthMode, default_mode: AuthMode
) -> dict[tuple[str, str], _Checks]:
    table: dict[tuple[str, str], _Checks] = {}
    for key, rule in rules.items():
        checks: list[tuple[frozenset[str] | None, str]] = []
        field_check = _check(rule.field, mode, default_mode, rule.field_name, rule.type_name)
        if field_check is not None:
            checks.append(field_check)
        for grant in rule.returns:
            assert rule.return_type is not None
            return_check = _check(grant, mode, default_mode, rule.field_name, rule.return_type)
            if return_check is not None:
                checks.append(return_check)
        if checks:
            table[key] = tuple(checks)
    return table


def _check(
    grant: Grant, mode: AuthMode, default_mode: AuthMode, field_name: str, type_name: str
) -> tuple[frozenset[str] | None, str] | None:
    message = not_authorized(field_name, type_name)
    if mode not in grant.allowed_modes(default_mode):
        return None, message
    if mode is AuthMode.AMAZON_COGNITO_USER_POOLS and grant.cognito_groups:
        return grant.cognito_groups, message
    return None  # allowed outright


def _denied_keys(denied: frozenset[str]) -> Iterator[tuple[str, str]]:
    for entry in denied:
        match = _FIELD_ARN.match(entry)
        if match is not None:
            yield match[1], match[2]
            continue
        type_name, dot, field_name = entry.partition(".")
        if dot and type_name and field_name:
            yield type_name, field_name
