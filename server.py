"""Composition root: the Starlette app, its lifespan, and the `commerce-graph` command.

commerce-graph serve            serve the graph (GraphiQL at /graphql)
commerce-graph schema export    print the AppSync-dialect SDL
commerce-graph seed             create tables and load the demo data (and its graph, when
                                CG_NEPTUNE_ENDPOINT is set)
commerce-graph graph rebuild    rebuild the recommendation graph from DynamoDB
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from appsync.auth import AuthSettings, Caller, open_authenticator
from appsync.auth.actor import actor_of
from appsync.authz import FieldAuthorization
from appsync.cache import ApiCache, CacheBackend, InMemoryCacheBackend, RedisCacheBackend
from appsync.deploy import apply as deploy_apply
from appsync.deploy import infra as deploy_infra
from appsync.http import GraphQLEndpoint
from appsync.inbound import InboundMutations
from appsync.limits import (
    InMemoryTokenBuckets,
    Limits,
    RateLimiter,
    RedisTokenBuckets,
    TokenBuckets,
    rate_limit_key,
)
from appsync.logs import quiet_expected_errors
from appsync.metrics import metrics_endpoint
from appsync.realtime import (
    AppSyncRealtimeEndpoint,
    Broker,
    InProcessBroker,
    Realtime,
    RedisBroker,
    TransportWsEndpoint,
)
from appsync.realtime.access import SUBSCRIPTION_HOOKS
from appsync.settings import EdgeSettings
from datasources.build import OPTIONAL, ConnectorSettings, Sources, open_sources
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.graph import load_demo_graph
from datasources.demo.load import is_seeded, load_demo
from datasources.dynamodb.apikeys import (
    create_api_key,
    list_api_keys,
    new_api_key,
    revoke_api_key,
)
from datasources.dynamodb.tables import create_tables
from datasources.errors import SourceError
from datasources.events.build import open_events
from datasources.events.cli import run_relay_command
from datasources.events.settings import EventsSettings
from datasources.neptune.local import GremlinServer, GremlinServerStartError, missing_requirement
from datasources.neptune.rebuild import rebuild_graph
from datasources.neptune.settings import NeptuneSettings
from datasources.resilience import SourceMetrics
from datasources.settings import Settings
from resolvers.context import Context, build_context
from schema import build_schema
from schema.sdl import export_sdl

log = logging.getLogger("commerce_graph")


def demo_data(settings: Settings) -> DemoData:
    return generate_demo(
        products=settings.seed_products,
        customers=settings.seed_customers,
        orders=settings.seed_orders,
        seed=settings.seed_random_seed,
    )


async def prepare_embedded(
    sources: Sources,
    settings: Settings,
    *,
    progress: bool,
    graph: bool = False,
    data: DemoData | None = None,
) -> None:
    """Tables and demo data for the embedded default (moto starts empty every time), and the
    recommendation graph when `graph` (a local Gremlin Server starts empty every time too).

    The graph is built from the demo set in memory, so both loads run side by side.
    """
    await create_tables(sources.dynamo)
    if await is_seeded(sources.dynamo):
        data = None
    elif data is None:
        data = demo_data(settings)
    try:
        async with asyncio.TaskGroup() as group:
            if data is not None:
                group.create_task(load_demo(sources.dynamo, data, progress=progress))
            if graph:
                group.create_task(_seed_graph(sources, data, progress=progress))
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from failed


async def _seed_graph(sources: Sources, data: DemoData | None, *, progress: bool) -> None:
    try:
        if data is not None:
            await load_demo_graph(sources.neptune, data, progress=progress)
        else:  # DynamoDB was seeded before (and may hold orders since): it is the truth
            await rebuild_graph(
                sources.neptune, sources.dynamo, sources.inventory, progress=progress
            )
    except SourceError as exc:
        print(f"commerce-graph: the graph was not seeded ({exc.error_type}: {exc.message})")


async def start_local_graph(stack: AsyncExitStack) -> str | None:
    """Gremlin Server for the embedded default, stopped with `stack`; None (and a notice) when
    it cannot run here, in which case recommendations answer Neptune:Unavailable."""
    problem = missing_requirement()
    if problem is None:
        server = GremlinServer()
        stack.callback(server.close)
        try:
            url = await asyncio.to_thread(server.start)
        except GremlinServerStartError as exc:
            problem = f"Gremlin Server did not start ({str(exc).splitlines()[0]})"
        else:
            took = server.startup_seconds or 0.0
            print(f"commerce-graph: Gremlin Server (the local Neptune) at {url} ({took:.1f}s)")
            return url
    print(f"commerce-graph: {problem}; recommendations answer Neptune:Unavailable")
    return None


def create_app(
    settings: Settings | None = None,
    *,
    auth_settings: AuthSettings | None = None,
    edge_settings: EdgeSettings | None = None,
    neptune_settings: NeptuneSettings | None = None,
    connector_settings: ConnectorSettings | None = None,
    events_settings: EventsSettings | None = None,
    progress: bool = False,
) -> Starlette:
    settings = settings or Settings()
    quiet_expected_errors()
    auth_settings = auth_settings or AuthSettings()
    edge = edge_settings or EdgeSettings()
    redis = Redis.from_url(edge.redis_url) if edge.redis_url else None  # lazy pool
    authorization = FieldAuthorization(default_mode=auth_settings.default_mode)
    limits = Limits(edge.limits())
    buckets: TokenBuckets = RedisTokenBuckets(redis) if redis else InMemoryTokenBuckets()
    rate_limiter = RateLimiter(
        buckets, rate=edge.rate_limit_per_second, burst=edge.rate_limit_burst
    )
    # Subscriptions fan out through Redis when several workers share it, else in process.
    broker: Broker = RedisBroker(redis) if redis else InProcessBroker()
    realtime = Realtime(
        broker,
        authorization=authorization,
        validation_rules=limits.validation_rules,
        hooks=SUBSCRIPTION_HOOKS,
    )
    extensions: list[Callable[[], SchemaExtension]] = [limits, authorization, realtime]
    api_cache = None
    if (cache_settings := edge.cache()) is not None:
        backend: CacheBackend = RedisCacheBackend(redis) if redis else InMemoryCacheBackend()
        api_cache = ApiCache(
            cache_settings, backend, secret=edge.cache_secret.get_secret_value().encode()
        )
        extensions.append(api_cache)
    schema = build_schema(extensions=extensions, execution_context_class=limits.executor_class)
    for piece in (authorization, limits, api_cache, realtime):
        if piece is not None:
            piece.prepare(schema)
    # The embedded default mints a dev API key that GraphiQL sends, so a first query just works.
    dev_key = new_api_key() if settings.embedded else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            stack.push_async_callback(realtime.aclose)  # before Redis closes
            connectors = connector_settings or ConnectorSettings()
            neptune = neptune_settings or connectors.neptune
            local_graph = False
            if settings.embedded and neptune.endpoint is None:
                url = await start_local_graph(stack)
                if url is not None:
                    neptune, local_graph = neptune.replace(endpoint=url), True
            # The embedded ERP and loyalty serve the same demo set DynamoDB is seeded with.
            data = await asyncio.to_thread(demo_data, settings) if settings.embedded else None
            sources = await stack.enter_async_context(
                open_sources(settings, neptune, connectors=connectors, demo=data)
            )
            if settings.embedded:
                await prepare_embedded(
                    sources, settings, progress=progress, graph=local_graph, data=data
                )
            if dev_key is not None:
                await create_api_key(sources.dynamo, description="make run", key=dev_key)
                print(f"commerce-graph: dev API key (x-api-key): {dev_key}")
            app.state.sources = sources
            app_state["sources"] = sources
            # The outbox relay, and the consumer of events from other systems (local wiring:
            # EventBridge -> SQS -> internal IAM mutations -> subscribers).
            events = await stack.enter_async_context(
                open_events(
                    events_settings or EventsSettings(), sources.dynamo, embedded=settings.embedded
                )
            )
            app.state.events = events
            app_state["events"] = events
            inbound = InboundMutations(
                schema,
                lambda caller: build_context(
                    settings, sources, caller=caller, cache=api_cache, actor=actor_of(caller)
                ),
            )
            app.state.inbound = inbound
            await stack.enter_async_context(events.running(inbound))
            app.state.authenticator = await stack.enter_async_context(
                open_authenticator(auth_settings, dynamo=sources.dynamo)
            )
            yield

    async def context(request: Request) -> Context:
        caller = await request.app.state.authenticator.authenticate_request(
            request, request.state.body
        )
        await rate_limiter.check(rate_limit_key(caller))
        return build_context(
            settings,
            request.app.state.sources,
            headers=request.headers,
            caller=caller,
            cache=api_cache,
            actor=actor_of(caller),
        )

    async def authenticate_socket(
        websocket: WebSocket, headers: Mapping[str, str], body: bytes, path: str
    ) -> Caller:
        authenticator = websocket.app.state.authenticator
        client = websocket.client.host if websocket.client else None
        caller: Caller = await authenticator.authenticate(headers, body, "POST", path, "", client)
        await rate_limiter.check(rate_limit_key(caller))
        return caller

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await request.app.state.sources.readiness()
        ready = all(ok for name, ok in checks.items() if name not in OPTIONAL)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "sources": checks},
            status_code=200 if ready else 503,
        )

    # Read at every scrape from the sources the lifespan opened (none before start-up).
    app_state: dict[str, Any] = {}

    def source_metrics() -> list[SourceMetrics]:
        if "sources" not in app_state:
            return []
        guards = [*app_state["sources"].guards]
        if "events" in app_state:
            guards += app_state["events"].guards
        return [g.metrics for g in guards]

    metrics = metrics_endpoint(source_metrics)

    async def home(_: Request) -> Response:
        return RedirectResponse("/graphql")

    endpoint = GraphQLEndpoint(
        schema,
        context_getter=context,
        max_body_bytes=settings.max_body_bytes,
        graphiql=settings.graphiql,
        graphiql_headers={"x-api-key": dev_key} if dev_key else None,
    )
    realtime_endpoint = AppSyncRealtimeEndpoint(realtime, authenticate=authenticate_socket)
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/graphql", endpoint),  # the endpoint answers every method itself
            # WebSockets: AppSync's protocol, and graphql-transport-ws for GraphiQL.
            WebSocketRoute("/graphql/realtime", realtime_endpoint),
            WebSocketRoute(
                "/graphql", TransportWsEndpoint(realtime, authenticate=authenticate_socket)
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.realtime, app.state.realtime_endpoint = realtime, realtime_endpoint
    return app


def _serve(settings: Settings) -> None:
    import uvicorn

    app = create_app(settings, progress=True)
    print(f"commerce-graph: GraphiQL at http://{settings.host}:{settings.port}/graphql")
    # The sans-I/O websockets protocol: the default picks websockets' deprecated legacy one.
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level="warning", ws="websockets-sansio"
    )


async def _apikey(settings: Settings, args: argparse.Namespace) -> None:
    async with open_sources(settings) as sources:
        await create_tables(sources.dynamo)
        if args.action == "create":
            expires = int(time.time()) + args.days * 86400 if args.days else None
            created = await create_api_key(
                sources.dynamo, description=args.description, expires=expires
            )
            print(created.key)
        elif args.action == "list":
            for record in await list_api_keys(sources.dynamo):
                print(record)
        else:
            print(await revoke_api_key(sources.dynamo, args.key))


async def _flush_cache(edge: EdgeSettings) -> int:
    """AppSync's `flush_api_cache`: only a shared (Redis) cache outlives the server process."""
    if edge.redis_url is None:
        print("The API cache is in memory (no CG_REDIS_URL): restarting the server flushes it.")
        return 1
    redis = Redis.from_url(edge.redis_url)
    try:
        await RedisCacheBackend(redis).flush()
    finally:
        await redis.aclose()
    print("API cache flushed.")
    return 0


async def _seed(settings: Settings) -> None:
    async with open_sources(settings) as sources:
        await create_tables(sources.dynamo)
        data = demo_data(settings)
        counts = await load_demo(sources.dynamo, data, progress=True)
        print(", ".join(f"{n} {kind}" for kind, n in counts.items()))
        if sources.neptune.enabled:
            graph = await load_demo_graph(sources.neptune, data, progress=True)
            print("graph: " + ", ".join(f"{n} {kind}" for kind, n in graph.items()))


async def _graph(settings: Settings, args: argparse.Namespace) -> int:
    neptune = NeptuneSettings()
    if neptune.endpoint is None:
        print("commerce-graph: set CG_NEPTUNE_ENDPOINT (ws[s]://host:8182/gremlin)")
        return 2
    async with open_sources(settings, neptune) as sources:
        counts = await rebuild_graph(
            sources.neptune, sources.dynamo, sources.inventory, drop=args.drop, progress=True
        )
    print("graph rebuilt: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="commerce-graph", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the graph")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--embedded", action="store_true", help="moto in process + demo data")
    schema_cmd = commands.add_parser("schema", help="schema tools")
    schema_cmd.add_argument("action", choices=["export"])
    commands.add_parser("seed", help="create tables and load the demo data")
    commands.add_parser(
        "relay", help="publish the outbox to EventBridge until stopped (SIGTERM/SIGINT)"
    )
    apikey = commands.add_parser("apikey", help="manage API keys")
    apikey.add_argument("action", choices=["create", "list", "revoke"])
    apikey.add_argument("key", nargs="?", help="key or key id (revoke)")
    apikey.add_argument("--description", default="")
    apikey.add_argument("--days", type=int, help="validity in days (1-365; default 7)")
    graph_cmd = commands.add_parser("graph", help="the recommendation graph (Neptune)")
    graph_cmd.add_argument("action", choices=["rebuild"])
    graph_cmd.add_argument(
        "--drop", action="store_true", help="empty the graph first (removes what DynamoDB lost)"
    )
    cache_cmd = commands.add_parser("cache", help="the API cache (CG_CACHING, CG_REDIS_URL)")
    cache_cmd.add_argument("action", choices=["flush"])
    deploy_cmd = commands.add_parser(
        "deploy", help="create or update the AppSync API, its schema and resolvers (boto3)"
    )
    deploy_apply.add_arguments(deploy_cmd)
    infra_cmd = commands.add_parser("infra", help="infrastructure as code (CloudFormation)")
    deploy_infra.add_arguments(infra_cmd)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    logging.getLogger("gremlinpython").setLevel(logging.WARNING)  # a line per traversal
    if args.command == "schema":
        sys.stdout.write(export_sdl(build_schema()))
        return 0
    if args.command == "cache":
        return asyncio.run(_flush_cache(EdgeSettings()))
    if args.command == "deploy":
        return deploy_apply.main(args)
    if args.command == "infra":
        return deploy_infra.main(args)
    overrides: dict[str, object] = {}
    if args.command == "serve":
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        if args.embedded:
            overrides["embedded"] = True
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if args.command == "serve":
        _serve(settings)
    elif args.command == "apikey":
        if args.action == "revoke" and not args.key:
            parser.error("apikey revoke needs a key or key id")
        asyncio.run(_apikey(settings, args))
    elif args.command == "graph":
        return asyncio.run(_graph(settings, args))
    elif args.command == "relay":
        return run_relay_command(settings, EventsSettings())
    else:
        asyncio.run(_seed(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
