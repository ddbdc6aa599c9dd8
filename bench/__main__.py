"""`python -m bench`: run the standard operations against commerce-graph and its baselines.

1. Start DynamoDB Local on a free port and load the full demo set.
2. In process (httpx.ASGITransport): create the carts, warm DynamoDB Local's JIT with every
   operation, count each operation's DynamoDB calls on commerce-graph and on the graphql-core
   baseline, capture the responses for the bare one.
3. Every server in its own uvicorn process; for each operation, a wrk warm-up per server,
   then measured slices at fixed connections: A B B A for commerce-graph and graphql-core
   (half the duration each), then the bare server.
4. Print the markdown table, write bench/results/latest.json; exit 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.apps import graphql_core_app
from bench.dataset import seed
from bench.inprocess import ProbeError, in_process
from bench.machine import BUSY_WARNING, busy_fraction, find_pid, load_average
from bench.operations import Operation, add_to_cart, category_listing, product_page
from bench.report import (
    LABELS,
    OperationResult,
    markdown,
    noisy,
    problems,
    progress_line,
    write_json,
)
from bench.serve import bench_settings, commerce_graph_app
from bench.servers import Server, running_server
from bench.wrk import Load, Slice, Target, bodies_file, merge, warm_up, wrk_path
from bench.wrk import measure as measure_slice
from tests.engines.dynamodb_local import MAIN_CLASS as DYNAMODB_LOCAL_MAIN
from tests.engines.dynamodb_local import start_dynamodb_local

KINDS = ("commerce-graph", "graphql-core", "bare")
OPERATIONS = ("product-page", "category-listing", "add-to-cart")
SERVED_BY_DYNAMODB = ("commerce-graph", "graphql-core")
TABLE_PREFIX = "cg-bench-"
# DynamoDB Local's JIT takes ~20 s of load to settle: with 3 s, whichever server was measured
# first paid up to twice the engine CPU per listing (and lost ~40 % of its req/s).
ENGINE_WARMUP_S = {"product-page": 8.0, "category-listing": 10.0, "add-to-cart": 4.0}


@dataclass(frozen=True, slots=True)
class Prepared:
    # Per server: reads are the same everywhere; each server adds to its own fresh carts.
    operations: dict[str, list[Operation]]
    results: list[OperationResult]
    captured: dict[str, str]
    seed_seconds: float
    api_key: str


async def prepare(endpoint: str, carts: int) -> Prepared:
    settings = bench_settings(endpoint, TABLE_PREFIX)
    seeded = await seed(settings)
    data = seeded.data
    reads = [product_page(data), category_listing(data)]
    async with (
        in_process(commerce_graph_app(settings), api_key=seeded.api_key) as real,
        in_process(graphql_core_app(settings), api_key=seeded.api_key) as core,
    ):
        pools = {kind: await real.create_carts(carts) for kind in SERVED_BY_DYNAMODB}
        warm_carts = await real.create_carts(16)
        for op in [*reads, add_to_cart(data, warm_carts)]:
            await real.warm(op.bodies, concurrency=16, seconds=ENGINE_WARMUP_S[op.key])
        probes = {
            kind: [*reads, add_to_cart(data, await real.create_carts(1))]
            for kind in SERVED_BY_DYNAMODB
        }
        results = [OperationResult(op.name, op.description) for op in probes["commerce-graph"]]
        captured: dict[str, str] = {}
        for kind, app in (("commerce-graph", real), ("graphql-core", core)):
            for result, op in zip(results, probes[kind], strict=True):
                try:
                    probe = await app.probe(op.first_body)
                except ProbeError as error:
                    result.broken = result.broken or f"{LABELS[kind]}: {error}"
                    continue
                result.calls[kind] = probe.calls
                if kind == "commerce-graph":
                    captured[op.key] = probe.response.decode()
    operations = {kind: [*reads, add_to_cart(data, pools[kind])] for kind in SERVED_BY_DYNAMODB}
    operations["bare"] = operations["commerce-graph"]
    return Prepared(operations, results, captured, seeded.seconds, seeded.api_key)


def schedule(kinds: Sequence[str]) -> list[str]:
    """The order of measured slices: A B B A for the servers on DynamoDB, so drift (DynamoDB
    Local's JIT still settling, a burst of outside load) is shared, not charged to whoever
    runs first; the bare server, which needs no engine, once at the end."""
    engine = [k for k in kinds if k in SERVED_BY_DYNAMODB]
    rest = [k for k in kinds if k not in SERVED_BY_DYNAMODB]
    return (engine + engine[::-1] if len(engine) > 1 else engine) + rest


def measure(prepared: Prepared, endpoint: str, load: Load, kinds: Sequence[str]) -> None:
    """All servers run at once (an idle one costs nothing); each operation is measured on
    them back to back, in the slices of `schedule`."""
    engine_pid = find_pid(DYNAMODB_LOCAL_MAIN, str(urlsplit(endpoint).port))
    order = schedule(kinds)
    with ExitStack() as stack:
        captured = stack.enter_context(
            tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-captured-")
        )
        json.dump(prepared.captured, captured)
        captured.flush()
        servers: dict[str, Server] = {}
        for kind in kinds:
            extra = (
                ["--responses", captured.name]
                if kind == "bare"
                else ["--dynamodb-endpoint", endpoint, "--table-prefix", TABLE_PREFIX]
            )
            servers[kind] = stack.enter_context(running_server(kind, *extra))
        for n, result in enumerate(prepared.results):
            if result.broken or result.skipped:
                continue
            with ExitStack() as files:
                targets: dict[str, Target] = {}
                for kind, server in servers.items():
                    op = prepared.operations[kind][n]
                    targets[kind] = Target(
                        url=server.base_url + (f"/bare/{op.key}" if kind == "bare" else "/graphql"),
                        bodies_file=files.enter_context(bodies_file(op.bodies)),
                        api_key=prepared.api_key,
                        server_pid=server.pid,
                        engine_pid=engine_pid,
                    )
                    warm_up(targets[kind], load)
                slices: dict[str, list[Slice]] = {kind: [] for kind in servers}
                for kind in order:
                    seconds = load.duration_s / order.count(kind)
                    slices[kind].append(measure_slice(targets[kind], load, seconds))
            for kind in servers:
                run = result.runs[kind] = merge(slices[kind])
                print(f"  {LABELS[kind]:<22} {result.name:<17} {progress_line(run)}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    default = Load()
    parser.add_argument("--connections", type=int, default=default.connections)
    parser.add_argument("--threads", type=int, default=default.threads)
    parser.add_argument("--duration", type=float, default=default.duration_s, help="seconds")
    parser.add_argument("--warmup", type=float, default=default.warmup_s, help="seconds")
    parser.add_argument("--carts", type=int, default=128, help="carts per server")
    parser.add_argument(
        "--servers", nargs="+", choices=KINDS, default=list(KINDS), help="in this order"
    )
    parser.add_argument("--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS))
    args = parser.parse_args(argv)
    if args.carts % args.threads:
        parser.error("--carts must be a multiple of --threads (threads never share a cart)")
    load = Load(args.connections, args.threads, args.duration, args.warmup)
    wrk_path()  # fail before the engine starts if the load generator is missing
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")

    busy = busy_fraction()
    if busy is not None and busy > BUSY_WARNING:
        print(
            f"WARNING: the CPUs were {busy:.0%} busy before the bench started; "
            "expect noisy numbers",
            file=sys.stderr,
        )
    started = time.perf_counter()
    with start_dynamodb_local() as endpoint:
        print(f"DynamoDB Local at {endpoint}; seeding the demo set ...", flush=True)
        prepared = asyncio.run(prepare(endpoint, args.carts))
        print(
            f"seeded in {prepared.seed_seconds:.1f} s; wrk -t{load.threads} -c{load.connections}"
            f" -d{load.duration_s:g}s after {load.warmup_s:g}s warm-up",
            flush=True,
        )
        for result, key in zip(prepared.results, OPERATIONS, strict=True):
            if key not in args.operations:
                result.skipped = True
        measure(prepared, endpoint, load, args.servers)
    elapsed = time.perf_counter() - started

    table = markdown(prepared.results)
    found = problems(prepared.results)
    warnings = noisy(prepared.results)
    path = write_json(
        prepared.results,
        load=load,
        extra={
            "cpu_busy_before": None if busy is None else round(busy, 3),
            "load_average_after": load_average(),
            "seed_seconds": round(prepared.seed_seconds, 1),
            "elapsed_seconds": round(elapsed, 1),
            "operations_detail": {
                op.key: op.description for op in prepared.operations["commerce-graph"]
            },
            "problems": found,
            "noisy": warnings,
        },
    )
    print(f"\n{table}\n\n({elapsed:.0f} s in all; results in {path})")
    for warning in warnings:
        print(f"NOISY: {warning}", file=sys.stderr)
    for problem in found:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
