"""The AppSync API, as `appsync/deploy/plan.py` plans it for `commerce-graph deploy`: the same
auth modes, limits, SDL, resolvers, keys and cache, translated from boto3's request shapes to
CloudFormation's properties. Nothing here decides what the API is; only how it is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from appsync.deploy.plan import ApiPlan
from appsync.deploy.template.cfn import (
    Json,
    Template,
    assume_role,
    get_att,
    logical_id,
    pascal,
    policy,
    statement,
)

API: Final = "Api"
SCHEMA: Final = "Schema"
LAMBDA_SOURCE: Final = "LambdaDataSource"
NONE_SOURCE: Final = "NoneDataSource"
_HOUR = 3600


def api_properties(plan: ApiPlan) -> dict[str, Json]:
    # create_graphql_api takes an empty provider list; CloudFormation wants none at all.
    api = {key: value for key, value in plan.api.items() if value != []}
    return {
        "Name": plan.name,
        **pascal(api),
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(plan.tags.items())],
    }


def authorizer_uris(api: Mapping[str, Any]) -> Iterator[str]:
    """The Lambda authorizers the API calls (the default's and additional providers')."""
    for config in (api, *api.get("additionalAuthenticationProviders", ())):
        authorizer = config.get("lambdaAuthorizerConfig")
        if authorizer:
            yield str(authorizer["authorizerUri"])


def expires(days: int, now: float) -> int:
    """An API key's expiry: AppSync rounds it down to the hour."""
    return int(now + days * 86400) // _HOUR * _HOUR


def add_api(template: Template, plan: ApiPlan, *, function: str, now: float) -> str:
    """The API and everything on it; its logical id. `function` is the resolvers' Lambda."""
    api = template.add(API, "AWS::AppSync::GraphQLApi", api_properties(plan))
    api_id = get_att(api, "ApiId")
    for n, uri in enumerate(dict.fromkeys(authorizer_uris(plan.api))):
        template.add(
            f"AuthorizerPermission{n + 1}",
            "AWS::Lambda::Permission",
            {
                "Action": "lambda:InvokeFunction",
                "FunctionName": uri,
                "Principal": "appsync.amazonaws.com",
                "SourceArn": get_att(api, "Arn"),
            },
        )
    template.add(
        SCHEMA, "AWS::AppSync::GraphQLSchema", {"ApiId": api_id, "Definition": plan.schema_sdl}
    )

    role = template.add(
        "ApiRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assume_role("appsync.amazonaws.com"),
            "Policies": [
                policy(
                    "invoke-resolvers",
                    [statement(["lambda:InvokeFunction"], get_att(function, "Arn"), sid="Invoke")],
                )
            ],
        },
    )
    template.add(
        LAMBDA_SOURCE,
        "AWS::AppSync::DataSource",
        {
            "ApiId": api_id,
            "Name": plan.lambda_source,
            "Type": "AWS_LAMBDA",
            "ServiceRoleArn": get_att(role, "Arn"),
            "LambdaConfig": {"LambdaFunctionArn": get_att(function, "Arn")},
        },
    )
    template.add(
        NONE_SOURCE,
        "AWS::AppSync::DataSource",
        {"ApiId": api_id, "Name": plan.none_source, "Type": "NONE"},
    )
    sources = {plan.lambda_source: LAMBDA_SOURCE, plan.none_source: NONE_SOURCE}
    for resolver in plan.resolvers:
        properties = pascal(resolver.request())
        properties["DataSourceName"] = get_att(sources[resolver.data_source], "Name")
        template.add(
            logical_id("Resolver", resolver.type_name, resolver.field_name),
            "AWS::AppSync::Resolver",
            {"ApiId": api_id, **properties},
            # The field must exist before its resolver does.
            DependsOn=SCHEMA,
        )

    for key in plan.api_keys:
        name = template.add(
            logical_id("ApiKey", key.description),
            "AWS::AppSync::ApiKey",
            {"ApiId": api_id, "Description": key.description, "Expires": expires(key.days, now)},
        )
        template.output(
            logical_id(name, "id"), get_att(name, "ApiKeyId"), f"API key {key.description!r}."
        )
    if plan.cache is not None:
        template.add("ApiCache", "AWS::AppSync::ApiCache", {"ApiId": api_id, **pascal(plan.cache)})

    template.output("GraphQLUrl", get_att(api, "GraphQLUrl"), "The GraphQL endpoint.")
    template.output("RealtimeUrl", get_att(api, "RealtimeUrl"), "The realtime endpoint.")
    template.output("ApiId", api_id, "The AppSync API's id.")
    template.output("ApiArn", get_att(api, "Arn"), "The AppSync API's ARN.")
    return api
