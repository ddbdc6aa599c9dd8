"""`commerce-graph deploy`: the plan, and its convergence on AppSync.

Where moto implements the calls (API, keys, schema upload, cache, tags) the deploy runs
against the session's moto server; data sources and resolvers, which moto does not
implement, go through botocore's `Stubber`, which checks every request against AppSync's
service model and the exact parameters expected. The CLI test runs `main` on moto with
those unimplemented operations answered by a small in-test store (`UnimplementedOps`).
"""

from __future__ import annotations

import argparse
import io
import itertools
import re
import subprocess
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from botocore.validate import validate_parameters
from graphql import build_schema as build_graphql_schema
from mypy_boto3_appsync import AppSyncClient

from appsync.auth import AuthMode, AuthSettings
from appsync.auth.settings import IamCredential
from appsync.deploy import apply
from appsync.deploy.apply import SCHEMA_TAG, AppSyncApi, Change, DeployError, Deployment
from appsync.deploy.plan import (
    ECHO_INPUT_JS,
    ON_CART_UPDATED_JS,
    ON_ORDER_STATUS_CHANGED_JS,
    ApiPlan,
    PlanError,
    plan_api,
)
from appsync.deploy.settings import DeploySettings
from appsync.realtime.access import SUBSCRIPTION_HOOKS
from appsync.settings import CACHED_RESOLVERS, EdgeSettings
from datasources.envsettings import SecretStr
from schema.sdl import APPSYNC_BASE_SDL

LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:commerce-graph"
ROLE_ARN = "arn:aws:iam::123456789012:role/commerce-graph-appsync"
PUBLISH = {"publishStockChanged", "publishPriceChanged", "publishOrderStatusChanged"}
WRITES = {
    "CreateGraphqlApi",
    "UpdateGraphqlApi",
    "TagResource",
    "StartSchemaCreation",
    "CreateApiKey",
    "UpdateApiKey",
    "CreateApiCache",
    "UpdateApiCache",
    "DeleteApiCache",
    "CreateDataSource",
    "UpdateDataSource",
    "CreateResolver",
    "UpdateResolver",
    "DeleteResolver",
}
# AppSync needs nothing for AWS_IAM, but AuthSettings (for the local server) wants a credential.
DEVICE = {
    "AKIDEXAMPLE": IamCredential(
        secret_access_key=SecretStr("x"), user_arn="arn:aws:iam::123456789012:user/pos"
    )
}
MOTO_STAGES = ("converge_api", "converge_schema", "converge_api_keys", "converge_cache")


def deploy_settings(**overrides: Any) -> DeploySettings:
    knobs: dict[str, Any] = {
        "api_name": f"cg-test-{uuid.uuid4().hex[:10]}",
        "lambda_function_arn": LAMBDA_ARN,
        "service_role_arn": ROLE_ARN,
        "region": "us-east-1",
    }
    return DeploySettings(**{**knobs, **overrides})


@pytest.fixture(scope="module")
def base_plan() -> ApiPlan:
    """The plan with default auth (API_KEY) and caching off; built once, it is slow."""
    return plan_api(deploy_settings(api_name="base"), auth=AuthSettings(), edge=EdgeSettings())


def named(plan: ApiPlan, settings: DeploySettings) -> ApiPlan:
    return replace(plan, name=settings.api_name)


def make_plan(
    settings: DeploySettings, *, auth: AuthSettings | None = None, edge: EdgeSettings | None = None
) -> ApiPlan:
    return plan_api(settings, auth=auth or AuthSettings(), edge=edge or EdgeSettings())


@pytest.fixture
def moto_client(engine_endpoints: dict[str, str]) -> AppSyncClient:
    return boto3.client("appsync", endpoint_url=engine_endpoints["moto"], region_name="us-east-1")


class CallLog:
    """Every AppSync operation a client sends, with its parameters (botocore's own events)."""

    def __init__(self, client: AppSyncClient) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.appsync.*", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    @property
    def writes(self) -> list[str]:
        return [name for name, _ in self.calls if name in WRITES]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name == operation]


def run_moto_stages(deployment: Deployment) -> list[Change]:
    for stage in MOTO_STAGES:
        getattr(deployment, stage)()
    return deployment.changes


def actions(changes: list[Change], kind: str) -> dict[str, str]:
    return {change.name: change.action for change in changes if change.kind == kind}


# --- the plan -----------------------------------------------------------------------


def test_plan_has_one_resolver_per_query_and_mutation_root_field(base_plan: ApiPlan) -> None:
    # given the schema the plan deploys, read back as AppSync would build it
    deployed = build_graphql_schema(APPSYNC_BASE_SDL + base_plan.schema_sdl)
    assert deployed.query_type is not None
    assert deployed.mutation_type is not None
    roots = [f"Query.{name}" for name in deployed.query_type.fields] + [
        f"Mutation.{name}" for name in deployed.mutation_type.fields
    ]

    # when
    keys = [
        resolver.key for resolver in base_plan.resolvers if resolver.type_name != "Subscription"
    ]

    # then every root field has exactly one resolver, none more
    assert sorted(keys) == sorted(roots)
    assert len(roots) == len(deployed.query_type.fields) + len(deployed.mutation_type.fields) > 10
    by_key = {resolver.key: resolver for resolver in base_plan.resolvers}
    for key in roots:
        resolver = by_key[key]
        if key.removeprefix("Mutation.") in PUBLISH:
            assert (resolver.data_source, resolver.code) == ("Local", ECHO_INPUT_JS)
        else:
            assert (resolver.data_source, resolver.code) == ("CommerceGraphLambda", None)


def test_plan_batches_queries_but_never_mutations(base_plan: ApiPlan) -> None:
    batch = {r.key: r.max_batch_size for r in base_plan.resolvers if r.data_source != "Local"}
    assert {size for key, size in batch.items() if key.startswith("Query.")} == {100}
    assert {size for key, size in batch.items() if key.startswith("Mutation.")} == {0}


def test_plan_gives_every_subscribe_hook_a_none_resolver(base_plan: ApiPlan) -> None:
    subscriptions = {r.field_name: r for r in base_plan.resolvers if r.type_name == "Subscription"}
    assert (
        set(subscriptions) == set(SUBSCRIPTION_HOOKS) == {"onCartUpdated", "onOrderStatusChanged"}
    )
    assert all(r.data_source == "Local" for r in subscriptions.values())
    order_code = subscriptions["onOrderStatusChanged"].code or ""
    assert "extensions.setSubscriptionFilter" in order_code
    assert "util.unauthorized()" in order_code
    cart_code = subscriptions["onCartUpdated"].code or ""
    assert "extensions.setSubscriptionInvalidationFilter" in cart_code


def test_every_appsync_js_resolver_parses_as_an_es_module(
    base_plan: ApiPlan, tmp_path: Path
) -> None:
    """APPSYNC_JS is an ES module with `request` and `response` exports; Node parses it
    (`node --check`, no evaluation) so a syntax error fails here, not at AppSync."""
    coded = [r for r in base_plan.resolvers if r.code]
    assert len(coded) == 5  # the three publish* mutations and the two subscribe hooks
    for resolver in coded:
        source = tmp_path / f"{resolver.key}.mjs"
        source.write_text(resolver.code or "")
        checked = subprocess.run(["node", "--check", str(source)], capture_output=True, text=True)
        assert checked.returncode == 0, (resolver.key, checked.stderr)
        assert re.search(r"^export function request\(ctx\)", resolver.code or "", re.M)
        assert re.search(r"^export function response\(ctx\)", resolver.code or "", re.M)
    broken = tmp_path / "broken.mjs"
    broken.write_text("export function request(ctx) {\n  return {\n}\n")
    assert subprocess.run(["node", "--check", str(broken)], capture_output=True).returncode != 0


def test_plan_auth_modes_are_valid_create_graphql_api_requests(moto_client: AppSyncClient) -> None:
    # given every mode, Cognito as the default
    auth = AuthSettings(
        default_mode=AuthMode.AMAZON_COGNITO_USER_POOLS,
        additional_modes=[
            AuthMode.API_KEY,
            AuthMode.AWS_IAM,
            AuthMode.OPENID_CONNECT,
            AuthMode.AWS_LAMBDA,
        ],
        user_pool_id="eu-west-1_Abc123",
        app_id_client_regex="^web$",
        oidc_issuer="https://id.example.com/",
        oidc_client_id="heads",
        oidc_iat_ttl_ms=60_000,
        iam_credentials=DEVICE,
        lambda_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:authorizer",
        authorizer_result_ttl_seconds=300,
        identity_validation_expression="^Bearer .+$",
    )
    edge = EdgeSettings(query_depth_limit=12, resolver_count_limit=500, introspection="DISABLED")

    # when
    plan = plan_api(deploy_settings(xray_enabled=True, log_role_arn=ROLE_ARN), auth=auth, edge=edge)

    # then
    assert plan.api == {
        "authenticationType": "AMAZON_COGNITO_USER_POOLS",
        "userPoolConfig": {
            "userPoolId": "eu-west-1_Abc123",
            "awsRegion": "eu-west-1",
            "defaultAction": "ALLOW",
            "appIdClientRegex": "^web$",
        },
        "additionalAuthenticationProviders": [
            {"authenticationType": "API_KEY"},
            {"authenticationType": "AWS_IAM"},
            {
                "authenticationType": "OPENID_CONNECT",
                "openIDConnectConfig": {
                    "issuer": "https://id.example.com/",
                    "clientId": "heads",
                    "iatTTL": 60_000,
                },
            },
            {
                "authenticationType": "AWS_LAMBDA",
                "lambdaAuthorizerConfig": {
                    "authorizerUri": "arn:aws:lambda:eu-west-1:123456789012:function:authorizer",
                    "authorizerResultTtlInSeconds": 300,
                    "identityValidationExpression": "^Bearer .+$",
                },
            },
        ],
        "queryDepthLimit": 12,
        "resolverCountLimit": 500,
        "introspectionConfig": "DISABLED",
        "xrayEnabled": True,
        "logConfig": {
            "fieldLogLevel": "ERROR",
            "cloudWatchLogsRoleArn": ROLE_ARN,
            "excludeVerboseContent": True,
        },
    }
    shape = moto_client.meta.service_model.operation_model("CreateGraphqlApi").input_shape
    assert shape is not None
    validate_parameters({"name": plan.name, "tags": plan.tags, **plan.api}, shape)


def test_plan_refuses_an_in_process_lambda_authorizer() -> None:
    auth = AuthSettings(default_mode=AuthMode.AWS_LAMBDA, lambda_authorizer="tests.auth:authorize")
    with pytest.raises(PlanError, match="CG_AUTH_LAMBDA_FUNCTION_ARN"):
        plan_api(deploy_settings(), auth=auth, edge=EdgeSettings())


def test_plan_api_keys_only_when_api_key_is_a_mode() -> None:
    auth = AuthSettings(default_mode=AuthMode.OPENID_CONNECT, oidc_issuer="https://id.example.com")
    plan = plan_api(deploy_settings(), auth=auth, edge=EdgeSettings())
    assert plan.api_keys == ()


@pytest.mark.parametrize(
    ("caching", "cached_fields"),
    [("PER_RESOLVER_CACHING", set(CACHED_RESOLVERS)), ("FULL_REQUEST_CACHING", set())],
)
def test_plan_caching(caching: str, cached_fields: set[str]) -> None:
    edge = EdgeSettings(caching=caching, cache_ttl_seconds=120)
    plan = plan_api(deploy_settings(cache_type="MEDIUM"), auth=AuthSettings(), edge=edge)

    assert plan.cache == {
        "ttl": 120,
        "apiCachingBehavior": caching,
        "type": "MEDIUM",
        "transitEncryptionEnabled": True,
        "atRestEncryptionEnabled": True,
    }
    cached = {r.key: r.request()["cachingConfig"] for r in plan.resolvers if r.caching}
    assert set(cached) == cached_fields
    if cached_fields:
        assert cached["Query.product"] == {
            "ttl": 60,
            "cachingKeys": ["$context.arguments.id", "$context.arguments.sku"],
        }


# --- API, schema, keys and cache on moto --------------------------------------------


def test_first_deploy_creates_api_schema_keys_and_cache(moto_client: AppSyncClient) -> None:
    # given
    settings = deploy_settings()
    plan = make_plan(settings, edge=EdgeSettings(caching="FULL_REQUEST_CACHING"))

    # when
    deployment = Deployment(AppSyncApi(moto_client), plan, settings)
    changes = run_moto_stages(deployment)

    # then
    assert {(c.kind, c.action) for c in changes} == {
        ("api", "create"),
        ("schema", "create"),
        ("api key", "create"),
        ("api cache", "create"),
    }
    api_id = str(deployment.api_id)
    api = moto_client.get_graphql_api(apiId=api_id)["graphqlApi"]
    assert api["authenticationType"] == "API_KEY"
    assert api.get("tags") == {"managed-by": "commerce-graph", SCHEMA_TAG: plan.schema_sha256}
    assert moto_client.get_schema_creation_status(apiId=api_id)["status"] == "SUCCESS"
    keys = moto_client.list_api_keys(apiId=api_id)["apiKeys"]
    assert sorted(key.get("description", "") for key in keys) == ["mobile", "pos", "web"]
    cache = moto_client.get_api_cache(apiId=api_id)["apiCache"]
    assert (cache.get("apiCachingBehavior"), cache.get("type"), cache.get("ttl")) == (
        "FULL_REQUEST_CACHING",
        "SMALL",
        300,
    )


def test_second_deploy_changes_nothing_and_duplicates_nothing(
    moto_client: AppSyncClient,
) -> None:
    # given a deployed API
    settings = deploy_settings()
    plan = make_plan(settings, edge=EdgeSettings(caching="FULL_REQUEST_CACHING"))
    first = Deployment(AppSyncApi(moto_client), plan, settings)
    run_moto_stages(first)

    # when the same plan is deployed again
    log = CallLog(moto_client)
    changes = run_moto_stages(Deployment(AppSyncApi(moto_client), plan, settings))

    # then it writes nothing and finds the same API
    assert log.writes == []
    assert {c.action for c in changes} == {"unchanged"}
    assert len(changes) == 1 + 1 + 3 + 1  # api, schema, three keys, cache
    apis = [a for a in moto_client.list_graphql_apis()["graphqlApis"] if a["name"] == plan.name]
    assert len(apis) == 1
    assert len(moto_client.list_api_keys(apiId=str(first.api_id))["apiKeys"]) == 3


def test_settings_change_updates_the_api(moto_client: AppSyncClient, base_plan: ApiPlan) -> None:
    # given a deployed API
    settings = deploy_settings()
    plan = named(base_plan, settings)
    first = Deployment(AppSyncApi(moto_client), plan, settings)
    run_moto_stages(first)

    # when IAM is added as a mode, X-Ray turned on and a depth limit set (a dry run first)
    auth = AuthSettings(additional_modes=[AuthMode.AWS_IAM], iam_credentials=DEVICE)
    changed_settings = settings.replace(xray_enabled=True)
    changed = make_plan(changed_settings, auth=auth, edge=EdgeSettings(query_depth_limit=8))
    log = CallLog(moto_client)
    dry = Deployment(AppSyncApi(moto_client), changed, changed_settings, dry_run=True)
    dry_changes = run_moto_stages(dry)
    assert log.writes == []
    changes = run_moto_stages(Deployment(AppSyncApi(moto_client), changed, changed_settings))

    # then the API is updated in place, and nothing else is touched
    assert [c for c in changes if c.action != "unchanged"] == [
        Change(
            "update",
            "api",
            plan.name,
            "additionalAuthenticationProviders, queryDepthLimit, xrayEnabled",
        ),
    ]
    assert dry_changes == changes
    assert log.writes == ["UpdateGraphqlApi"]
    assert log.params("UpdateGraphqlApi")[0]["queryDepthLimit"] == 8
    api = moto_client.get_graphql_api(apiId=str(first.api_id))["graphqlApi"]
    assert api.get("additionalAuthenticationProviders") == [{"authenticationType": "AWS_IAM"}]
    assert api.get("xrayEnabled") is True
    assert [
        a["apiId"] for a in moto_client.list_graphql_apis()["graphqlApis"] if a["name"] == plan.name
    ] == [first.api_id]


def test_broken_sdl_fails_with_appsync_details_and_stops_the_deploy(
    moto_client: AppSyncClient, base_plan: ApiPlan
) -> None:
    # given a schema AppSync (here moto's parser) cannot read
    settings = deploy_settings()
    broken = replace(
        named(base_plan, settings), schema_sdl="type Query {\n  product(id: ID!: Product\n}\n"
    )
    log = CallLog(moto_client)

    # when
    with pytest.raises(DeployError) as failure:
        Deployment(AppSyncApi(moto_client), broken, settings).run()

    # then the message carries AppSync's details, and no later stage ran
    assert str(failure.value).startswith("AppSync refused the schema: Syntax Error")
    assert "Expected Name, found ':'" in str(failure.value)
    names = [name for name, _ in log.calls]
    assert names[names.index("StartSchemaCreation") :] == [
        "StartSchemaCreation",
        "GetSchemaCreationStatus",
    ]
    api = [a for a in moto_client.list_graphql_apis()["graphqlApis"] if a["name"] == broken.name]
    assert SCHEMA_TAG not in (api[0].get("tags") or {})  # a re-run uploads again


def test_api_cache_follows_the_plan(moto_client: AppSyncClient, base_plan: ApiPlan) -> None:
    settings = deploy_settings()
    plan = make_plan(settings, edge=EdgeSettings(caching="FULL_REQUEST_CACHING"))
    full = plan.cache
    assert full is not None
    first = Deployment(AppSyncApi(moto_client), plan, settings)
    first.converge_api()
    first.converge_cache()
    api_id = str(first.api_id)

    def converge(cache: dict[str, Any] | None) -> list[Change]:
        deployment = Deployment(AppSyncApi(moto_client), replace(plan, cache=cache), settings)
        deployment.converge_api()
        deployment.converge_cache()
        return [c for c in deployment.changes if c.kind == "api cache"]

    # a new TTL is an update in place
    assert converge({**full, "ttl": 60}) == [Change("update", "api cache", plan.name, "ttl")]
    assert moto_client.get_api_cache(apiId=api_id)["apiCache"].get("ttl") == 60
    # encryption cannot change in place: the cache is replaced
    unencrypted = {**full, "ttl": 60, "atRestEncryptionEnabled": False}
    assert converge(unencrypted) == [
        Change("replace", "api cache", plan.name, "atRestEncryptionEnabled")
    ]
    assert (
        moto_client.get_api_cache(apiId=api_id)["apiCache"].get("atRestEncryptionEnabled") is False
    )
    # caching off deletes it
    assert converge(None) == [Change("delete", "api cache", plan.name)]
    with pytest.raises(moto_client.exceptions.NotFoundException):
        moto_client.get_api_cache(apiId=api_id)


def test_namesakes_are_told_apart_by_the_managed_by_tag(
    moto_client: AppSyncClient, base_plan: ApiPlan
) -> None:
    settings = deploy_settings()
    plan = named(base_plan, settings)
    for _ in range(2):  # two APIs of the same name nobody tagged
        moto_client.create_graphql_api(name=plan.name, authenticationType="API_KEY")
    with pytest.raises(DeployError, match="several AppSync APIs are named"):
        Deployment(AppSyncApi(moto_client), plan, settings).converge_api()

    ours = moto_client.create_graphql_api(
        name=plan.name, authenticationType="API_KEY", tags={"managed-by": "commerce-graph"}
    )["graphqlApi"]
    deployment = Deployment(AppSyncApi(moto_client), plan, settings)
    deployment.converge_api()
    assert deployment.api_id == ours.get("apiId")


# --- API keys (Stubber: exact expiry arithmetic on a fixed clock) -------------------

NOW = 1_800_000_000
API_ID = "abcdefghijklmnopqrstuvwxyz"
API_ARN = f"arn:aws:appsync:us-east-1:123456789012:apis/{API_ID}"


def stubbed_client() -> tuple[AppSyncClient, Stubber]:
    client = boto3.client(
        "appsync", region_name="us-east-1", endpoint_url="https://appsync.invalid"
    )
    return client, Stubber(client)


def existing_api(deployment: Deployment) -> None:
    deployment.api = {"apiId": API_ID, "arn": API_ARN, "tags": {}}


def test_api_keys_are_created_renewed_or_left_alone(base_plan: ApiPlan) -> None:
    # given web valid for 200 days, mobile expiring in 10, pos only as an expired key
    client, stubber = stubbed_client()
    settings = deploy_settings()
    stubber.add_response(
        "list_api_keys",
        {
            "apiKeys": [
                {"id": "da2-web", "description": "web", "expires": NOW + 200 * 86_400},
                {"id": "da2-mob", "description": "mobile", "expires": NOW + 10 * 86_400},
                {"id": "da2-old", "description": "pos", "expires": NOW - 86_400},
            ]
        },
        {"apiId": API_ID},
    )
    year = NOW + 365 * 86_400 - 600  # AppSync's maximum, less a margin for clock skew
    stubber.add_response(
        "update_api_key", {"apiKey": {}}, {"apiId": API_ID, "id": "da2-mob", "expires": year}
    )
    stubber.add_response(
        "create_api_key", {"apiKey": {}}, {"apiId": API_ID, "description": "pos", "expires": year}
    )
    deployment = Deployment(AppSyncApi(client), base_plan, settings, now=lambda: NOW)
    existing_api(deployment)

    # when
    with stubber:
        deployment.converge_api_keys()

    # then
    stubber.assert_no_pending_responses()
    assert actions(deployment.changes, "api key") == {
        "web": "unchanged",
        "mobile": "update",
        "pos": "create",
    }


# --- data sources and resolvers (Stubber) -------------------------------------------


def expected_resolver(type_name: str, field_name: str, plan: ApiPlan) -> dict[str, Any]:
    """The request the plan's rules call for, written out here, not taken from the plan."""
    base = {"apiId": API_ID, "typeName": type_name, "fieldName": field_name, "kind": "UNIT"}
    runtime = {"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}
    if type_name == "Subscription":
        code = {
            "onCartUpdated": ON_CART_UPDATED_JS,
            "onOrderStatusChanged": ON_ORDER_STATUS_CHANGED_JS,
        }
        return {**base, "dataSourceName": "Local", "runtime": runtime, "code": code[field_name]}
    if field_name in PUBLISH:
        return {**base, "dataSourceName": "Local", "runtime": runtime, "code": ECHO_INPUT_JS}
    batch = 100 if type_name == "Query" else 0
    return {**base, "dataSourceName": "CommerceGraphLambda", "maxBatchSize": batch}


def root_fields(plan: ApiPlan) -> list[tuple[str, str]]:
    deployed = build_graphql_schema(APPSYNC_BASE_SDL + plan.schema_sdl)
    assert deployed.query_type is not None
    assert deployed.mutation_type is not None
    return [("Query", name) for name in deployed.query_type.fields] + [
        ("Mutation", name) for name in deployed.mutation_type.fields
    ]


def test_first_deploy_creates_data_sources_and_resolvers(base_plan: ApiPlan) -> None:
    # given an API without data sources or resolvers
    client, stubber = stubbed_client()
    settings = deploy_settings()
    for name in ("CommerceGraphLambda", "Local"):
        stubber.add_client_error(
            "get_data_source",
            "NotFoundException",
            http_status_code=404,
            expected_params={"apiId": API_ID, "name": name},
        )
        source: dict[str, Any] = {"apiId": API_ID, "name": name, "description": ANY}
        if name == "Local":
            source["type"] = "NONE"
        else:
            source.update(
                type="AWS_LAMBDA",
                serviceRoleArn=ROLE_ARN,
                lambdaConfig={"lambdaFunctionArn": LAMBDA_ARN},
            )
        stubber.add_response("create_data_source", {"dataSource": {}}, source)
    for type_name in ("Query", "Mutation", "Subscription"):
        stubber.add_response(
            "list_resolvers", {"resolvers": []}, {"apiId": API_ID, "typeName": type_name}
        )
    fields = [
        *root_fields(base_plan),
        ("Subscription", "onCartUpdated"),
        ("Subscription", "onOrderStatusChanged"),
    ]
    for type_name, field_name in fields:
        stubber.add_response(
            "create_resolver", {"resolver": {}}, expected_resolver(type_name, field_name, base_plan)
        )
    deployment = Deployment(AppSyncApi(client), base_plan, settings)
    existing_api(deployment)

    # when
    with stubber:
        deployment.converge_data_sources()
        deployment.converge_resolvers()

    # then every request was the expected one, in order, and valid for AppSync's model
    stubber.assert_no_pending_responses()
    assert actions(deployment.changes, "data source") == {
        "CommerceGraphLambda": "create",
        "Local": "create",
    }
    assert len(actions(deployment.changes, "resolver")) == len(fields) == 18


def test_resolvers_converge_update_create_delete_and_leave_others_alone(
    base_plan: ApiPlan,
) -> None:
    # given resolvers as an earlier deploy (and someone else) left them
    client, stubber = stubbed_client()
    plan = replace(
        base_plan,
        resolvers=tuple(
            r
            for r in base_plan.resolvers
            if r.key
            in {"Query.product", "Query.products", "Query.cart", "Subscription.onCartUpdated"}
        ),
    )
    current = {
        "Query": [
            {
                "typeName": "Query",
                "fieldName": "product",
                "dataSourceName": "CommerceGraphLambda",
                "kind": "UNIT",
                "maxBatchSize": 100,
            },  # as planned
            {
                "typeName": "Query",
                "fieldName": "products",
                "dataSourceName": "CommerceGraphLambda",
                "kind": "UNIT",
                "maxBatchSize": 10,
            },  # another batch size
            {
                "typeName": "Query",
                "fieldName": "wishlist",
                "dataSourceName": "CommerceGraphLambda",
                "kind": "UNIT",
            },  # a field the schema no longer has
            {
                "typeName": "Query",
                "fieldName": "legacy",
                "dataSourceName": "TheirTable",
                "kind": "UNIT",
            },  # not ours
        ],
        "Mutation": [],
        "Subscription": [
            {
                "typeName": "Subscription",
                "fieldName": "onCartUpdated",
                "dataSourceName": "Local",
                "kind": "UNIT",
                "runtime": {"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"},
                "code": "export function request(ctx) { return {}; }",
            },  # older code
        ],
    }
    for type_name, resolvers in current.items():
        stubber.add_response(
            "list_resolvers", {"resolvers": resolvers}, {"apiId": API_ID, "typeName": type_name}
        )
    stubber.add_response(
        "update_resolver", {"resolver": {}}, expected_resolver("Query", "products", plan)
    )
    stubber.add_response(
        "create_resolver", {"resolver": {}}, expected_resolver("Query", "cart", plan)
    )
    stubber.add_response(
        "update_resolver",
        {"resolver": {}},
        expected_resolver("Subscription", "onCartUpdated", plan),
    )
    stubber.add_response(
        "delete_resolver", {}, {"apiId": API_ID, "typeName": "Query", "fieldName": "wishlist"}
    )
    deployment = Deployment(AppSyncApi(client), plan, deploy_settings())
    existing_api(deployment)

    # when
    with stubber:
        deployment.converge_resolvers()

    # then
    stubber.assert_no_pending_responses()
    assert deployment.changes == [
        Change("unchanged", "resolver", "Query.product"),
        Change("update", "resolver", "Query.products", "maxBatchSize"),
        Change("create", "resolver", "Query.cart"),
        Change("update", "resolver", "Subscription.onCartUpdated", "code"),
        Change("delete", "resolver", "Query.wishlist", "no longer planned"),
    ]


def test_data_source_pointing_at_another_lambda_is_updated(base_plan: ApiPlan) -> None:
    client, stubber = stubbed_client()
    settings = deploy_settings()
    stubber.add_response(
        "get_data_source",
        {
            "dataSource": {
                "name": "CommerceGraphLambda",
                "type": "AWS_LAMBDA",
                "serviceRoleArn": ROLE_ARN,
                "description": "The graph's Lambda: Direct Lambda resolvers of every root field",
                "lambdaConfig": {"lambdaFunctionArn": LAMBDA_ARN + "-old"},
            }
        },
        {"apiId": API_ID, "name": "CommerceGraphLambda"},
    )
    stubber.add_response(
        "update_data_source",
        {"dataSource": {}},
        {
            "apiId": API_ID,
            "name": "CommerceGraphLambda",
            "type": "AWS_LAMBDA",
            "serviceRoleArn": ROLE_ARN,
            "lambdaConfig": {"lambdaFunctionArn": LAMBDA_ARN},
            "description": ANY,
        },
    )
    stubber.add_response(
        "get_data_source",
        {
            "dataSource": {
                "name": "Local",
                "type": "NONE",
                "description": "Resolvers that run in AppSync alone (APPSYNC_JS)",
            }
        },
        {"apiId": API_ID, "name": "Local"},
    )
    deployment = Deployment(AppSyncApi(client), base_plan, settings)
    existing_api(deployment)

    with stubber:
        deployment.converge_data_sources()

    stubber.assert_no_pending_responses()
    assert deployment.changes == [
        Change("update", "data source", "CommerceGraphLambda", "lambdaConfig"),
        Change("unchanged", "data source", "Local"),
    ]


def test_deploy_needs_the_lambda_and_its_role(base_plan: ApiPlan) -> None:
    client, _ = stubbed_client()
    deployment = Deployment(AppSyncApi(client), base_plan, deploy_settings(service_role_arn=None))
    existing_api(deployment)
    with pytest.raises(DeployError, match="CG_DEPLOY_SERVICE_ROLE_ARN"):
        deployment.converge_data_sources()


# --- the schema upload is polled ----------------------------------------------------


def test_schema_upload_polls_until_success_and_times_out(base_plan: ApiPlan) -> None:
    client, stubber = stubbed_client()
    settings = deploy_settings(schema_timeout_seconds=10, schema_poll_seconds=4)
    sdl = {"apiId": API_ID, "definition": base_plan.schema_sdl.encode()}
    stubber.add_response("start_schema_creation", {"status": "PROCESSING"}, sdl)
    for status in ("PROCESSING", "PROCESSING", "ACTIVE"):
        stubber.add_response("get_schema_creation_status", {"status": status}, {"apiId": API_ID})
    stubber.add_response(
        "tag_resource", {}, {"resourceArn": API_ARN, "tags": {SCHEMA_TAG: base_plan.schema_sha256}}
    )
    # and a second upload that never finishes
    stubber.add_response("start_schema_creation", {"status": "PROCESSING"}, sdl)
    for _ in range(3):  # at t=16, 20, 24: past the deadline of 12 + 10
        stubber.add_response(
            "get_schema_creation_status", {"status": "PROCESSING"}, {"apiId": API_ID}
        )
    clock = itertools.count(0.0, 4.0)
    sleeps: list[float] = []

    def run() -> Deployment:
        deployment = Deployment(
            AppSyncApi(client),
            base_plan,
            settings,
            sleep=sleeps.append,
            clock=lambda: next(clock),
        )
        existing_api(deployment)
        deployment.converge_schema()
        return deployment

    with stubber:
        assert run().changes == [
            Change("create", "schema", f"sha256 {base_plan.schema_sha256[:12]}")
        ]
        assert sleeps == [4, 4]
        with pytest.raises(DeployError, match="still PROCESSING after 10 s"):
            run()
    assert sleeps == [4, 4, 4, 4]
    stubber.assert_no_pending_responses()


# --- the CLI, end to end on moto ----------------------------------------------------


class UnimplementedOps:
    """Answers the data-source and resolver operations moto lacks, keeping what was
    written, after botocore has validated the request against AppSync's model."""

    OPS = (
        "GetDataSource",
        "CreateDataSource",
        "UpdateDataSource",
        "ListResolvers",
        "CreateResolver",
        "UpdateResolver",
        "DeleteResolver",
    )

    def __init__(self, client: AppSyncClient) -> None:
        self.sources: dict[str, dict[str, Any]] = {}
        self.resolvers: dict[tuple[str, str], dict[str, Any]] = {}
        self._params: dict[str, Any] = {}
        for op in self.OPS:
            client.meta.events.register(f"before-parameter-build.appsync.{op}", self._keep)
            client.meta.events.register(f"before-call.appsync.{op}", self._answer)

    def _keep(self, params: dict[str, Any], **_: Any) -> None:
        self._params = dict(params)

    def _answer(self, model: Any, **_: Any) -> Any:  # (http response, parsed response)
        p, meta = self._params, {"ResponseMetadata": {"HTTPStatusCode": 200}}
        fields = {k: v for k, v in p.items() if k != "apiId"}
        match model.name:
            case "GetDataSource" if p["name"] not in self.sources:
                error = {"Error": {"Code": "NotFoundException", "Message": "not found"}}
                return _http(404), {**error, "ResponseMetadata": {"HTTPStatusCode": 404}}
            case "GetDataSource":
                return _http(200), {"dataSource": self.sources[p["name"]], **meta}
            case "CreateDataSource" | "UpdateDataSource":
                self.sources[p["name"]] = fields
                return _http(200), {"dataSource": fields, **meta}
            case "ListResolvers":
                found = [r for (t, _), r in self.resolvers.items() if t == p["typeName"]]
                return _http(200), {"resolvers": found, **meta}
            case "CreateResolver" | "UpdateResolver":
                self.resolvers[(p["typeName"], p["fieldName"])] = fields
                return _http(200), {"resolver": fields, **meta}
            case _:
                del self.resolvers[(p["typeName"], p["fieldName"])]
                return _http(200), meta


def _http(status: int) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    return AWSResponse("https://appsync.invalid", status, HTTPHeaders(), None)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"cg-cli-{uuid.uuid4().hex[:10]}"
    for key, value in {
        "CG_DEPLOY_API_NAME": name,
        "CG_DEPLOY_LAMBDA_FUNCTION_ARN": LAMBDA_ARN,
        "CG_DEPLOY_SERVICE_ROLE_ARN": ROLE_ARN,
        "CG_DEPLOY_API_KEYS": "web,pos",
        "CG_CACHING": "PER_RESOLVER_CACHING",
    }.items():
        monkeypatch.setenv(key, value)
    return name


def cli(client: AppSyncClient, *argv: str, plan: ApiPlan | None = None) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    apply.add_arguments(parser)
    out = io.StringIO()
    code = apply.main(parser.parse_args(list(argv)), client=client, plan=plan, out=out)
    return code, out.getvalue()


def test_cli_deploys_then_converges(moto_client: AppSyncClient, cli_env: str) -> None:
    # given moto, with the operations it lacks answered in the test
    store = UnimplementedOps(moto_client)

    # when deploying twice, after a dry run
    dry_code, dry_out = cli(moto_client, "--dry-run")
    after_dry_run = [
        a for a in moto_client.list_graphql_apis()["graphqlApis"] if a["name"] == cli_env
    ]
    first_code, first_out = cli(moto_client)
    log = CallLog(moto_client)
    second_code, second_out = cli(moto_client)

    # then the dry run wrote nothing, the first run built everything, the second nothing
    assert dry_code == first_code == second_code == 0
    assert after_dry_run == []
    assert dry_out.splitlines()[-1] == "dry run: 25 create"
    assert [line.split()[:3] for line in dry_out.splitlines()[:2]] == [
        ["would", "create", "api"],
        ["would", "create", "schema"],
    ]
    # api, schema, 2 data sources, 18 resolvers, 2 keys, the cache
    assert first_out.splitlines()[-1] == "25 create"
    assert second_out.splitlines()[-2:] == ["endpoint GRAPHQL  http://graphql.uri", "25 unchanged"]
    assert log.writes == []
    assert set(store.sources) == {"CommerceGraphLambda", "Local"}
    assert store.resolvers[("Query", "product")]["cachingConfig"] == {
        "ttl": 60,
        "cachingKeys": ["$context.arguments.id", "$context.arguments.sku"],
    }
    apis = [a for a in moto_client.list_graphql_apis()["graphqlApis"] if a["name"] == cli_env]
    assert len(apis) == 1


def test_cli_reports_a_failed_schema_upload(
    moto_client: AppSyncClient, cli_env: str, base_plan: ApiPlan, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a plan whose SDL AppSync (moto's parser) refuses
    store = UnimplementedOps(moto_client)
    broken = replace(base_plan, name=cli_env, schema_sdl="type Query { product(: ID): P }")

    # when
    code, out = cli(moto_client, plan=broken)

    # then: non-zero, AppSync's details on stderr, nothing deployed after the schema
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("deploy failed: AppSync refused the schema: Syntax Error: Expected Name")
    assert out.splitlines() == [
        f"create           api          {cli_env}",
        f"create           schema       sha256 {broken.schema_sha256[:12]}",
    ]
    assert store.sources == {}
    assert store.resolvers == {}
