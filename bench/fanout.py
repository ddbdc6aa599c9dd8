"""Subscriptions fan-out (issue 6): one mutation delivered to 1,000 subscribers on one machine.

    python -m bench.fanout [--subscribers 1000] [--mutations 20] [--brokers inprocess,redis]
                           [--warmup-seconds 10] [--profile-mutations 5] [--no-compression]

DynamoDB Local (the jars of `make engines-ddb`) is seeded with a small demo set, a cart and
one line; the app runs under uvicorn in its own process (`python -m bench.fanout --serve`,
ws="websockets-sansio", rate limit lifted as in `bench.serve`). This process opens the
WebSocket connections (AppSync's protocol at `/graphql/realtime`, API key, permessage-deflate
as browsers and `ws` offer it), each subscribing `onCartUpdated(cartId)` on that cart, waits
for every `start_ack`, then sends `updateCartLine` (quantity 1 <-> 2) one at a time over HTTP
and waits for every subscriber's `data` before the next.

Per delivery: latency = data received - mutation request sent (also - mutation response
received: the event is published before the response is written, so that one is often
negative). Phases, in one run and per broker: 1 subscriber (the baseline), then N.
Deliveries/s = N / (last delivery - mutation sent). Memory per connection = (server VmRSS
with N subscribers - VmRSS just before connecting them) / N. Then, with --profile-mutations,
a few more mutations under cProfile in the server (SIGUSR1/SIGUSR2), never mixed with the
timed ones, to see where the server's time goes.

Server, DynamoDB Local and this client share the machine's CPUs: the client's own receive
loop is part of what is measured (it reads N sockets on one event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson
from graphql import parse
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from appsync.realtime import Realtime
from bench.machine import busy_fraction, cpu_seconds
from bench.serve import bench_settings, commerce_graph_app
from datasources.build import open_dynamo
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.apikeys import create_api_key
from datasources.dynamodb.tables import create_tables
from tests.engines.dynamodb_local import start_dynamodb_local
from tests.engines.ports import free_port
from tests.engines.process import stop_process_group
from tests.engines.redis_server import start_redis_server

RESULTS = Path(__file__).resolve().parent / "results" / "fanout-latest.json"
ROOT = Path(__file__).resolve().parent.parent
API_HOST = "graph.bench.local"  # API-key mode does not check the host
CONNECT_CONCURRENCY = 50
DELIVERY_TIMEOUT = 60.0

CREATE_CART = "mutation { createCart(input: {channel: WEB}) { cartId userErrors { code } } }"
# The mutations select what the subscription reads (docs/realtime.md: payload = selection).
ADD_LINE = """
mutation Add($cartId: ID!, $variantId: ID!) {
  addCartLines(cartId: $cartId, lines: [{variantId: $variantId, quantity: 1}]) {
    cartId cart { id totalQuantity lines { id quantity } } userErrors { code message }
  }
}"""
UPDATE_LINE = """
mutation Update($cartId: ID!, $lineId: ID!, $n: Int!) {
  updateCartLine(cartId: $cartId, lineId: $lineId, quantity: $n) {
    cartId cart { id totalQuantity lines { id quantity } } userErrors { code message }
  }
}"""
ON_CART_UPDATED = """
subscription OnCart($cartId: ID!) {
  onCartUpdated(cartId: $cartId) { cartId cart { id totalQuantity lines { quantity } } }
}"""
DATA_PREFIX = '{"id":"s","type":"data"'

# Functions whose cumulative server time the profile reports (substring of pstats' key).
PROFILED = {
    "dispatch (filters + projection + enqueue)": ("subscriptions.py", "_dispatch"),
    "projection (graphql-core execute per subscriber)": ("projection.py", "project"),
    "data message: orjson + size check + enqueue": ("protocol.py", "send_data"),
    "send loop (websocket frames, deflate)": ("session.py", "_send_loop"),
    "permessage-deflate compress": ("~", "<method 'compress' of 'zlib.Compress' objects>"),
}
IDLE = "<method 'poll' of 'select.epoll' objects>"  # the event loop waiting: not busy


# --- the server under test (its own process) ------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """`python -m bench.fanout --serve`: the app as bench.serve builds it, with the
    sans-I/O websockets protocol; SIGUSR1 starts cProfile, SIGUSR2 stops it and writes
    --profile-path."""
    import uvicorn

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    app = commerce_graph_app(bench_settings(args.dynamodb_endpoint, args.table_prefix))
    if args.profile_path:
        profiler = cProfile.Profile()

        def start(_: int, __: FrameType | None) -> None:
            profiler.enable()

        def stop(_: int, __: FrameType | None) -> None:
            profiler.disable()
            profiler.dump_stats(args.profile_path)

        signal.signal(signal.SIGUSR1, start)
        signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
        ws="websockets-sansio",
    )


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    pid: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def realtime_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/realtime"


@contextmanager
def running_server(
    endpoint: str, prefix: str, redis_url: str | None, profile_path: Path
) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CG_REDIS_URL"}
    if redis_url:
        env["CG_REDIS_URL"] = redis_url
    cmd = [
        sys.executable, "-m", "bench.fanout", "--serve", "--port", str(port),
        "--dynamodb-endpoint", endpoint, "--table-prefix", prefix,
        "--profile-path", str(profile_path),
    ]  # fmt: skip
    with tempfile.TemporaryFile(mode="w+", prefix="bench-fanout-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the server did not start:\n{log.read()}")
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield Server(port, proc.pid)
        finally:
            stop_process_group(proc)
            log.seek(0)
            if text := log.read().strip():
                tail = "\n".join(text.splitlines()[-20:])
                print(f"--- server log (last lines) ---\n{tail}", file=sys.stderr)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


# --- seeding ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fixture:
    api_key: str
    variant_id: str


async def seed(endpoint: str, prefix: str) -> Fixture:
    demo = generate_demo(products=40, customers=3, orders=2)
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(
            open_dynamo(bench_settings(endpoint, prefix), stack)
        )
        await create_tables(dynamo)
        await load_demo(dynamo, demo, progress=False)
        key = (await create_api_key(dynamo, description="bench fanout")).key
    return Fixture(key, in_stock_variant(demo))


def in_stock_variant(demo: DemoData) -> str:
    web = {loc.id for loc in demo.locations if "WEB" in loc.channels}
    for stock in demo.stock:
        for variant_id, levels in stock.by_variant.items():
            if sum(lv.available for loc, lv in levels.items() if loc in web) >= 20:
                return variant_id
    raise RuntimeError("no variant in stock in the demo set")


@dataclass(frozen=True, slots=True)
class Cart:
    id: str
    line_id: str


async def graphql(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{response.status_code}: {body}")
    return body


async def new_cart(http: httpx.AsyncClient, variant_id: str) -> Cart:
    cart_id = (await graphql(http, CREATE_CART))["data"]["createCart"]["cartId"]
    added = await graphql(http, ADD_LINE, {"cartId": cart_id, "variantId": variant_id})
    payload = added["data"]["addCartLines"]
    if payload["userErrors"]:
        raise RuntimeError(f"addCartLines: {payload['userErrors']}")
    return Cart(cart_id, payload["cart"]["lines"][0]["id"])


# --- subscribers ------------------------------------------------------------------------------


@dataclass
class Tracker:
    """Deliveries per mutation index, and an event when all subscribers have one."""

    subscribers: int
    counts: list[int] = field(default_factory=list)
    complete: list[asyncio.Event] = field(default_factory=list)

    def expect(self, index: int) -> asyncio.Event:
        while len(self.counts) <= index:
            self.counts.append(0)
            self.complete.append(asyncio.Event())
        return self.complete[index]

    def delivered(self, index: int) -> None:
        self.expect(index)
        self.counts[index] += 1
        if self.counts[index] == self.subscribers:
            self.complete[index].set()


@dataclass
class Subscriber:
    socket: ClientConnection
    times: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


async def subscribe(server: Server, key: str, cart_id: str, compression: bool) -> Subscriber:
    auth = {"host": API_HOST, "x-api-key": key}
    header = base64.b64encode(orjson.dumps(auth)).decode()
    socket = await connect(
        f"{server.realtime_url}?header={header}&payload=e30=",
        subprotocols=["graphql-ws"],  # type: ignore[list-item]
        compression="deflate" if compression else None,
        open_timeout=60,
        max_queue=None,
    )
    await socket.send('{"type":"connection_init"}')
    await _until(socket, "connection_ack")
    data = orjson.dumps({"query": ON_CART_UPDATED, "variables": {"cartId": cart_id}}).decode()
    payload = {"data": data, "extensions": {"authorization": auth}}
    start = {"id": "s", "type": "start", "payload": payload}
    await socket.send(orjson.dumps(start).decode())
    await _until(socket, "start_ack")
    return Subscriber(socket)


async def _until(socket: ClientConnection, kind: str) -> None:
    while True:
        message = orjson.loads(await asyncio.wait_for(socket.recv(), 60))
        if message.get("type") == kind:
            return
        if message.get("type") != "ka":
            raise RuntimeError(f"expected {kind}, got {message}")


async def read(subscriber: Subscriber, tracker: Tracker) -> None:
    """Timestamp first, parse later: the receive loop is part of what is measured."""
    try:
        async for message in subscriber.socket:
            now = time.perf_counter()
            if isinstance(message, str) and message.startswith(DATA_PREFIX):
                subscriber.times.append(now)
                subscriber.texts.append(message)
                tracker.delivered(len(subscriber.times) - 1)
    except ConnectionClosed:
        return


# --- one phase: N subscribers, M mutations ------------------------------------------------------


@dataclass
class Mutation:
    sent: float
    answered: float
    quantity: int


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p90_ms": round(percentile(ms, 90), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


async def phase(
    server: Server,
    http: httpx.AsyncClient,
    fixture: Fixture,
    *,
    subscribers: int,
    mutations: int,
    warmup: int,
    profile: int,
    compression: bool,
) -> dict[str, Any]:
    cart = await new_cart(http, fixture.variant_id)
    await asyncio.sleep(0.5)
    rss_before = rss_kib(server.pid)
    tracker = Tracker(subscribers)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> Subscriber:
        async with gate:
            return await subscribe(server, fixture.api_key, cart.id, compression)

    began = time.perf_counter()
    subs = list(await asyncio.gather(*(one() for _ in range(subscribers))))
    connect_seconds = time.perf_counter() - began
    readers = [asyncio.create_task(read(s, tracker)) for s in subs]
    await asyncio.sleep(1.0)  # let the server settle (keep-alives, buffers) before reading RSS
    rss_connected = rss_kib(server.pid)
    cpu_before = cpu_after = cpu_seconds(server.pid) or 0.0
    done: list[Mutation] = []
    quantity = 1
    try:
        for index in range(warmup + mutations + profile):
            if index == warmup + mutations and profile:
                os.kill(server.pid, signal.SIGUSR1)
            if index == warmup:
                cpu_before = cpu_seconds(server.pid) or 0.0
            quantity = 3 - quantity
            complete = tracker.expect(index)
            variables = {"cartId": cart.id, "lineId": cart.line_id, "n": quantity}
            sent = time.perf_counter()
            body = await graphql(http, UPDATE_LINE, variables)
            answered = time.perf_counter()
            if body["data"]["updateCartLine"]["userErrors"]:
                raise RuntimeError(f"updateCartLine: {body}")
            await asyncio.wait_for(complete.wait(), DELIVERY_TIMEOUT)
            done.append(Mutation(sent, answered, quantity))
            if index == warmup + mutations - 1:
                cpu_after = cpu_seconds(server.pid) or 0.0
            await asyncio.sleep(0.05)
        if profile:
            os.kill(server.pid, signal.SIGUSR2)
        rss_after = rss_kib(server.pid)
    finally:
        await asyncio.gather(*(s.socket.close() for s in subs), return_exceptions=True)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    measured = range(warmup, warmup + mutations)
    from_sent: list[float] = []
    from_answer: list[float] = []
    rates: list[float] = []
    spreads: list[float] = []
    for index in measured:
        mutation = done[index]
        times = [s.times[index] for s in subs]
        from_sent += [t - mutation.sent for t in times]
        from_answer += [t - mutation.answered for t in times]
        rates.append(subscribers / (max(times) - mutation.sent))
        spreads.append(max(times) - min(times))
        for s in subs:  # every subscriber got this mutation's result, under its selection
            event = orjson.loads(s.texts[index])["payload"]["data"]["onCartUpdated"]
            if event["cartId"] != cart.id or event["cart"]["totalQuantity"] != mutation.quantity:
                raise RuntimeError(f"unexpected event {event} for mutation {index}")
    return {
        "subscribers": subscribers,
        "mutations": mutations,
        "deliveries": len(from_sent),
        "latency_from_sent": summary(from_sent),
        "latency_from_response": summary(from_answer),
        "mutation_response": summary([done[i].answered - done[i].sent for i in measured]),
        "spread_first_to_last": summary(spreads),
        "deliveries_per_second_p50": round(statistics.median(rates)),
        "server_cpu_ms_per_mutation": round((cpu_after - cpu_before) * 1000 / mutations, 1),
        "connect_seconds": round(connect_seconds, 2),
        "rss_before_kib": rss_before,
        "rss_connected_kib": rss_connected,
        "rss_after_kib": rss_after,
        "memory_per_connection_kib": round((rss_connected - rss_before) / subscribers, 1),
    }


def profile_report(path: Path, mutations: int, subscribers: int) -> dict[str, Any]:
    """Cumulative server seconds per mutation in the functions of PROFILED."""
    if not path.exists():
        return {}
    stats = pstats.Stats(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    busy = {k: v for k, v in table.items() if k[2] != IDLE}
    total = sum(tt for (_, _, tt, _, _) in busy.values())
    out["profiled_mutations"] = mutations
    out["busy_ms_per_mutation_under_cprofile"] = round(total * 1000 / mutations, 1)
    for label, (file_part, function) in PROFILED.items():
        cumulative = sum(
            ct
            for (filename, _, name), (_, _, _, ct, _) in table.items()
            if name == function and file_part in filename
        )
        out[label] = {
            "ms_per_mutation": round(cumulative * 1000 / mutations, 2),
            "us_per_subscriber": round(cumulative * 1e6 / mutations / subscribers, 1),
            "share": round(cumulative / total, 3) if total else 0.0,
        }
    top = sorted(busy.items(), key=lambda item: item[1][2], reverse=True)[:12]
    out["top_own_time"] = [
        {
            "function": f"{Path(filename).name}:{line}({name})",
            "ms_per_mutation": round(tt * 1000 / mutations, 2),
        }
        for (filename, line, name), (_, _, tt, _, _) in top
    ]
    return out


def projection_cost(samples: int = 2000) -> dict[str, float]:
    """One subscriber's share of the fan-out, without a profiler: `Projector.project` (the
    subscriber's document executed over the event) and the `data` message's orjson, on this
    process, for the bench's subscription and a cart event of the same shape."""
    app = commerce_graph_app(bench_settings("http://127.0.0.1:9", "bench-fanout-"))
    realtime: Realtime = app.state.realtime
    _, projector = realtime._prepared()
    document = parse(ON_CART_UPDATED)
    variables = {"cartId": "crt_0"}
    event = {
        "cartId": "crt_0",
        "cart": {"id": "crt_0", "totalQuantity": 2, "lines": [{"id": "ln_0", "quantity": 2}]},
        "userErrors": [],
    }
    for _ in range(200):
        projector.project(document, None, variables, "onCartUpdated", event, {})
    began = time.perf_counter()
    for _ in range(samples):
        body = projector.project(document, None, variables, "onCartUpdated", event, {})
    projected = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(samples):
        orjson.dumps({"id": "s", "type": "data", "payload": body}).decode()
    dumped = time.perf_counter() - began
    return {
        "project_us": round(projected * 1e6 / samples, 1),
        "orjson_us": round(dumped * 1e6 / samples, 2),
    }


# --- the run ------------------------------------------------------------------------------------


async def run_broker(
    server: Server, fixture: Fixture, args: argparse.Namespace, profile_path: Path
) -> dict[str, Any]:
    headers = {"x-api-key": fixture.api_key}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers, timeout=60) as http:
        cart = await new_cart(http, fixture.variant_id)
        print(f"  warming up for {args.warmup_seconds:.0f} s ...", file=sys.stderr)
        deadline, quantity = time.monotonic() + args.warmup_seconds, 1
        while time.monotonic() < deadline:
            quantity = 3 - quantity
            variables = {"cartId": cart.id, "lineId": cart.line_id, "n": quantity}
            await graphql(http, UPDATE_LINE, variables)
        common = {
            "mutations": args.mutations,
            "warmup": 3,
            "compression": not args.no_compression,
        }
        print("  1 subscriber (baseline) ...", file=sys.stderr)
        baseline = await phase(server, http, fixture, subscribers=1, profile=0, **common)
        print(f"  {args.subscribers} subscribers ...", file=sys.stderr)
        fanout = await phase(
            server,
            http,
            fixture,
            subscribers=args.subscribers,
            profile=args.profile_mutations,
            **common,
        )
    b, f = baseline["latency_from_sent"], fanout["latency_from_sent"]
    return {
        "baseline": baseline,
        "fanout": fanout,
        "ratio_p50": round(f["p50_ms"] / b["p50_ms"], 1),
        "ratio_p99": round(f["p99_ms"] / b["p99_ms"], 1),
        "profile": profile_report(profile_path, args.profile_mutations, args.subscribers)
        if args.profile_mutations
        else {},
    }


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit(args.subscribers + 1024)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if "redis" in brokers and shutil.which("redis-server") is None:
        print("redis-server is not installed: skipping the Redis broker", file=sys.stderr)
        brokers.remove("redis")
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "cpu_busy_before": busy_fraction(1.0),
        "subscribers": args.subscribers,
        "mutations": args.mutations,
        "compression": "permessage-deflate" if not args.no_compression else "none",
        "database": "DynamoDB Local",
        "brokers": {},
    }
    prefix = f"bench-fanout-{uuid.uuid4().hex[:6]}-"
    began = time.monotonic()
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="fanout-") as scratch:
        endpoint = stack.enter_context(start_dynamodb_local())
        fixture = asyncio.run(seed(endpoint, prefix))
        for broker in brokers:
            redis_url = stack.enter_context(start_redis_server()) if broker == "redis" else None
            profile_path = Path(scratch) / f"{broker}.prof"
            print(f"broker {broker}:", file=sys.stderr)
            with running_server(endpoint, prefix, redis_url, profile_path) as server:
                result["brokers"][broker] = asyncio.run(
                    run_broker(server, fixture, args, profile_path)
                )
    result["projection_per_subscriber"] = projection_cost()
    result["elapsed_seconds"] = round(time.monotonic() - began, 1)
    return result


def table(result: dict[str, Any]) -> str:
    rows = [
        "| broker | subscribers | p50 ms | p90 ms | p99 ms | max ms | p50 vs response ms "
        "| mutation response p50 ms | deliveries/s | server CPU ms/mutation | memory/connection |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for broker, measured in result["brokers"].items():
        for key in ("baseline", "fanout"):
            p = measured[key]
            s = p["latency_from_sent"]
            memory = f"{p['memory_per_connection_kib']} KiB" if key == "fanout" else ""
            rows.append(
                f"| {broker} | {p['subscribers']} | {s['p50_ms']} | {s['p90_ms']} "
                f"| {s['p99_ms']} | {s['max_ms']} | {p['latency_from_response']['p50_ms']} "
                f"| {p['mutation_response']['p50_ms']} | {p['deliveries_per_second_p50']} "
                f"| {p['server_cpu_ms_per_mutation']} | {memory} |"
            )
    lines = ["\n".join(rows), ""]
    for broker, measured in result["brokers"].items():
        lines.append(
            f"{broker}: {result['subscribers']} subscribers vs 1: p50 x{measured['ratio_p50']}, "
            f"p99 x{measured['ratio_p99']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--mutations", type=int, default=20, help="timed mutations per phase")
    parser.add_argument("--brokers", default="inprocess,redis", help="inprocess, redis or both")
    parser.add_argument("--warmup-seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile-mutations", type=int, default=5, help="extra mutations under cProfile (0: off)"
    )
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("--output", type=Path, default=RESULTS)
    # the server process
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dynamodb-endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--table-prefix", help=argparse.SUPPRESS)
    parser.add_argument("--profile-path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    result = measure(args)
    print(table(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
