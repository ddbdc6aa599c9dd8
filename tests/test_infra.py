"""`commerce-graph infra synth`: the CloudFormation template of the whole stack, linted by
cfn-lint and counted against the plan, the schema and the table specs; and the resolver role
checked against the DynamoDB calls the Lambda's code really makes."""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from cfnlint.api import ManualArgs, lint  # type: ignore[import-untyped]
from graphql import build_schema as build_graphql_schema

import server
from appsync.auth import AuthMode, AuthSettings
from appsync.auth.settings import IamCredential
from appsync.deploy.infra import render
from appsync.deploy.plan import ApiPlan, plan_api
from appsync.deploy.settings import DeploySettings
from appsync.deploy.template import synthesize
from appsync.deploy.template.functions import RESOLVER_TABLE_ACTIONS
from appsync.inbound import ROUTES
from appsync.lambda_handler import LambdaResolver
from appsync.realtime.access import SUBSCRIPTION_HOOKS
from appsync.settings import EdgeSettings
from conftest import Graph
from datasources.demo.generate import DemoData
from datasources.dynamodb.tables import ALL_TABLES, OUTBOX, table_definition
from datasources.envsettings import EnvSettings
from datasources.events.settings import EventsSettings
from datasources.settings import Settings
from schema.sdl import APPSYNC_BASE_SDL
from test_cart import in_stock_variants
from test_lambda_handler import COGNITO_IDENTITY, PRODUCT_SELECTION, event

NOW = 1_800_001_234.0  # 2027-01-15T08:20:34Z: the API keys' expiry is reckoned from here
# cfn-lint rules this suite does not enforce, each with its reason. None so far: the
# templates pass every error and warning rule.
IGNORED_RULES: dict[str, str] = {}

ALL_MODES = AuthSettings(
    default_mode=AuthMode.AMAZON_COGNITO_USER_POOLS,
    additional_modes=[
        AuthMode.AWS_IAM,
        AuthMode.OPENID_CONNECT,
        AuthMode.AWS_LAMBDA,
        AuthMode.API_KEY,
    ],
    user_pool_id="us-east-1_Abc123def",
    app_id_client_regex="^web-client$",
    oidc_issuer="https://login.example.com",
    oidc_client_id="^pos$",
    oidc_iat_ttl_ms=3_600_000,
    # The local mirror's IAM needs a credential to verify; AppSync needs none.
    iam_credentials={
        "AKIAEXAMPLE": IamCredential(
            secret_access_key="not-used",
            user_arn="arn:aws:iam::123456789012:user/pos-device-01",
        )
    },
    lambda_function_arn="arn:aws:lambda:us-east-1:123456789012:function:shop-authorizer",
    identity_validation_expression="^Bearer .+$",
    authorizer_result_ttl_seconds=300,
)

VARIANTS: dict[str, tuple[AuthSettings, EdgeSettings, DeploySettings]] = {
    "api-key": (AuthSettings(), EdgeSettings(), DeploySettings()),
    "all-modes-per-resolver-cache": (
        ALL_MODES,
        EdgeSettings(caching="PER_RESOLVER_CACHING", query_depth_limit=12),
        DeploySettings(
            log_role_arn="arn:aws:iam::123456789012:role/appsync-logs",
            xray_enabled=True,
            tags={"team": "commerce"},
        ),
    ),
    "iam-full-request-cache": (
        AuthSettings(
            default_mode=AuthMode.AWS_IAM,
            iam_credentials=ALL_MODES.iam_credentials,
        ),
        EdgeSettings(caching="FULL_REQUEST_CACHING", cache_ttl_seconds=120),
        DeploySettings(api_name="shop-graph", api_keys=[]),
    ),
}


def synth(variant: str, *, prefix: str = "cg-") -> tuple[ApiPlan, dict[str, Any]]:
    auth, edge, deploy = VARIANTS[variant]
    plan = plan_api(deploy, auth=auth, edge=edge)
    template = synthesize(
        plan, settings=Settings(table_prefix=prefix), events=EventsSettings(), now=NOW
    )
    return plan, template.to_dict()


def resources(body: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in body["Resources"].items()
        if resource["Type"] == resource_type
    }


def lint_problems(text: str) -> list[str]:
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    return [
        f"{m.rule.id} line {m.linenumber}: {m.message}"
        for m in matches
        if m.rule.id not in IGNORED_RULES
    ]


def statements(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement of the template: roles' inline policies and queue policies."""
    for name, role in resources(body, "AWS::IAM::Role").items():
        for inline in role.get("Policies", []):
            for stmt in inline["PolicyDocument"]["Statement"]:
                # A conditional statement: its "then" branch.
                yield name, stmt["Fn::If"][1] if "Fn::If" in stmt else stmt
    for name, queue_policy in resources(body, "AWS::SQS::QueuePolicy").items():
        for stmt in queue_policy["PolicyDocument"]["Statement"]:
            yield name, stmt


def role_statements(body: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for name, s in statements(body) if name == role}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- lint --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("as_yaml", [False, True], ids=["json", "yaml"])
def test_the_template_passes_cfn_lint(variant: str, as_yaml: bool) -> None:
    # given
    _, body = synth(variant)
    text = render(body, yaml=as_yaml)
    # when
    problems = lint_problems(text)
    # then
    assert problems == []
    # CloudFormation's quotas: 1 MB of template (from S3), 500 resources.
    assert len(text.encode()) < 1_000_000
    assert len(body["Resources"]) <= 500


def test_yaml_and_json_say_the_same() -> None:
    _, body = synth("all-modes-per-resolver-cache")
    assert yaml.safe_load(render(body, yaml=True)) == json.loads(render(body, yaml=False))


def test_cfn_lint_does_catch_a_broken_template() -> None:
    # given: a stream mapping with a batch size CloudFormation would refuse
    _, body = synth("api-key")
    body["Resources"]["OutboxStreamMapping"]["Properties"]["BatchSize"] = "a hundred"
    # when / then
    assert any(p.startswith("E3012") for p in lint_problems(render(body, yaml=False)))


# --- the API, from the plan --------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_one_resolver_per_root_field_as_planned(variant: str) -> None:
    # given
    plan, body = synth(variant)
    deployed = build_graphql_schema(APPSYNC_BASE_SDL + plan.schema_sdl)
    assert deployed.query_type is not None
    assert deployed.mutation_type is not None
    root_fields = {("Query", f) for f in deployed.query_type.fields} | {
        ("Mutation", f) for f in deployed.mutation_type.fields
    }
    # when
    resolvers = resources(body, "AWS::AppSync::Resolver")
    by_field = {(r["TypeName"], r["FieldName"]): r for r in resolvers.values()}
    # then: every root field, and the subscriptions with a subscribe hook, nothing else
    assert len(by_field) == len(resolvers) == len(plan.resolvers)
    assert set(by_field) == root_fields | {("Subscription", f) for f in SUBSCRIPTION_HOOKS}
    for planned in plan.resolvers:
        resolver = by_field[(planned.type_name, planned.field_name)]
        assert resolver["Kind"] == "UNIT"
        assert "RequestMappingTemplate" not in resolver
        assert "ResponseMappingTemplate" not in resolver
        if planned.code is None:  # Direct Lambda
            assert resolver["DataSourceName"] == {"Fn::GetAtt": ["LambdaDataSource", "Name"]}
            assert resolver["MaxBatchSize"] == planned.max_batch_size
            assert "Code" not in resolver
        else:
            assert resolver["DataSourceName"] == {"Fn::GetAtt": ["NoneDataSource", "Name"]}
            assert resolver["Runtime"] == {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}
            assert resolver["Code"] == planned.code
        if planned.caching is None:
            assert "CachingConfig" not in resolver
        else:
            assert resolver["CachingConfig"]["Ttl"] == planned.caching.ttl
    assert sum(r["MaxBatchSize"] > 0 for r in by_field.values() if "MaxBatchSize" in r) == len(
        deployed.query_type.fields
    )


def test_the_api_carries_the_planned_auth_modes_limits_and_logs() -> None:
    # given
    plan, body = synth("all-modes-per-resolver-cache")
    # when
    (api,) = resources(body, "AWS::AppSync::GraphQLApi").values()
    # then
    assert api["Name"] == plan.name
    assert api["AuthenticationType"] == "AMAZON_COGNITO_USER_POOLS"
    assert api["UserPoolConfig"] == {
        "UserPoolId": "us-east-1_Abc123def",
        "AwsRegion": "us-east-1",
        "DefaultAction": "ALLOW",
        "AppIdClientRegex": "^web-client$",
    }
    providers = {p["AuthenticationType"]: p for p in api["AdditionalAuthenticationProviders"]}
    assert list(providers) == ["AWS_IAM", "OPENID_CONNECT", "AWS_LAMBDA", "API_KEY"]
    assert providers["OPENID_CONNECT"]["OpenIDConnectConfig"] == {
        "Issuer": "https://login.example.com",
        "ClientId": "^pos$",
        "IatTTL": 3_600_000,
    }
    assert providers["AWS_LAMBDA"]["LambdaAuthorizerConfig"] == {
        "AuthorizerUri": ALL_MODES.lambda_function_arn,
        "AuthorizerResultTtlInSeconds": 300,
        "IdentityValidationExpression": "^Bearer .+$",
    }
    assert api["QueryDepthLimit"] == 12
    assert api["ResolverCountLimit"] == plan.api["resolverCountLimit"]
    assert api["XrayEnabled"] is True
    assert api["LogConfig"]["CloudWatchLogsRoleArn"].endswith(":role/appsync-logs")
    assert {"Key": "team", "Value": "commerce"} in api["Tags"]
    (permission,) = [
        p
        for p in resources(body, "AWS::Lambda::Permission").values()
        if p["Principal"] == "appsync.amazonaws.com"
    ]
    assert permission["FunctionName"] == ALL_MODES.lambda_function_arn
    assert permission["SourceArn"] == {"Fn::GetAtt": ["Api", "Arn"]}
    (schema,) = resources(body, "AWS::AppSync::GraphQLSchema").values()
    assert schema["Definition"] == plan.schema_sdl


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_api_keys_and_cache_follow_the_plan(variant: str) -> None:
    # given
    plan, body = synth(variant)
    # when
    keys = resources(body, "AWS::AppSync::ApiKey")
    caches = resources(body, "AWS::AppSync::ApiCache")
    # then
    assert sorted(k["Description"] for k in keys.values()) == sorted(
        k.description for k in plan.api_keys
    )
    for key in keys.values():
        assert key["Expires"] % 3600 == 0
        assert 0 <= NOW + 365 * 86400 - key["Expires"] < 3600
    for name in keys:
        assert body["Outputs"][f"{name}Id"]["Value"] == {"Fn::GetAtt": [name, "ApiKeyId"]}
    if plan.cache is None:
        assert caches == {}
    else:
        (cache,) = caches.values()
        assert cache["ApiCachingBehavior"] == plan.cache["apiCachingBehavior"]
        assert cache["Ttl"] == plan.cache["ttl"]
        assert cache["Type"] == plan.cache["type"]
    outputs = body["Outputs"]
    assert outputs["GraphQLUrl"]["Value"] == {"Fn::GetAtt": ["Api", "GraphQLUrl"]}
    assert outputs["RealtimeUrl"]["Value"] == {"Fn::GetAtt": ["Api", "RealtimeUrl"]}
    assert outputs["ApiId"]["Value"] == {"Fn::GetAtt": ["Api", "ApiId"]}


# --- tables, bus, functions --------------------------------------------------------------


def test_every_table_as_the_code_creates_it_with_recovery_ttl_and_the_outbox_stream() -> None:
    # given
    _, body = synth("api-key", prefix="shop-")
    # when
    tables = {t["TableName"]: (n, t) for n, t in resources(body, "AWS::DynamoDB::Table").items()}
    # then
    assert set(tables) == {f"shop-{spec.name}" for spec in ALL_TABLES}
    for spec in ALL_TABLES:
        name, table = tables[f"shop-{spec.name}"]
        created = table_definition(spec, f"shop-{spec.name}")  # what create_tables sends
        for key in ("AttributeDefinitions", "KeySchema", "BillingMode"):
            assert table[key] == created[key]
        assert table.get("GlobalSecondaryIndexes") == created.get("GlobalSecondaryIndexes")
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        if spec.ttl_attribute:
            assert table["TimeToLiveSpecification"] == {
                "AttributeName": spec.ttl_attribute,
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in table
        if spec is OUTBOX:
            assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
        else:
            assert "StreamSpecification" not in table
        assert body["Resources"][name]["DeletionPolicy"] == "Retain"
        assert body["Resources"][name]["UpdateReplacePolicy"] == "Retain"


def test_the_outbox_stream_feeds_the_drain_with_inserts_only() -> None:
    # given
    _, body = synth("api-key")
    # when
    (mapping,) = resources(body, "AWS::Lambda::EventSourceMapping").values()
    # then
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": "DrainFunction"}
    (only,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == {"eventName": ["INSERT"]}
    assert mapping["BatchSize"] == 100
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    # Finite: -1 (the default) would hold the shard behind one poison record forever.
    assert 0 < mapping["MaximumRetryAttempts"] <= 10_000
    assert mapping["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": ["DrainFailureQueue", "Arn"]}}
    }
    sweeps = [r for r in resources(body, "AWS::Events::Rule").values() if "ScheduleExpression" in r]
    (sweep,) = sweeps
    assert sweep["Targets"][0]["Arn"] == {"Fn::GetAtt": ["DrainFunction", "Arn"]}


def test_the_functions_run_the_repository_handlers_with_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    _, body = synth("all-modes-per-resolver-cache", prefix="shop-")
    functions = resources(body, "AWS::Lambda::Function")
    # then: both handlers exist in the package's code
    assert {f["Handler"] for f in functions.values()} == {
        "appsync.lambda_handler.handler",
        "datasources.events.stream.handler",
    }
    for function in functions.values():
        module, attribute = function["Handler"].rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute))
        assert function["Runtime"] == "python3.11"
        assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    resolver = functions["ResolverFunction"]["Environment"]["Variables"]
    drain = functions["DrainFunction"]["Environment"]["Variables"]
    assert resolver["CG_TABLE_PREFIX"] == drain["CG_TABLE_PREFIX"] == "shop-"
    assert resolver["CG_AUTH_DEFAULT_MODE"] == "AMAZON_COGNITO_USER_POOLS"
    assert resolver["CG_QUERY_DEPTH_LIMIT"] == "12"
    assert drain["CG_EVENTS_BUS_NAME"] == {"Ref": "Bus"}
    (bus,) = resources(body, "AWS::Events::EventBus").values()
    assert bus["Name"] == EventsSettings().bus_name
    # every variable is one the code reads (a typo would be silently ignored)
    for name in [*resolver, *drain]:
        assert name in SETTINGS_VARIABLES, name
    # and the literal ones parse into what the synthesising settings said
    for name, value in {**resolver, **drain}.items():
        if isinstance(value, str) and not name.startswith("CG_AUTH_"):
            monkeypatch.setenv(name, value)
    assert Settings().table_prefix == "shop-"
    assert EdgeSettings().query_depth_limit == 12
    assert EventsSettings().relay_page_size == int(drain["CG_EVENTS_RELAY_PAGE_SIZE"])


def _variables() -> set[str]:
    from datasources.build import ConnectorSettings

    connectors = ConnectorSettings()
    classes: list[type[EnvSettings]] = [
        Settings,
        EdgeSettings,
        AuthSettings,
        EventsSettings,
        *(type(getattr(connectors, f)) for f in ("neptune", "payments", "tax", "erp", "loyalty")),
    ]
    found = set()
    for cls in classes:
        found |= {name for names in cls.env_names().values() for name in names}
    return found


SETTINGS_VARIABLES = _variables()


# --- IAM ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_statement_allows_every_resource_or_action(variant: str) -> None:
    _, body = synth(variant)
    seen = 0
    for owner, stmt in statements(body):
        seen += 1
        assert stmt["Effect"] == "Allow"
        for resource in as_list(stmt["Resource"]):
            assert resource != "*", (owner, stmt)
        for action in as_list(stmt["Action"]):
            assert "*" not in action, (owner, stmt)
    assert seen >= 12
    for name, role in resources(body, "AWS::IAM::Role").items():
        # The only managed policy: ENIs in the VPC, for the resolver, when it has subnets.
        managed = role.get("ManagedPolicyArns")
        if name == "ResolverRole":
            assert managed is not None
            assert managed["Fn::If"][0] == "InVpc"
            assert managed["Fn::If"][2] == {"Ref": "AWS::NoValue"}
        else:
            assert managed is None


def test_each_role_may_do_its_job_on_its_resources_only() -> None:
    # given
    plan, body = synth("all-modes-per-resolver-cache")
    deployed = build_graphql_schema(APPSYNC_BASE_SDL + plan.schema_sdl)
    assert deployed.mutation_type is not None
    iam_only = {
        name
        for name, field in deployed.mutation_type.fields.items()
        if field.ast_node is not None
        and [d.name.value for d in field.ast_node.directives] == ["aws_iam"]
    }
    # then: the drain
    drain = role_statements(body, "DrainRole")
    assert set(drain) == {"Logs", "OutboxStream", "Outbox", "Bus", "FailureQueue"}
    assert drain["Bus"]["Action"] == ["events:PutEvents"]
    assert drain["Bus"]["Resource"] == {"Fn::GetAtt": ["Bus", "Arn"]}
    assert drain["OutboxStream"]["Resource"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}
    assert all(a.startswith("dynamodb:") for a in drain["OutboxStream"]["Action"])
    assert drain["Outbox"]["Resource"] == [
        {"Fn::GetAtt": ["OutboxTable", "Arn"]},
        {"Fn::Sub": "${OutboxTable.Arn}/index/gsi1"},
    ]
    assert drain["FailureQueue"] == {
        "Sid": "FailureQueue",
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": {"Fn::GetAtt": ["DrainFailureQueue", "Arn"]},
    }
    assert drain["Logs"]["Resource"] == {"Fn::GetAtt": ["DrainLogGroup", "Arn"]}
    # AppSync: invoke the resolver function, nothing else
    (invoke,) = role_statements(body, "ApiRole").values()
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == {"Fn::GetAtt": ["ResolverFunction", "Arn"]}
    # EventBridge -> AppSync: the IAM-only publish* mutations, nothing else
    (publish,) = role_statements(body, "InboundRole").values()
    assert publish["Action"] == ["appsync:GraphQL"]
    assert sorted(r["Fn::Sub"] for r in publish["Resource"]) == sorted(
        f"${{Api.Arn}}/types/Mutation/fields/{name}" for name in iam_only
    )
    assert len(iam_only) == 3
    # the resolvers: the tables they use, never the API keys' table
    resolver = role_statements(body, "ResolverRole")
    tables = {sid.removesuffix("Table").lower() for sid in resolver} - {"logs", "neptune"}
    assert tables == set(RESOLVER_TABLE_ACTIONS)
    assert "apikeys" not in tables
    for sid in ("CatalogTable", "CustomersTable"):
        assert {a.removeprefix("dynamodb:") for a in resolver[sid]["Action"]} <= {
            "BatchGetItem",
            "GetItem",
            "Query",
        }
    # the inbound dead-letter queue: EventBridge may send, for the inbound rules only
    (queue_policy,) = resources(body, "AWS::SQS::QueuePolicy").values()
    (send,) = queue_policy["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Resource"] == {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
    inbound_rules = [n for n in resources(body, "AWS::Events::Rule") if n.startswith("Inbound")]
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": [n, "Arn"]} for n in inbound_rules
    ]


# --- inbound events ----------------------------------------------------------------------


def eventbridge_transform(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """EventBridge's input transformer on `event`: each path's value, as JSON, in place of its
    unquoted placeholder."""
    text = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value: Any = event
        for step in path.removeprefix("$.").split("."):
            value = value.get(step) if isinstance(value, dict) else None
        text = text.replace(f"<{name}>", json.dumps(value))
    return json.loads(text)


INBOUND_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "STOCK_CHANGED": (
        "erp.stock",
        {
            "sku": "SKU-1",
            "productId": "prd_1",
            "variantId": "var_1",
            "locationId": "loc_1",
            "quantity": 9,
            "available": 7,
        },
    ),
    "PRICE_CHANGED": (
        "erp.pricing",
        {
            "sku": "SKU-1",
            "productId": "prd_1",
            "variantId": "var_1",
            "channel": "WEB",
            "amount": "19.99",
            "currencyCode": "EUR",
        },
    ),
    "ORDER_CREATED": (
        "commerce-graph.order",
        {"orderId": "ord_1", "number": "1001", "customerId": "cus_1", "status": "PLACED"},
    ),
    "ORDER_STATUS_CHANGED": ("erp.orders", {"orderId": "ord_1", "status": "SHIPPED"}),
    "FULFILMENT_STATUS_CHANGED": (
        "erp.fulfilment",
        {"orderId": "ord_2", "customerId": None, "status": "DELIVERED"},
    ),
}


def test_inbound_rules_call_what_the_local_consumer_calls_with_the_same_variables() -> None:
    # given
    _, body = synth("all-modes-per-resolver-cache")
    rules = {
        name: rule
        for name, rule in resources(body, "AWS::Events::Rule").items()
        if rule.get("EventBusName") == {"Ref": "Bus"}
    }
    prefixes = EventsSettings().inbound_source_prefixes
    routed: dict[str, dict[str, Any]] = {}
    for rule in rules.values():
        assert rule["EventPattern"]["source"] == [{"prefix": p} for p in prefixes]
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["Api", "GraphQLEndpointArn"]}
        assert target["RoleArn"] == {"Fn::GetAtt": ["InboundRole", "Arn"]}
        assert target["DeadLetterConfig"] == {
            "Arn": {"Fn::GetAtt": ["InboundDeadLetterQueue", "Arn"]}
        }
        for detail_type in rule["EventPattern"]["detail-type"]:
            routed[detail_type] = target
    assert set(routed) == set(ROUTES) == set(INBOUND_EVENTS)
    for detail_type, (source, payload) in INBOUND_EVENTS.items():
        document, variables_of = ROUTES[detail_type]
        occurred_at = "2026-11-24T01:37:07.123Z"
        event_ = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "source": source,
            "detail-type": detail_type,
            "time": "2026-11-24T01:37:08Z",
            "detail": {"eventId": "e1", "occurredAt": occurred_at, "payload": payload},
        }
        target = routed[detail_type]
        # when: EventBridge builds the variables
        variables = eventbridge_transform(target["InputTransformer"], event_)
        # then: the same operation and variables as appsync/inbound.py runs locally
        assert target["AppSyncParameters"]["GraphQLOperation"] == document
        assert variables == {"input": variables_of(payload, occurred_at)}


def test_without_iam_the_inbound_rules_are_left_out_and_said_so() -> None:
    auth, edge, deploy = VARIANTS["api-key"]
    template = synthesize(
        plan_api(deploy, auth=auth, edge=edge),
        settings=Settings(),
        events=EventsSettings(),
        now=NOW,
    )
    assert not [n for n in template.resources if n.startswith("Inbound")]
    assert any("AWS_IAM" in note for note in template.notes)


# --- the command -------------------------------------------------------------------------


def test_the_cli_writes_the_template_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: the settings in the environment only (no .env from the checkout)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CG_TABLE_PREFIX", "cli-")
    monkeypatch.setenv("CG_EVENTS_BUS_NAME", "cli-bus")
    monkeypatch.setenv("CG_DEPLOY_API_NAME", "cli-graph")
    monkeypatch.setenv("CG_CACHING", "FULL_REQUEST_CACHING")
    # when
    assert server.main(["infra", "synth", "--out", str(tmp_path / "stack.yaml")]) == 0
    assert server.main(["infra", "synth", "--out", str(tmp_path / "stack.json")]) == 0
    err = capsys.readouterr().err
    assert server.main(["infra", "synth"]) == 0
    printed = capsys.readouterr().out
    # then
    for body in (
        yaml.safe_load((tmp_path / "stack.yaml").read_text()),
        json.loads((tmp_path / "stack.json").read_text()),
        json.loads(printed),
    ):
        assert body["Resources"]["Api"]["Properties"]["Name"] == "cli-graph"
        assert body["Resources"]["Bus"]["Properties"]["Name"] == "cli-bus"
        assert body["Resources"]["OutboxTable"]["Properties"]["TableName"] == "cli-outbox"
        assert "ApiCache" in body["Resources"]
    assert "wrote" in err
    assert "AWS_IAM is not an auth mode" in err
    assert lint_problems((tmp_path / "stack.yaml").read_text()) == []


def test_the_cli_refuses_an_api_it_cannot_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a Lambda authorizer that runs in process only
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CG_AUTH_DEFAULT_MODE", "AWS_LAMBDA")
    monkeypatch.setenv("CG_AUTH_LAMBDA_AUTHORIZER", "tests.authorizer:handler")
    # when
    status = server.main(["infra", "synth", "--out", str(tmp_path / "stack.json")])
    # then
    assert status == 2
    assert "CG_AUTH_LAMBDA_FUNCTION_ARN" in capsys.readouterr().err
    assert not (tmp_path / "stack.json").exists()


# --- the resolver role against the Lambda's real calls ------------------------------------


ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}


class DynamoCalls:
    """The DynamoDB requests a client sends, as IAM authorises them: (action, table, index).
    A transaction is authorised per item, by the item's own action."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: set[tuple[str, str, str | None]] = set()

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = str(model.name)
        if operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                ((kind, request),) = item.items()
                action = ITEM_ACTIONS.get(kind, f"{kind}Item")
                self._add(action, request["TableName"], None)
        elif operation in ("BatchGetItem", "BatchWriteItem"):
            for table in params["RequestItems"]:
                self._add(operation, table, None)
        else:
            self._add(operation, params["TableName"], params.get("IndexName"))

    def _add(self, action: str, table: str, index: str | None) -> None:
        self.seen.add((action, table.removeprefix(self.prefix), index))


def allowed_by(role: dict[str, dict[str, Any]], body: dict[str, Any]) -> set[tuple[str, str, Any]]:
    """(action, table, index) the role's DynamoDB statements allow; index None is the table."""
    logical = {
        name: props["TableName"] for name, props in resources(body, "AWS::DynamoDB::Table").items()
    }
    allowed = set()
    for stmt in role.values():
        for resource in as_list(stmt["Resource"]):
            if "Fn::GetAtt" in resource and resource["Fn::GetAtt"][0] in logical:
                target = (logical[resource["Fn::GetAtt"][0]], None)
            elif "Fn::Sub" in resource and "/index/" in resource["Fn::Sub"]:
                owner, index = resource["Fn::Sub"].split("/index/")
                target = (logical[owner.removeprefix("${").removesuffix(".Arn}")], index)
            else:
                continue
            for action in stmt["Action"]:
                allowed.add((action.removeprefix("dynamodb:"), *target))
    return allowed


async def test_the_resolver_role_allows_every_dynamodb_call_the_lambda_makes(
    graph: Graph, demo: DemoData
) -> None:
    # given: the Lambda's resolver on the graph's sources, its DynamoDB requests recorded
    prefix = graph.settings.table_prefix
    _, body = synth("api-key", prefix=prefix)
    allowed = {
        (action, table.removeprefix(prefix), index)
        for action, table, index in allowed_by(role_statements(body, "ResolverRole"), body)
    }
    calls = DynamoCalls(prefix)
    events = graph.sources.dynamo.raw.meta.events
    hook = f"infra-test-{uuid.uuid4().hex}"
    events.register("before-parameter-build.dynamodb", calls, unique_id=hook)
    resolver = LambdaResolver(graph.settings, sources=graph.sources)
    try:
        # when: every root field the Lambda serves, reads and writes
        product = demo.products[0]
        for root_event in (
            event(
                "Query",
                "product",
                {"id": product.id},
                PRODUCT_SELECTION,
                variables={"channel": "WEB"},
            ),
            event("Query", "products", {"limit": 3}, "{ items { id } nextToken }"),
            event("Query", "categories", {"limit": 3}, "{ items { id } }"),
            event(
                "Query",
                "category",
                {"id": product.category_id},
                "{ id products(limit: 2) { items { id } } children { items { id } } }",
            ),
            event("Query", "locations", {"limit": 3}, "{ items { id } }"),
            event(
                "Query",
                "customer",
                {"id": "cus_0001"},
                "{ id orders(limit: 2) { items { id } } }",
                identity=COGNITO_IDENTITY,
            ),
        ):
            await resolver.resolve(root_event)
        first, second = in_stock_variants(demo, 2, minimum=5)
        cart_selection = "{ cart { id lines { id } } userErrors { code message } }"
        created = await resolver.resolve(
            event("Mutation", "createCart", {"input": {"channel": "WEB"}}, cart_selection)
        )
        cart_id = created["cart"]["id"]
        lines = [{"variantId": first, "quantity": 1}, {"variantId": second, "quantity": 1}]
        added = await resolver.resolve(
            event("Mutation", "addCartLines", {"cartId": cart_id, "lines": lines}, cart_selection)
        )
        line_ids = [line["id"] for line in added["cart"]["lines"]]
        await resolver.resolve(
            event(
                "Mutation",
                "updateCartLine",
                {"cartId": cart_id, "lineId": line_ids[0], "quantity": 2},
                cart_selection,
            )
        )
        await resolver.resolve(
            event(
                "Mutation",
                "removeCartLine",
                {"cartId": cart_id, "lineId": line_ids[1]},
                cart_selection,
            )
        )
        await resolver.resolve(event("Query", "cart", {"id": cart_id}, "{ id status }"))
        placed = await resolver.resolve(
            event(
                "Mutation",
                "placeOrder",
                {
                    "input": {
                        "cartId": cart_id,
                        "idempotencyKey": str(uuid.uuid4()),
                        "paymentMethodId": "pm_card_visa",
                    }
                },
                "{ order { id } userErrors { code message } }",
            )
        )
        assert placed["userErrors"] == [], placed
        await resolver.resolve(event("Query", "order", {"id": placed["order"]["id"]}, "{ id }"))
    finally:
        events.unregister("before-parameter-build.dynamodb", unique_id=hook)
    # then: each call is allowed by the role, and the role grants nothing on a table the
    # Lambda never touched
    assert calls.seen, "no DynamoDB call was recorded"
    assert calls.seen <= allowed, sorted(calls.seen - allowed)
    assert {table for _, table, _ in calls.seen} == {table for _, table, _ in allowed}
    unused = {(action, table) for action, table, _ in allowed} - {
        (action, table) for action, table, _ in calls.seen
    }
    assert unused == set(), f"granted but never called here: {sorted(unused)}"
