"""The desired state of the AppSync API, from settings and the schema (no boto3, no
CloudFormation): `apply` converges an account on it, `infra` writes it as a template.

What is planned (APPSYNC.md §2.3, §4, §6.1, §6.3):

- the API: auth modes from `AuthSettings` (`CG_AUTH_*`), limits and X-Ray/logs, in
  `create_graphql_api`/`update_graphql_api` shapes;
- the SDL AppSync accepts (`schema.sdl.export_sdl`);
- one Direct Lambda resolver (kind UNIT, no templates, no code) per root field of Query and
  Mutation; the Lambda runs the field's whole selection (appsync/lambda_handler.py), so nested
  fields need none. Query resolvers batch up to `max_batch_size`; mutations never do, since
  the handler runs a batch's items concurrently and GraphQL runs mutation fields in order;
- NONE-source APPSYNC_JS resolvers where the local server resolves without the Lambda: the
  IAM-only `publish*` mutations (schema/events.py), which echo their input, and the
  subscription fields with a subscribe hook (appsync/realtime/access.py), whose filters a
  subscription resolver sets on AppSync. Argument-equality filtering of `@aws_subscribe`
  fields needs no resolver;
- API keys (one per head) when API_KEY is a mode, the API cache when caching is on, tags.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from graphql import build_schema as build_graphql_schema
from strawberry.types.base import get_object_definition

from appsync.auth import AuthMode, AuthSettings
from appsync.caching import CachingBehavior, CachingConfig
from appsync.deploy.settings import DeploySettings
from appsync.realtime.access import SUBSCRIPTION_HOOKS
from appsync.settings import EdgeSettings
from datasources import frozen
from schema import build_schema
from schema.events import EventMutation
from schema.sdl import APPSYNC_BASE_SDL, export_sdl

__all__ = [
    "APPSYNC_JS",
    "LAMBDA_SOURCE",
    "MANAGED_BY_TAG",
    "NONE_SOURCE",
    "ApiKeyPlan",
    "ApiPlan",
    "PlanError",
    "ResolverPlan",
    "plan_api",
]

LAMBDA_SOURCE = "CommerceGraphLambda"
NONE_SOURCE = "Local"
MANAGED_BY_TAG = ("managed-by", "commerce-graph")
APPSYNC_JS = {"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}

# `publish*`: write nothing and return the input, as schema/events.py does; AppSync then
# pushes the result to the fields whose @aws_subscribe lists the mutation.
ECHO_INPUT_JS = """\
export function request(ctx) {
  return { payload: ctx.arguments.input };
}

export function response(ctx) {
  return ctx.result;
}
"""

# Who the caller is, as appsync/auth/actor.py decides it, read from the identity's shape
# (AppSync's identity per mode, APPSYNC.md §4.2): null for API keys, `resolverContext` for
# Lambda, `claims` for Cognito and OIDC, `userArn` for IAM (store devices).
_ACTOR_JS = """\
function actorOf(identity) {
  if (!identity) {
    return { customerId: null, staff: false, device: false };
  }
  if (identity.resolverContext) {
    const context = identity.resolverContext;
    const staff = context.role === 'staff';
    return { customerId: context.customerId || null, staff, device: false };
  }
  if (identity.claims) {
    const claims = identity.claims;
    const customerId = claims['custom:customerId'] || identity.username || identity.sub || null;
    return { customerId, staff: (identity.groups || []).includes('staff'), device: false };
  }
  return { customerId: null, staff: false, device: !!identity.userArn };
}
"""

# appsync/realtime/access.py `own_orders_only`. AppSync stops applying the subscription's
# arguments once its resolver sets a filter (aws-appsync-community#89), while the local
# server ANDs both: the filter restates the arguments so both behave alike.
ON_ORDER_STATUS_CHANGED_JS = f"""\
import {{ util, extensions }} from '@aws-appsync/utils';

{_ACTOR_JS}
export function request(ctx) {{
  return {{ payload: null }};
}}

export function response(ctx) {{
  const actor = actorOf(ctx.identity);
  if (actor.staff || actor.device) {{
    return null;
  }}
  if (!actor.customerId || ctx.args.customerId !== actor.customerId) {{
    util.unauthorized();
  }}
  const filter = {{ customerId: {{ eq: actor.customerId }} }};
  if (ctx.args.orderId !== undefined && ctx.args.orderId !== null) {{
    filter.orderId = {{ eq: ctx.args.orderId }};
  }}
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(filter));
  return null;
}}
"""

# appsync/realtime/access.py `cart_invalidation`; the argument filter is restated for the
# same reason as above.
ON_CART_UPDATED_JS = """\
import { util, extensions } from '@aws-appsync/utils';

export function request(ctx) {
  return { payload: null };
}

export function response(ctx) {
  const byCart = util.transform.toSubscriptionFilter({ cartId: { eq: ctx.args.cartId } });
  extensions.setSubscriptionFilter(byCart);
  extensions.setSubscriptionInvalidationFilter(byCart);
  return null;
}
"""

# One subscription resolver per subscribe hook of the local server; a hook without code
# here fails the plan, so the two cannot drift apart silently.
SUBSCRIPTION_RESOLVER_JS: Mapping[str, str] = {
    "onOrderStatusChanged": ON_ORDER_STATUS_CHANGED_JS,
    "onCartUpdated": ON_CART_UPDATED_JS,
}


class PlanError(ValueError):
    """The settings describe an API that cannot be deployed."""


@frozen.record
class ResolverPlan:
    type_name: str  # "Query" | "Mutation" | "Subscription"
    field_name: str
    data_source: str  # ApiPlan.lambda_source or ApiPlan.none_source
    max_batch_size: int  # 0..2000; 0 for NONE resolvers and mutations
    caching: CachingConfig | None  # only under PER_RESOLVER_CACHING
    code: str | None  # APPSYNC_JS 1.0.0 for NONE resolvers; None = Direct Lambda

    @property
    def key(self) -> str:
        return f"{self.type_name}.{self.field_name}"

    def request(self) -> dict[str, Any]:
        """`create_resolver`/`update_resolver` kwargs, minus apiId."""
        request: dict[str, Any] = {
            "typeName": self.type_name,
            "fieldName": self.field_name,
            "dataSourceName": self.data_source,
            "kind": "UNIT",
        }
        if self.code is not None:
            request["runtime"] = dict(APPSYNC_JS)
            request["code"] = self.code
        else:
            request["maxBatchSize"] = self.max_batch_size
        if self.caching is not None:
            request["cachingConfig"] = {
                "ttl": self.caching.ttl,
                "cachingKeys": [f"$context.{key}" for key in self.caching.canonical_keys],
            }
        return request


@frozen.record
class ApiKeyPlan:
    description: str
    days: int


@frozen.record
class ApiPlan:
    name: str
    api: dict[str, Any]  # create/update_graphql_api kwargs minus name/apiId
    schema_sdl: str
    lambda_source: str
    none_source: str
    resolvers: tuple[ResolverPlan, ...]
    api_keys: tuple[ApiKeyPlan, ...]
    cache: dict[str, Any] | None  # create_api_cache kwargs minus apiId
    tags: dict[str, str]

    @property
    def schema_sha256(self) -> str:
        return hashlib.sha256(self.schema_sdl.encode()).hexdigest()


def plan_api(
    settings: DeploySettings,
    *,
    auth: AuthSettings | None = None,
    edge: EdgeSettings | None = None,
) -> ApiPlan:
    """The API `settings`, `auth` and `edge` describe; `PlanError` if it cannot exist."""
    auth = auth if auth is not None else AuthSettings()
    edge = edge if edge is not None else EdgeSettings()
    sdl, echo_fields = _schema()
    api = {**_auth_config(auth), **_api_settings(settings, edge)}
    return ApiPlan(
        name=settings.api_name,
        api=api,
        schema_sdl=sdl,
        lambda_source=LAMBDA_SOURCE,
        none_source=NONE_SOURCE,
        resolvers=_resolvers(sdl, settings, edge, echo_fields),
        api_keys=tuple(
            ApiKeyPlan(description, settings.api_key_days) for description in settings.api_keys
        )
        if AuthMode.API_KEY in auth.modes
        else (),
        cache=_cache(settings, edge),
        tags={**settings.tags, MANAGED_BY_TAG[0]: MANAGED_BY_TAG[1]},
    )


@functools.cache
def _schema() -> tuple[str, frozenset[str]]:
    """The deployable SDL and the echoing `publish*` fields; built once, the schema is fixed."""
    strawberry_schema = build_schema()
    name_of = strawberry_schema.config.name_converter.get_graphql_name
    echo = get_object_definition(EventMutation, strict=True).fields
    return export_sdl(strawberry_schema), frozenset(name_of(field) for field in echo)


def _resolvers(
    sdl: str, settings: DeploySettings, edge: EdgeSettings, echo_fields: frozenset[str]
) -> tuple[ResolverPlan, ...]:
    # Read the root fields from the SDL that is deployed, not from the Python types.
    deployed = build_graphql_schema(APPSYNC_BASE_SDL + sdl)
    cache = edge.cache()
    per_resolver = cache is not None and cache.behavior is CachingBehavior.PER_RESOLVER_CACHING
    cached: Mapping[str, CachingConfig] = cache.resolvers if cache and per_resolver else {}
    plans: list[ResolverPlan] = []
    for root in (deployed.query_type, deployed.mutation_type):
        if root is None:
            continue
        is_query = root is deployed.query_type
        for field_name in root.fields:
            if not is_query and field_name in echo_fields:
                plans.append(
                    ResolverPlan(root.name, field_name, NONE_SOURCE, 0, None, ECHO_INPUT_JS)
                )
                continue
            plans.append(
                ResolverPlan(
                    root.name,
                    field_name,
                    LAMBDA_SOURCE,
                    settings.max_batch_size if is_query else 0,
                    cached.get(f"{root.name}.{field_name}"),
                    None,
                )
            )
    subscription = deployed.subscription_type
    subscription_fields = set(subscription.fields) if subscription is not None else set()
    for field_name in SUBSCRIPTION_HOOKS:
        code = SUBSCRIPTION_RESOLVER_JS.get(field_name)
        if code is None or field_name not in subscription_fields:
            raise PlanError(
                f"subscription hook {field_name!r} has no APPSYNC_JS resolver in"
                " appsync/deploy/plan.py, or no such Subscription field"
            )
        plans.append(ResolverPlan("Subscription", field_name, NONE_SOURCE, 0, None, code))
    return tuple(plans)


def _auth_config(auth: AuthSettings) -> dict[str, Any]:
    default = auth.default_mode
    config: dict[str, Any] = {"authenticationType": str(default)}
    own = _provider_config(auth, default, default=True)
    config.update(own)
    config["additionalAuthenticationProviders"] = [
        {"authenticationType": str(mode), **_provider_config(auth, mode, default=False)}
        for mode in auth.additional_modes
    ]
    return config


def _provider_config(auth: AuthSettings, mode: AuthMode, *, default: bool) -> dict[str, Any]:
    if mode is AuthMode.AMAZON_COGNITO_USER_POOLS:
        assert auth.user_pool_id is not None  # AuthSettings checks it
        pool: dict[str, Any] = {"userPoolId": auth.user_pool_id, "awsRegion": auth.cognito_region}
        if default:  # only the default provider has a default action
            pool["defaultAction"] = auth.default_action
        if auth.app_id_client_regex:
            pool["appIdClientRegex"] = auth.app_id_client_regex
        return {"userPoolConfig": pool}
    if mode is AuthMode.OPENID_CONNECT:
        assert auth.oidc_issuer is not None
        oidc: dict[str, Any] = {"issuer": auth.oidc_issuer}
        if auth.oidc_client_id:
            oidc["clientId"] = auth.oidc_client_id
        if auth.oidc_iat_ttl_ms:
            oidc["iatTTL"] = auth.oidc_iat_ttl_ms
        if auth.oidc_auth_ttl_ms:
            oidc["authTTL"] = auth.oidc_auth_ttl_ms
        return {"openIDConnectConfig": oidc}
    if mode is AuthMode.AWS_LAMBDA:
        if auth.lambda_function_arn is None:
            raise PlanError(
                "AWS_LAMBDA needs CG_AUTH_LAMBDA_FUNCTION_ARN to deploy: an in-process"
                " authorizer (CG_AUTH_LAMBDA_AUTHORIZER) cannot run behind AppSync"
            )
        authorizer: dict[str, Any] = {
            "authorizerUri": auth.lambda_function_arn,
            "authorizerResultTtlInSeconds": auth.authorizer_result_ttl_seconds,
        }
        if auth.identity_validation_expression:
            authorizer["identityValidationExpression"] = auth.identity_validation_expression
        return {"lambdaAuthorizerConfig": authorizer}
    return {}  # API_KEY and AWS_IAM take no configuration on the API


def _api_settings(settings: DeploySettings, edge: EdgeSettings) -> dict[str, Any]:
    api: dict[str, Any] = {
        "queryDepthLimit": edge.query_depth_limit,
        "resolverCountLimit": edge.resolver_count_limit,
        "introspectionConfig": str(edge.introspection),
        "xrayEnabled": settings.xray_enabled,
    }
    if settings.log_role_arn is not None:
        api["logConfig"] = {
            "fieldLogLevel": settings.log_level,
            "cloudWatchLogsRoleArn": settings.log_role_arn,
            "excludeVerboseContent": settings.log_exclude_verbose_content,
        }
    return api


def _cache(settings: DeploySettings, edge: EdgeSettings) -> dict[str, Any] | None:
    if edge.caching == "NONE":
        return None
    return {
        "ttl": edge.cache_ttl_seconds,
        "apiCachingBehavior": edge.caching,
        "type": settings.cache_type,
        "transitEncryptionEnabled": settings.cache_transit_encryption,
        "atRestEncryptionEnabled": settings.cache_at_rest_encryption,
    }
