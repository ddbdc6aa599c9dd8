"""The two baselines, as Starlette apps served exactly like the real one.

- `graphql_core_app`: the GraphQLSchema Strawberry builds (`build_schema()._schema`, whose
  fields already carry Strawberry's wrapped resolvers) and the same per-request context,
  executed by graphql-core directly: no Strawberry execution pipeline, extensions or AppSync
  edge. Parse and validation are cached per query text, as our ParserCache/ValidationCache
  extensions do, so the difference to commerce-graph is Strawberry's and the edge's overhead,
  not parsing.
- `bare_app`: returns pre-computed response bytes per operation: the HTTP stack's ceiling.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import lru_cache
from inspect import isawaitable
from typing import Any

import graphql
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from datasources.build import open_sources
from datasources.settings import Settings
from resolvers.context import build_context
from schema import build_schema

JSON = "application/json"


def graphql_core_app(settings: Settings) -> Starlette:
    schema = build_schema()._schema

    @lru_cache(maxsize=256)
    def document(query: str) -> tuple[graphql.DocumentNode | None, list[graphql.GraphQLError]]:
        try:
            parsed = graphql.parse(query)
        except graphql.GraphQLError as error:
            return None, [error]
        return parsed, graphql.validate(schema, parsed)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_sources(settings) as sources:
            app.state.sources = sources
            yield

    async def endpoint(request: Request) -> Response:
        payload: dict[str, Any] = orjson.loads(await request.body())
        parsed, errors = document(payload["query"])
        if parsed is None or errors:
            return _json({"errors": [e.formatted for e in errors]}, status=400)
        context = build_context(settings, request.app.state.sources, headers=request.headers)
        result = graphql.execute(
            schema,
            parsed,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
            context_value=context,
        )
        if isawaitable(result):
            result = await result
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return _json(out)

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])], lifespan=lifespan)


def bare_app(responses: Mapping[str, bytes]) -> Starlette:
    """`POST /bare/<operation key>` reads the body and answers the captured bytes."""

    async def endpoint(request: Request) -> Response:
        await request.body()
        return Response(responses[request.path_params["key"]], media_type=JSON)

    return Starlette(routes=[Route("/bare/{key}", endpoint, methods=["POST"])])


def _json(value: Any, *, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type=JSON)
