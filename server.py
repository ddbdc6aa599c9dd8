"""Composition root: the Starlette app, its lifespan, and the `commerce-graph` command.

commerce-graph serve            serve the graph (GraphiQL at /graphql)
commerce-graph schema export    print the AppSync-dialect SDL
commerce-graph seed             create tables and load the demo data
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from appsync.http import GraphQLEndpoint
from datasources.build import Sources, open_sources
from datasources.demo.generate import generate_demo
from datasources.demo.load import is_seeded, load_demo
from datasources.dynamodb.tables import create_tables
from datasources.settings import Settings
from resolvers.context import Context, build_context
from schema import build_schema
from schema.sdl import export_sdl

log = logging.getLogger("commerce_graph")


async def prepare_embedded(sources: Sources, settings: Settings, *, progress: bool) -> None:
    """Tables and demo data for the embedded default (moto starts empty every time)."""
    await create_tables(sources.dynamo)
    if not await is_seeded(sources.dynamo):
        data = generate_demo(
            products=settings.seed_products,
            customers=settings.seed_customers,
            orders=settings.seed_orders,
            seed=settings.seed_random_seed,
        )
        await load_demo(sources.dynamo, data, progress=progress)


def create_app(settings: Settings | None = None, *, progress: bool = False) -> Starlette:
    settings = settings or Settings()
    schema = build_schema()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_sources(settings) as sources:
            if settings.embedded:
                await prepare_embedded(sources, settings, progress=progress)
            app.state.sources = sources
            yield

    async def context(request: Request) -> Context:
        return build_context(settings, request.app.state.sources, headers=request.headers)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = await request.app.state.sources.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "sources": checks},
            status_code=200 if ready else 503,
        )

    async def home(_: Request) -> Response:
        return RedirectResponse("/graphql")

    endpoint = GraphQLEndpoint(
        schema,
        context_getter=context,
        max_body_bytes=settings.max_body_bytes,
        graphiql=settings.graphiql,
    )
    return Starlette(
        routes=[
            Route("/", home),
            Route("/graphql", endpoint),  # the endpoint answers every method itself
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )


def _serve(settings: Settings) -> None:
    import uvicorn

    app = create_app(settings, progress=True)
    print(f"commerce-graph: GraphiQL at http://{settings.host}:{settings.port}/graphql")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


async def _seed(settings: Settings) -> None:
    async with open_sources(settings) as sources:
        await create_tables(sources.dynamo)
        data = generate_demo(
            products=settings.seed_products,
            customers=settings.seed_customers,
            orders=settings.seed_orders,
            seed=settings.seed_random_seed,
        )
        counts = await load_demo(sources.dynamo, data, progress=True)
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()))


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
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    if args.command == "schema":
        sys.stdout.write(export_sdl(build_schema()))
        return 0
    overrides: dict[str, object] = {}
    if args.command == "serve":
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v}
        if args.embedded:
            overrides["embedded"] = True
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if args.command == "serve":
        _serve(settings)
    else:
        asyncio.run(_seed(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
