"""aiobotocore vs boto3 in a thread pool, against DynamoDB Local at concurrency 64.

    python -m bench.dynamo_clients [--seconds 5] [--concurrency 64]

Both clients get `max_pool_connections=concurrency`; boto3 runs in a
`ThreadPoolExecutor(concurrency)` driven from asyncio (`loop.run_in_executor`), as a server
would use it. Each combination runs a 2 s warm-up, then `--seconds` of closed-loop load:
`concurrency` workers each issue the next call as soon as the previous one answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.config import Config

from tests.engines.dynamodb_local import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    start_dynamodb_local,
)

TABLE = "bench-clients"
ITEMS = 1000
BATCH = 25
WARMUP_S = 2.0

Call = Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Result:
    client: str
    operation: str
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # CPU this process (the client side) spent, all threads included.
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu_seconds * 1000 / self.calls


def _key(n: int) -> dict[str, Any]:
    return {"pk": {"S": f"ITEM#{n:05d}"}, "sk": {"S": "ITEM"}}


def _item(n: int) -> dict[str, Any]:
    # About the size of a product item: a name, a description and a small nested map.
    return {
        **_key(n),
        "name": {"S": f"Item {n}"},
        "description": {"S": "x" * 300},
        "price": {"N": str(n % 500 + 0.99)},
        "levels": {"M": {f"loc_{i:02d}": {"N": str(i * n % 97)} for i in range(6)}},
    }


def _create_and_fill(endpoint: str) -> None:
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )  # fmt: skip
    for start in range(0, ITEMS, 25):
        client.batch_write_item(
            RequestItems={TABLE: [{"PutRequest": {"Item": _item(n)}}
                                  for n in range(start, min(start + 25, ITEMS))]}
        )  # fmt: skip
    client.close()


async def _closed_loop(call: Call, concurrency: int, seconds: float) -> tuple[int, list[float]]:
    """`concurrency` workers calling back to back for `seconds`; count and latencies."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while (start := time.perf_counter()) < deadline:
            await call()
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies


async def _measure(
    client: str, operation: str, call: Call, concurrency: int, seconds: float
) -> Result:
    await _closed_loop(call, concurrency, WARMUP_S)
    started, cpu = time.perf_counter(), time.process_time()
    count, latencies = await _closed_loop(call, concurrency, seconds)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    cuts = statistics.quantiles(latencies, n=100)
    return Result(client, operation, count, elapsed, cuts[49] * 1000, cuts[98] * 1000, cpu)


def _requests() -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """Operation label -> (client method, a fresh random request's arguments)."""
    rng = random.Random(7)

    def get() -> dict[str, Any]:
        return {"TableName": TABLE, "Key": _key(rng.randrange(ITEMS))}

    def batch_get() -> dict[str, Any]:
        keys = [_key(n) for n in rng.sample(range(ITEMS), BATCH)]
        return {"RequestItems": {TABLE: {"Keys": keys}}}

    return {
        "GetItem": ("get_item", get),
        f"BatchGetItem ({BATCH} keys)": ("batch_get_item", batch_get),
    }


async def _aiobotocore(endpoint: str, concurrency: int, seconds: float) -> list[Result]:
    config = AioConfig(max_pool_connections=concurrency, retries={"max_attempts": 1})
    session = get_session()
    async with session.create_client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=config,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    ) as client:  # fmt: skip
        results = []
        for operation, (name, arguments) in _requests().items():
            method = getattr(client, name)

            async def call(method: Any = method, arguments: Any = arguments) -> Any:
                return await method(**arguments())

            results.append(await _measure("aiobotocore", operation, call, concurrency, seconds))
        return results


async def _boto3_threads(endpoint: str, concurrency: int, seconds: float) -> list[Result]:
    config = Config(max_pool_connections=concurrency, retries={"max_attempts": 1})
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, config=config,
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    label = f"boto3 + ThreadPoolExecutor({concurrency})"
    results = []
    with ThreadPoolExecutor(concurrency) as pool:
        for operation, (name, arguments) in _requests().items():
            method = getattr(client, name)

            async def call(method: Any = method, arguments: Any = arguments) -> Any:
                request = arguments()
                return await loop.run_in_executor(pool, lambda: method(**request))

            results.append(await _measure(label, operation, call, concurrency, seconds))
    client.close()
    return results


def table(results: Sequence[Result]) -> str:
    lines = [
        "| client | operation | calls/s | p50 ms | p99 ms | client CPU ms/call |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.client} | {r.operation} | {r.per_second:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} "
        f"| {r.cpu_ms_per_call:.2f} |"
        for r in results
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dynamo_clients")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    with start_dynamodb_local() as endpoint:
        _create_and_fill(endpoint)
        results = asyncio.run(_aiobotocore(endpoint, args.concurrency, args.seconds))
        results += asyncio.run(_boto3_threads(endpoint, args.concurrency, args.seconds))
    print(f"DynamoDB Local, concurrency {args.concurrency}, {args.seconds:g} s per row\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
