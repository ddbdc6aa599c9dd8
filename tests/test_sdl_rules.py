"""Exported SDL is AppSync's dialect (APPSYNC.md §2.1-2.2) and undeployable schemas fail."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import NewType

import pytest
import strawberry
from graphql import build_schema
from strawberry.schema.config import StrawberryConfig
from strawberry.schema_directive import Location

from schema.directives import (
    AwsApiKey,
    AwsCognitoUserPools,
    AwsIam,
    AwsLambda,
    AwsOidc,
    AwsSubscribe,
)
from schema.scalars import (
    AWS_SCALAR_MAP,
    AWS_SCALAR_NAMES,
    AWSJSON,
    AWSURL,
    AWSDate,
    AWSDateTime,
    AWSEmail,
    AWSIPAddress,
    AWSPhone,
    AWSTime,
    AWSTimestamp,
)
from schema.sdl import (
    APPSYNC_BASE_SDL,
    SchemaExportError,
    check_appsync_schema,
    export_sdl,
    validate_with_appsync_base,
)

CONFIG = StrawberryConfig(scalar_map=AWS_SCALAR_MAP)

SDL_WITH_SYNTAX_ERROR = "type Query { ok: Boolean "
SDL_REDECLARING_AWS_SCALAR = "scalar AWSDate\n\ntype Query { ok: AWSDate }\n"
SDL_WITH_UNKNOWN_DIRECTIVE = "type Query { ok: Boolean @aws_nonsense }\n"
SDL_WITH_CUSTOM_SCALAR = "scalar Money\n\ntype Query { price: Money }\n"
SDL_WITH_ONE_OF = "input Pick @oneOf { a: Int b: Int }\n\ntype Query { ok(p: Pick): Boolean }\n"
SDL_USING_AWS_TYPES = (
    "type Query @aws_api_key {\n"
    '  ok: AWSDate @aws_cognito_user_pools(cognito_groups: ["Admins"])\n'
    "}\n"
)


@strawberry.input(directives=[AwsIam(), AwsCognitoUserPools(cognito_groups=["Admins"])])
class ProductInput:
    released_on: AWSDate
    opens_at: AWSTime
    email: AWSEmail
    phone: AWSPhone


@strawberry.type(directives=[AwsApiKey(), AwsCognitoUserPools(cognito_groups=["Admins", None])])
class Product:
    id: strawberry.ID
    updated_at: AWSDateTime = strawberry.field(directives=[AwsIam()])
    updated_epoch: AWSTimestamp
    attributes: AWSJSON = strawberry.field(directives=[AwsOidc(), AwsLambda()])
    url: AWSURL
    origin_ip: AWSIPAddress


@strawberry.type
class Query:
    @strawberry.field(directives=[AwsApiKey(), AwsIam()])
    def product(self, id: strawberry.ID) -> Product | None:
        return None


@strawberry.type
class Mutation:
    @strawberry.mutation(directives=[AwsCognitoUserPools()])
    def put_product(self, input: ProductInput) -> Product | None:
        return None


@strawberry.type
class Subscription:
    @strawberry.subscription(directives=[AwsSubscribe(mutations=["putProduct"])])
    async def on_put_product(self) -> AsyncGenerator[Product | None, None]:
        yield None


def _appsync_schema(*, incremental: bool = False) -> strawberry.Schema:
    config = StrawberryConfig(
        scalar_map=AWS_SCALAR_MAP, enable_experimental_incremental_execution=incremental
    )
    return strawberry.Schema(Query, mutation=Mutation, subscription=Subscription, config=config)


def test_export_drops_definitions_and_keeps_usages() -> None:
    # given
    schema = _appsync_schema()
    assert "scalar AWSDate" in schema.as_str()

    # when
    sdl = export_sdl(schema)

    # then
    assert "scalar " not in sdl
    assert "directive @" not in sdl
    for usage in (
        'type Product @aws_api_key @aws_cognito_user_pools(cognito_groups: ["Admins", null]) {',
        'input ProductInput @aws_iam @aws_cognito_user_pools(cognito_groups: ["Admins"]) {',
        "  updatedAt: AWSDateTime! @aws_iam",
        "  attributes: AWSJSON! @aws_oidc @aws_lambda",
        "  product(id: ID!): Product @aws_api_key @aws_iam",
        "  putProduct(input: ProductInput!): Product @aws_cognito_user_pools",
        '  onPutProduct: Product @aws_subscribe(mutations: ["putProduct"])',
    ):
        assert usage in sdl
    for name in AWS_SCALAR_NAMES:
        assert f": {name}!" in sdl


def test_exported_sdl_builds_on_the_appsync_base() -> None:
    # given
    sdl = export_sdl(_appsync_schema())

    # when
    validate_with_appsync_base(sdl)
    built = build_schema(APPSYNC_BASE_SDL + "\n" + sdl)

    # then
    assert built.get_type("Product") is not None
    assert built.subscription_type is not None


def test_export_drops_graphql_core_defer_and_stream() -> None:
    # given
    schema = _appsync_schema(incremental=True)
    assert "directive @defer" in schema.as_str()

    # when
    sdl = export_sdl(schema)

    # then
    assert "directive @" not in sdl


def test_export_is_stable() -> None:
    # given
    schema = _appsync_schema()

    # when
    first, second = export_sdl(schema), export_sdl(schema)

    # then
    assert first == second
    assert first.endswith("}\n")


def test_valid_schema_passes_the_startup_check() -> None:
    # given
    schema = _appsync_schema()

    # when / then
    check_appsync_schema(schema)


Money = NewType("Money", str)
HomeMadeDate = NewType("HomeMadeDate", str)


@strawberry.type
class PricedQuery:
    price: Money


@strawberry.type
class HomeMadeDateQuery:
    day: HomeMadeDate


@strawberry.type
class AWSProduct:
    id: strawberry.ID


@strawberry.type
class AwsPrefixedQuery:
    product: AWSProduct


@strawberry.input(one_of=True)
class PickInput:
    a: int | None = strawberry.UNSET
    b: int | None = strawberry.UNSET


@strawberry.type
class OneOfQuery:
    @strawberry.field
    def pick(self, choice: PickInput) -> bool:
        return True


@strawberry.schema_directive(locations=[Location.OBJECT], repeatable=True)
class Tag:
    name: str


@strawberry.type(directives=[Tag(name="a"), Tag(name="b")])
class RepeatableQuery:
    ok: bool


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.interface
class Named(Node):
    name: str


@strawberry.type
class Thing(Named):
    pass


@strawberry.type
class NestedInterfaceQuery:
    thing: Thing


def _priced_schema() -> strawberry.Schema:
    scalar_map = {**AWS_SCALAR_MAP, Money: strawberry.scalar(name="Money")}
    return strawberry.Schema(PricedQuery, config=StrawberryConfig(scalar_map=scalar_map))


def _specified_by_schema() -> strawberry.Schema:
    money = strawberry.scalar(name="Money", specified_by_url="https://example.com/money")
    scalar_map = {**AWS_SCALAR_MAP, Money: money}
    return strawberry.Schema(PricedQuery, config=StrawberryConfig(scalar_map=scalar_map))


def _home_made_aws_date_schema() -> strawberry.Schema:
    scalar_map = {**AWS_SCALAR_MAP, HomeMadeDate: strawberry.scalar(name="AWSDate")}
    return strawberry.Schema(HomeMadeDateQuery, config=StrawberryConfig(scalar_map=scalar_map))


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        pytest.param(_priced_schema, "custom scalar `Money`", id="custom-scalar"),
        pytest.param(_specified_by_schema, "`Money` uses @specifiedBy", id="specified-by"),
        pytest.param(
            _home_made_aws_date_schema,
            "type name `AWSDate` uses the reserved `AWS` prefix",
            id="home-made-aws-scalar",
        ),
        pytest.param(
            lambda: strawberry.Schema(AwsPrefixedQuery, config=CONFIG),
            "type name `AWSProduct` uses the reserved `AWS` prefix",
            id="aws-prefixed-type",
        ),
        pytest.param(
            lambda: strawberry.Schema(OneOfQuery, config=CONFIG),
            "`PickInput` uses @oneOf",
            id="one-of",
        ),
        pytest.param(
            lambda: strawberry.Schema(RepeatableQuery, config=CONFIG),
            "directive `@tag` is repeatable",
            id="repeatable",
        ),
        pytest.param(
            lambda: strawberry.Schema(NestedInterfaceQuery, config=CONFIG),
            "interface `Named` implements other interfaces",
            id="interface-implements-interface",
        ),
    ],
)
def test_undeployable_schema_fails_check_and_export(
    build: Callable[[], strawberry.Schema], problem: str
) -> None:
    # given
    schema = build()

    # when
    with pytest.raises(SchemaExportError) as at_startup:
        check_appsync_schema(schema)
    with pytest.raises(SchemaExportError) as at_export:
        export_sdl(schema)

    # then
    assert any(problem in p for p in at_startup.value.problems)
    assert at_export.value.problems == at_startup.value.problems
    assert problem in str(at_export.value)


@pytest.mark.parametrize(
    ("sdl", "problem"),
    [
        pytest.param(SDL_WITH_SYNTAX_ERROR, "Syntax Error", id="syntax-error"),
        pytest.param(SDL_REDECLARING_AWS_SCALAR, "AWSDate", id="redeclared-aws-scalar"),
        pytest.param(SDL_WITH_UNKNOWN_DIRECTIVE, "aws_nonsense", id="unknown-directive"),
        pytest.param(SDL_WITH_CUSTOM_SCALAR, "custom scalar `Money`", id="custom-scalar"),
        pytest.param(SDL_WITH_ONE_OF, "`Pick` uses @oneOf", id="one-of"),
    ],
)
def test_sdl_that_appsync_would_refuse_fails_validation(sdl: str, problem: str) -> None:
    # given / when
    with pytest.raises(SchemaExportError) as caught:
        validate_with_appsync_base(sdl)

    # then
    assert problem in str(caught.value)


def test_sdl_using_aws_scalars_and_directives_validates() -> None:
    # given / when / then
    validate_with_appsync_base(SDL_USING_AWS_TYPES)
