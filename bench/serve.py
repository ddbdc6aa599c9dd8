"""One server under test, in its own process: `python -m bench.serve KIND --port N ...`.

KIND is `commerce-graph` (server.create_app), `graphql-core` or `bare` (bench.apps). Always
uvicorn with one worker, no access log, log level warning, on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from bench.apps import bare_app, graphql_core_app
from datasources.settings import Settings

KINDS = ("commerce-graph", "graphql-core", "bare")


def bench_settings(endpoint: str, table_prefix: str) -> Settings:
    """The settings every server under test (and the in-process call counter) uses."""
    settings = Settings(dynamodb_endpoint=endpoint, table_prefix=table_prefix, graphiql=False)
    # An aliased field given by name is dropped silently without `populate_by_name`: never
    # let the bench fall through to the real AWS endpoint.
    if settings.dynamodb_endpoint != endpoint:
        raise RuntimeError(f"Settings did not take the DynamoDB endpoint {endpoint}")
    return settings


def commerce_graph_app(settings: Settings) -> Starlette:
    """The real server as `make run` builds it, but for one difference: bench traffic is a
    single caller, so the per-caller rate limit (50 req/s by default) is lifted; we measure
    capacity, not the limiter. Every other edge setting keeps its default (API cache off)."""
    from appsync.settings import EdgeSettings  # imported late: the baselines need no edge
    from server import create_app

    unlimited = EdgeSettings(rate_limit_per_second=1e9, rate_limit_burst=10**9)
    return create_app(settings, edge_settings=unlimited)


def build(kind: str, args: argparse.Namespace) -> Starlette:
    if kind == "bare":
        captured: dict[str, str] = json.loads(Path(args.responses).read_text())
        return bare_app({key: text.encode() for key, text in captured.items()})
    settings = bench_settings(args.dynamodb_endpoint, args.table_prefix)
    if kind == "graphql-core":
        return graphql_core_app(settings)
    return commerce_graph_app(settings)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dynamodb-endpoint")
    parser.add_argument("--table-prefix", default="cg-bench-")
    parser.add_argument("--responses", help="JSON file of captured bodies (bare only)")
    args = parser.parse_args(argv)
    # DynamoDB Local accepts any key pair; botocore wants one before the first call.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    uvicorn.run(
        build(args.kind, args),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
