"""An app run in this process through `httpx.ASGITransport`: to create carts, count the
DynamoDB calls one operation makes (`DynamoClient.calls`), and capture its response bytes."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from bench.operations import CREATE_CART, TYPENAME, body
from datasources.build import Sources


class ProbeError(RuntimeError):
    """An operation did not answer cleanly in process."""


@dataclass(frozen=True, slots=True)
class Probe:
    calls: Counter[str]
    response: bytes


class InProcess:
    def __init__(self, app: Starlette, client: httpx.AsyncClient) -> None:
        self._app = app
        self._client = client

    @property
    def sources(self) -> Sources:
        sources: Sources = self._app.state.sources
        return sources

    async def post(self, request_body: str) -> bytes:
        response = await self._client.post(
            "/graphql", content=request_body, headers={"content-type": "application/json"}
        )
        answer: dict[str, Any] = response.json()
        data = answer.get("data") or {}
        payload = next(iter(data.values()), None) if isinstance(data, dict) else None
        user_errors = payload.get("userErrors") if isinstance(payload, dict) else None
        if response.status_code != 200 or answer.get("errors") or user_errors:
            raise ProbeError(f"{response.status_code}: {response.text[:2000]}")
        return response.content

    async def probe(self, request_body: str) -> Probe:
        """Run one operation; the DynamoDB calls it made and the bytes it answered.

        A trivial request first refreshes the edge's API-key cache (a GetItem every few
        seconds per process), so the count is the operation's own."""
        await self.post(body(TYPENAME, {}))
        before = Counter(self.sources.dynamo.calls)
        content = await self.post(request_body)
        return Probe(Counter(self.sources.dynamo.calls) - before, content)

    async def warm(self, bodies: Sequence[str], *, concurrency: int, seconds: float) -> int:
        """Send `bodies` in turn from `concurrency` workers for `seconds`; returns how many.
        DynamoDB Local is a JVM: its JIT needs this before the first server is measured,
        or whichever server runs first pays for it."""
        deadline = time.monotonic() + seconds
        sent = 0

        async def worker(start: int) -> None:
            nonlocal sent
            n = start
            while time.monotonic() < deadline:
                await self.post(bodies[n % len(bodies)])
                n += concurrency
                sent += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        return sent

    async def create_carts(self, count: int) -> list[str]:
        ids = []
        for _ in range(count):
            answer = json.loads(await self.post(body(CREATE_CART, {})))
            ids.append(str(answer["data"]["createCart"]["cart"]["id"]))
        return ids


@asynccontextmanager
async def in_process(app: Starlette, *, api_key: str) -> AsyncIterator[InProcess]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"x-api-key": api_key}
        ) as client:
            yield InProcess(app, client)
