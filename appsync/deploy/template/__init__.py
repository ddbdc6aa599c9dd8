"""The whole stack as one CloudFormation template (`commerce-graph infra synth`).

    parameters.py   the Lambda package, external endpoints and secrets, VPC
    tables.py       the DynamoDB tables; the outbox streams its new images
    functions.py    the resolver and drain functions, their logs and least-privilege roles
    events.py       the bus, the stream -> drain mapping, the sweep, the inbound rules
    api.py          the AppSync API, from `appsync.deploy.plan.plan_api`

The functions get the same `CG_*` settings the code reads everywhere else, pointed at the
stack's tables and bus; nothing in the code knows it runs in AWS.
"""

from __future__ import annotations

from graphql import build_schema as build_graphql_schema

from appsync.auth import AuthMode
from appsync.deploy.plan import ApiPlan
from appsync.deploy.template.api import add_api
from appsync.deploy.template.cfn import Json, Template, ref
from appsync.deploy.template.events import (
    add_bus,
    add_inbound,
    add_outbox_drain,
    add_queue,
    inbound_routes,
)
from appsync.deploy.template.functions import add_drain_function, add_resolver_function
from appsync.deploy.template.parameters import add_parameters, connector_environment
from appsync.deploy.template.tables import add_tables
from datasources.dynamodb.tables import OUTBOX
from datasources.events.settings import EventsSettings
from datasources.settings import Settings
from schema.sdl import APPSYNC_BASE_SDL

__all__ = ["Template", "api_modes", "synthesize"]

DESCRIPTION = (
    "commerce-graph: AppSync API with Direct Lambda resolvers, DynamoDB tables, the EventBridge "
    "bus with the outbox drained by its stream, and the inbound events path."
)


def api_modes(plan: ApiPlan) -> list[str]:
    """The API's auth modes, default first."""
    providers = plan.api.get("additionalAuthenticationProviders", [])
    return [plan.api["authenticationType"], *(p["authenticationType"] for p in providers)]


def resolver_environment(plan: ApiPlan, settings: Settings) -> dict[str, Json]:
    env: dict[str, Json] = {
        "CG_TABLE_PREFIX": settings.table_prefix,
        # The API's default mode decides who may reach unannotated fields (APPSYNC.md §2.4);
        # the handler's field authorization must agree with AppSync's.
        "CG_AUTH_DEFAULT_MODE": plan.api["authenticationType"],
        "CG_QUERY_DEPTH_LIMIT": str(plan.api.get("queryDepthLimit", 0)),
        "CG_RESOLVER_COUNT_LIMIT": str(plan.api.get("resolverCountLimit", 10_000)),
        # The shop's rules, as the synthesising environment sets them.
        "CG_CART_TTL_DAYS": str(settings.cart_ttl_days),
        "CG_CART_WRITE_MAX_ATTEMPTS": str(settings.cart_write_max_attempts),
        "CG_TAX_DEFAULT_COUNTRY": settings.tax_default_country,
        "CG_TAX_CACHE_SECONDS": str(settings.tax_cache_seconds),
        "CG_LOYALTY_POINT_VALUE": str(settings.loyalty_point_value),
    }
    return {**env, **connector_environment()}


def drain_environment(settings: Settings, events: EventsSettings, bus: str) -> dict[str, Json]:
    return {
        "CG_TABLE_PREFIX": settings.table_prefix,
        "CG_EVENTS_BUS_NAME": ref(bus),
        "CG_EVENTS_RELAY_BATCH_SIZE": str(events.relay_batch_size),
        "CG_EVENTS_RELAY_PAGE_SIZE": str(events.relay_page_size),
        "CG_EVENTS_RELAY_MAX_BACKOFF_SECONDS": str(events.relay_max_backoff_seconds),
        "CG_EVENTS_PUBLISHED_RETENTION_DAYS": str(events.published_retention_days),
    }


def synthesize(
    plan: ApiPlan, *, settings: Settings, events: EventsSettings, now: float
) -> Template:
    """The template of the stack `plan` and the settings describe; `now` dates the API keys."""
    template = Template(DESCRIPTION)
    add_parameters(template)
    tables = add_tables(template, settings.table_prefix)
    bus = add_bus(template, events.bus_name)
    failure_queue = add_queue(
        template, "DrainFailureQueue", "Outbox stream records the drain gave up on."
    )
    resolver = add_resolver_function(
        template, tables, environment=resolver_environment(plan, settings)
    )
    outbox = tables[OUTBOX.name]
    drain = add_drain_function(
        template,
        outbox,
        bus=bus,
        failure_queue=failure_queue,
        environment=drain_environment(settings, events, bus),
    )
    add_outbox_drain(template, outbox, function=drain, failure_queue=failure_queue)
    api = add_api(template, plan, function=resolver, now=now)
    if str(AuthMode.AWS_IAM) in api_modes(plan):
        deployed = build_graphql_schema(APPSYNC_BASE_SDL + plan.schema_sdl)
        add_inbound(
            template,
            inbound_routes(deployed),
            bus=bus,
            api=api,
            source_prefixes=events.inbound_source_prefixes,
        )
    else:
        template.notes.append(
            "AWS_IAM is not an auth mode of the API (CG_AUTH_DEFAULT_MODE/"
            "CG_AUTH_ADDITIONAL_MODES): the inbound rules, which call the IAM-only publish*"
            " mutations, are left out; other systems' events will not reach subscribers."
        )
    return template
