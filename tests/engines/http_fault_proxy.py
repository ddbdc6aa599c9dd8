"""An HTTP reverse proxy in front of stripe-mock, for what stripe-mock cannot do by itself.

stripe-mock is stateless and always succeeds (ENGINES.md): it validates every request against
Stripe's OpenAPI spec and answers from fixtures, but never declines a card, never fails,
never throttles, never replays an idempotency key and never changes an object's state. This
proxy forwards every request to it and adds exactly those behaviours, on demand:

    with HttpFaultProxy(stripe_mock_url) as proxy:          # listens on proxy.url
        proxy.respond("POST", "/v1/payment_intents", status=500, json={...}, times=1)
        proxy.respond("POST", "/v1/payment_intents", status=402, json=card_error,
                      params={"payment_method": "pm_card_chargeDeclined"})
        proxy.amend("POST", r"/v1/payment_intents/[^/]+/cancel", {"status": "canceled"})
        proxy.delay("POST", "/v1/tax/calculations", 2.0)
        proxy.requests        # every request that reached it: method, path, Idempotency-Key
        proxy.clear()         # no rules, no records, no saved idempotent answers

Rules match the method, the path (a regular expression, matched in full) and optionally form
parameters; the most recent matching rule wins, and `times` limits how often it applies.
`respond` answers with a canned response instead of forwarding; `amend` forwards and overlays
top-level fields on the JSON answer (the state a stateful Stripe would report); `delay` holds
the answer back. Every canned body is one Stripe documents.

Idempotency replay works as Stripe's does (https://docs.stripe.com/api/idempotent_requests):
an answer below 500 (other than 429) is saved under its Idempotency-Key and replayed, with
`Idempotent-Replayed: true`, for a repeat with the same method, path and body; a repeat with
different parameters gets Stripe's 400 `idempotency_error`. 5xx and 429 answers are not
saved: they stand for failures before the endpoint ran.

The proxy runs its own asyncio loop on a thread of its own (like tcp_proxy.py), so it serves
while a test blocks, and its controls are plain method calls from any thread.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import aiohttp
import orjson
from aiohttp import web

from .loop_thread import LoopThread
from .ports import free_port

T = TypeVar("T")

# Hop-by-hop headers, and what aiohttp sets itself from the body it sends.
_SKIP_REQUEST = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding"}
_SKIP_RESPONSE = {"content-length", "transfer-encoding", "connection", "content-encoding", "date"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    params: Mapping[str, str]  # the form body, flattened as sent (`line_items[0][amount]`)


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    params: Mapping[str, str]
    status: int | None = None  # None: forward upstream
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    amend: Mapping[str, Any] | None = None
    delay: float = 0.0
    times: int | None = None  # None: until cleared

    def matches(self, method: str, path: str, params: Mapping[str, str]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if method != self.method or not self.path.fullmatch(path):
            return False
        return all(params.get(k) == v for k, v in self.params.items())


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Mapping[str, str]


class HttpFaultProxy(LoopThread):
    # Opening starts an aiohttp app and a client session; closing cleans both up.
    submit_timeout = 15.0

    def __init__(self, upstream: str, *, port: int | None = None) -> None:
        super().__init__("http-fault-proxy")
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._requests: list[Recorded] = []
        self._saved: dict[str, tuple[tuple[str, str, bytes], _Answer]] = {}
        self._handlers: set[asyncio.Task[Any]] = set()  # touched on the loop's thread only
        self._epoch = 0  # bumped by clear(): an answer from before it is not saved
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- control (any thread) -----------------------------------------------------------

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        times: int | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer matching requests with this response instead of forwarding them."""
        body = b"" if json is None else orjson.dumps(json)
        rule = Rule(method, re.compile(path), params or {}, status=status, body=body)
        rule.headers = {"Content-Type": "application/json", **(headers or {})}
        rule.times, rule.delay = times, delay
        self._add(rule)

    def amend(
        self,
        method: str,
        path: str,
        fields: Mapping[str, Any],
        *,
        params: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> None:
        """Forward, then overlay `fields` on the top level of the JSON answer."""
        self._add(Rule(method, re.compile(path), params or {}, amend=fields, times=times))

    def delay(self, method: str, path: str, seconds: float, *, times: int | None = None) -> None:
        """Forward, holding the answer back for `seconds`."""
        self._add(Rule(method, re.compile(path), {}, delay=seconds, times=times))

    def clear(self) -> None:
        """Forget rules, records and saved answers, and drop requests still being answered
        (a held-back answer must not land in the next test's records)."""
        with self._lock:
            self._rules.clear()
            self._requests.clear()
            self._saved.clear()
            self._epoch += 1
        if self.running:
            self._submit(self._cancel_handlers())

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method)
            and (pattern is None or pattern.fullmatch(r.path))
        )

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    # --- the loop's thread ----------------------------------------------------------------

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A held-back answer must not hold up shutdown for aiohttp's default minute.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _cancel_handlers(self) -> None:
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _close(self) -> None:
        await self._cancel_handlers()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._answer(request)
        finally:
            self._handlers.discard(task)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        method, path = request.method, request.path
        with self._lock:
            self._requests.append(Recorded(method, path, key, params))
            matching = (r for r in reversed(self._rules) if r.matches(method, path, params))
            rule = next(matching, None)
            if rule is not None and rule.times is not None:
                rule.times -= 1
            fingerprint = (method, path, body)
            saved = self._saved.get(key) if key else None
            epoch = self._epoch
        if saved is not None:
            return _replay(key or "", fingerprint, *saved)
        if rule is not None and rule.delay:
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.status is not None:
            answer = _Answer(rule.status, rule.body, rule.headers)
        else:
            answer = await self._forward(request, body)
            if rule is not None and rule.amend is not None:
                document = orjson.loads(answer.body) | dict(rule.amend)
                answer = _Answer(answer.status, orjson.dumps(document), answer.headers)
        if key and answer.status < 500 and answer.status != 429:
            with self._lock:
                if epoch == self._epoch:
                    self._saved.setdefault(key, (fingerprint, answer))
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def _forward(self, request: web.Request, body: bytes) -> _Answer:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_REQUEST}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            content = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_RESPONSE}
            return _Answer(upstream.status, content, kept)


def _replay(
    key: str,
    fingerprint: tuple[str, str, bytes],
    first: tuple[str, str, bytes],
    answer: _Answer,
) -> web.Response:
    if fingerprint != first:
        error = {
            "error": {
                "type": "idempotency_error",
                "message": (
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request."
                ),
            }
        }
        return web.Response(
            status=400, body=orjson.dumps(error), headers={"Content-Type": "application/json"}
        )
    headers = {**answer.headers, "Idempotent-Replayed": "true"}
    return web.Response(status=answer.status, body=answer.body, headers=headers)
