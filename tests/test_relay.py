"""The relay: outbox → a real (moto) EventBridge bus → rule → SQS, with failures injected
honestly (a refused entry, a bus that resets connections), the inbound consumer, and the
loss test: a relay process SIGKILLed at random points loses no event."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import orjson
import pytest
from botocore.exceptions import BotoCoreError

from datasources.build import open_dynamo
from datasources.cart import CartLineRecord, CartRecord, CartStatus
from datasources.dynamodb.cart import DynamoCartSource
from datasources.dynamodb.client import DynamoClient, from_wire
from datasources.dynamodb.tables import CARTS, OUTBOX, create_tables
from datasources.errors import SourceError
from datasources.events.aws import SqsClient
from datasources.events.build import Events, open_events
from datasources.events.consumer import InboundEvent
from datasources.events.outbox import MAX_ENTRY_BYTES, EventTooLargeError, Outbox
from datasources.events.records import DomainEvent, now_iso
from datasources.events.relay import batches
from datasources.events.settings import EventsSettings
from datasources.records import Channel
from datasources.settings import Settings
from engines.ports import free_port, wait_for_port
from engines.tcp_proxy import TcpProxy
from events_fixtures import drain_queue, write_events
from resolvers.events import cart_updated

ROOT = Path(__file__).resolve().parent.parent


def settings_for(endpoint: str, prefix: str) -> Settings:
    return Settings(
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        token_secret="test-secret",  # type: ignore[arg-type]
    )


def events_settings_for(moto: str, bus: str, **overrides: object) -> EventsSettings:
    knobs: dict[str, object] = {
        "endpoint": moto,
        "sqs_endpoint": moto,
        "bus_name": bus,
        "local_wiring": True,
        "relay_enabled": True,  # conftest turns it off for the apps of other tests
        "relay_poll_seconds": 0.05,
        "relay_max_backoff_seconds": 0.2,
        # The tests' moto serves one request at a time: a long poll would hold the relay's
        # PutEvents (and everyone's DynamoDB calls) behind it.
        "consumer_wait_seconds": 0,
        "timeout_seconds": 2.0,
        **overrides,
    }
    return EventsSettings(**knobs)  # type: ignore[arg-type]


@dataclass
class Bench:
    dynamo: DynamoClient
    events: Events
    moto: str

    @property
    def outbox(self) -> Outbox:
        return self.events.outbox

    async def publish_all(self, rounds: int = 50) -> None:
        for _ in range(rounds):
            await self.events.relay.run_once()
            if await self.outbox.pending_count() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the outbox did not drain")

    async def tap(self) -> list[dict[str, object]]:
        assert self.events.wiring is not None
        return await drain_queue(self.events.sqs, self.events.wiring.tap_queue_url)


@pytest.fixture
async def bench(engine_endpoints: dict[str, str]) -> AsyncIterator[Bench]:
    """A fresh outbox on DynamoDB Local and a fresh bus, rules and queues on moto."""
    tag = uuid.uuid4().hex[:8]
    settings = settings_for(engine_endpoints["dynamodb-local"], f"cg-relay-{tag}-")
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo, [OUTBOX, CARTS])
        events = await stack.enter_async_context(
            open_events(
                events_settings_for(engine_endpoints["moto"], f"cg-{tag}"), dynamo, embedded=False
            )
        )
        yield Bench(dynamo, events, engine_endpoints["moto"])


def sample(n: int, domain: str = "cart") -> list[DomainEvent]:
    return [
        DomainEvent.new(domain, "CART_UPDATED", {"cartId": f"crt_{n}", "n": n}, channel="WEB")
        for n in range(n)
    ]


async def test_the_relay_publishes_the_envelope_through_a_rule_to_sqs(bench: Bench) -> None:
    # given
    written = sample(25)
    await write_events(bench.dynamo, written)
    # when
    await bench.publish_all()
    # then
    by_id = {b["detail"]["eventId"]: b for b in await bench.tap()}  # type: ignore[index]
    assert set(by_id) == {e.event_id for e in written}
    for event in written:
        body = by_id[event.event_id]
        assert body["source"] == "commerce-graph.cart"
        assert body["detail-type"] == "CART_UPDATED"
        assert body["detail"] == event.detail()
    metrics = bench.events.relay.metrics
    assert metrics.published == 25
    assert metrics.largest_batch <= 10
    assert metrics.calls >= 3
    assert metrics.failed_entries == {}
    raw = await bench.dynamo.raw.get_item(
        TableName=bench.outbox.table,
        Key={"pk": {"S": f"EVENT#{written[0].event_id}"}, "sk": {"S": "EVENT"}},
    )
    published = from_wire(raw["Item"])
    assert "gsi1pk" not in published
    assert int(published["expiresAt"]) > time.time() + 86400
    assert str(published["publishedAt"]).endswith("Z")


def test_batches_keep_within_ten_entries_and_256_kb() -> None:
    small = [{"source": "s", "detailType": "T", "detail": "{}"} for _ in range(23)]
    assert [len(b) for b in batches(small)] == [10, 10, 3]
    big = [{"source": "s", "detailType": "T", "detail": "x" * 100_000} for _ in range(5)]
    sizes = [len(b) for b in batches(big)]
    assert sizes == [2, 2, 1]


async def test_an_event_eventbridge_could_never_take_is_refused_before_it_is_written(
    bench: Bench,
) -> None:
    huge = DomainEvent.new("cart", "CART_UPDATED", {"blob": "x" * MAX_ENTRY_BYTES})
    with pytest.raises(EventTooLargeError):
        bench.outbox.put(huge)


async def test_a_refused_entry_stays_pending_and_is_published_once_it_can_be(
    bench: Bench,
) -> None:
    # given: ten events, one of which EventBridge refuses (its detail is not JSON)
    written = sample(10)
    bad = written[3]
    await write_events(bench.dynamo, written)
    corrupt = {**bench.outbox.item(bad), "detail": "{not json"}
    await bench.dynamo.put(bench.outbox.table, corrupt)
    relay = bench.events.relay
    # when
    published, _ = await relay.run_once()
    # then: the other nine went out; the bad one is pending, due later
    assert published == 9
    assert relay.metrics.failed_entries == {"MalformedDetail": 1}
    assert relay.metrics.rescheduled == 1
    assert await bench.outbox.pending_count() == 1
    key = {"pk": f"EVENT#{bad.event_id}", "sk": "EVENT"}
    stored = await bench.dynamo.get(bench.outbox.table, key, consistent=True)
    assert stored is not None
    assert stored["attempts"] == 1
    assert stored["lastError"] == "MalformedDetail"
    assert stored["gsi1sk"] > corrupt["gsi1sk"]
    # when: repaired, it goes out on a later round
    await bench.dynamo.put(bench.outbox.table, {**stored, "detail": bad.detail_json()})
    await bench.publish_all()
    received = [b["detail"]["eventId"] for b in await bench.tap()]  # type: ignore[index]
    assert sorted(received) == sorted(e.event_id for e in written)


async def test_an_unreachable_bus_leaves_every_event_pending_until_it_is_back(
    bench: Bench,
) -> None:
    # given: a relay whose EventBridge endpoint is a proxy that resets every connection
    moto = urlparse(bench.moto)
    assert bench.events.wiring is not None
    with TcpProxy("127.0.0.1", int(moto.port or 80)) as proxy:
        settings = events_settings_for(
            f"http://127.0.0.1:{proxy.port}",
            bench.events.wiring.bus_name,
            local_wiring=False,
            reset_seconds=0.2,
        )
        async with open_events(settings, bench.dynamo, embedded=False) as events:
            written = sample(12)
            await write_events(bench.dynamo, written)
            proxy.reset()
            # when / then: the call fails, nothing is marked
            with pytest.raises(SourceError) as raised:
                await events.relay.run_once()
            assert raised.value.source == "EventBridge"
            assert await bench.outbox.pending_count() == 12
            # when: the relay keeps running through the outage and the bus comes back
            stop = asyncio.Event()
            task = asyncio.create_task(events.relay.run_forever(stop))
            deadline = time.monotonic() + 15
            while not events.relay.metrics.failed_rounds:
                assert time.monotonic() < deadline, "no round failed while the bus was down"
                await asyncio.sleep(0.05)
            assert await bench.outbox.pending_count() == 12
            proxy.heal()
            deadline = time.monotonic() + 15
            while await bench.outbox.pending_count():
                assert time.monotonic() < deadline, "the relay did not recover"
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.wait_for(task, 10)
            failed_rounds = dict(events.relay.metrics.failed_rounds)
    # then
    assert sum(failed_rounds.values()) >= 1
    assert set(failed_rounds) <= {"EventBridge:Unavailable", "EventBridge:CircuitOpen"}
    received = {b["detail"]["eventId"] for b in await bench.tap()}  # type: ignore[index]
    assert received == {e.event_id for e in written}


async def test_inbound_events_reach_the_handler_and_a_failed_one_comes_back(
    bench: Bench,
) -> None:
    # given: an ERP event on the bus (the inbound rule routes `erp.*` to the inbound queue)
    wiring = bench.events.wiring
    consumer = bench.events.consumer
    assert wiring is not None
    assert consumer is not None
    detail = {"eventId": "erp-1", "payload": {"variantId": "var_1", "available": 3}}
    await bench.events.eventbridge.put_events(
        Entries=[
            {
                "Source": "erp.stock",
                "DetailType": "STOCK_CHANGED",
                "Detail": json.dumps(detail),
                "EventBusName": wiring.bus_name,
            }
        ]
    )
    seen: list[InboundEvent] = []

    async def flaky(event: InboundEvent) -> None:
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("the internal mutation failed")

    # when: the first delivery fails
    assert await consumer.poll_once(flaky) == 0
    # then: it comes back after its backoff, and is deleted once handled
    deadline = time.monotonic() + 10
    while len(seen) < 2:
        assert time.monotonic() < deadline, "the failed message never came back"
        await consumer.poll_once(flaky)
    assert seen[1].source == "erp.stock"
    assert seen[1].detail_type == "STOCK_CHANGED"
    assert seen[1].event_id == "erp-1"
    assert seen[1].detail == detail
    assert consumer.metrics.failed == 1
    assert consumer.metrics.handled == 1
    assert await drain_queue(bench.events.sqs, wiring.inbound_queue_url, quiet_polls=1) == []
    # the graph's own events go to the tap, never to the inbound queue
    assert await bench.tap() == []


async def test_running_starts_and_stops_the_relay_and_the_consumer(bench: Bench) -> None:
    # given
    wiring = bench.events.wiring
    assert wiring is not None
    handled: list[InboundEvent] = []

    async def handler(event: InboundEvent) -> None:
        handled.append(event)

    written = sample(3)
    # when
    async with bench.events.running(handler):
        await write_events(bench.dynamo, written)
        await bench.events.eventbridge.put_events(
            Entries=[
                {
                    "Source": "erp.fulfilment",
                    "DetailType": "FULFILMENT_UPDATED",
                    "Detail": json.dumps({"eventId": "f-1"}),
                    "EventBusName": wiring.bus_name,
                }
            ]
        )
        deadline = time.monotonic() + 30  # generous: a busy CI machine, not a timing test
        while handled == [] or await bench.outbox.pending_count():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    # then
    assert [e.event_id for e in handled] == ["f-1"]
    received = {b["detail"]["eventId"] for b in await bench.tap()}  # type: ignore[index]
    assert received == {e.event_id for e in written}


# --- the loss test --------------------------------------------------------------------------

LOSS_MUTATIONS = 1000
LOSS_WRITERS = 8
MIN_KILLS = 5


async def _write_carts(
    carts: DynamoCartSource, written: list[str], rng: random.Random, writer: int
) -> None:
    """This writer's share of the mutations: carts created, then lines changed, each write
    with its CART_UPDATED event; paced so that the writes span the relay's kills."""
    share = LOSS_MUTATIONS // LOSS_WRITERS
    cart: CartRecord | None = None
    for n in range(share):
        now = now_iso()
        if cart is None or n % 5 == 0:
            cart = CartRecord(
                id=f"crt_loss_{writer}_{n}",
                channel=Channel.WEB,
                currency_code="USD",
                status=CartStatus.ACTIVE,
                lines=(),
                version=1,
                created_at=now,
                updated_at=now,
                expires_at=int(time.time()) + 3600,
            )
            event = cart_updated(cart)
            await carts.create_cart(cart, events=[event])
        else:
            line = CartLineRecord(f"ln_{n}", "prd_1", f"var_{n}", rng.randint(1, 5))
            changed = cart.with_lines([*cart.lines, line], now=now)
            event = cart_updated(replace(changed, version=cart.version + 1))
            cart = await carts.replace_cart(changed, expected_version=cart.version, events=[event])
        written.append(event.event_id)
        await asyncio.sleep(rng.uniform(0, 0.35))


class RelayProcess:
    """`python -m datasources.events.cli`, the standalone relay, on the test's engines."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._env = env
        self._log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "datasources.events.cli",
                cwd=ROOT,
                env=self._env,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        assert line.strip() == b"relay: ready", self._log.read_text()[-2000:]

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 15)

    def log_tail(self, chars: int = 3000) -> str:
        return self._log.read_text(errors="replace")[-chars:] if self._log.exists() else ""

    async def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()


def _moto_probe(moto: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{moto}/moto-api/config", timeout=8) as response:
        return f"HTTP {response.status}"


async def _until_drained(outbox: Outbox, relay: RelayProcess, moto: str) -> None:
    """Waits while the outbox's pending count keeps falling; fails, with the relay's log,
    after 30 s without progress (a stuck relay, not a slow machine)."""
    pending = await outbox.pending_count()
    stalled_since = time.monotonic()
    while pending:
        await asyncio.sleep(0.2)
        now_pending = await outbox.pending_count()
        if now_pending < pending:
            stalled_since = time.monotonic()
        pending = now_pending
        if time.monotonic() - stalled_since >= 30:
            probe = time.monotonic()
            moto_answer: object = None
            try:
                moto_answer = await asyncio.wait_for(
                    asyncio.to_thread(_moto_probe, moto), timeout=10
                )
            except Exception as exc:
                moto_answer = repr(exc)
            raise AssertionError(
                f"the outbox stopped draining at {pending} pending (relay exit code "
                f"{relay.proc.returncode if relay.proc else None}; moto answered {moto_answer!r} "
                f"in {time.monotonic() - probe:.2f}s); relay log:\n{relay.log_tail()}"
            )


class Collector:
    """Reads the rule's target queue while the test runs, deleting what it read, as a real
    consumer would (moto's PutEvents slows down with every message its target queue holds)."""

    def __init__(self, sqs: SqsClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self.event_ids: list[str] = []

    async def poll(self) -> int:
        """One receive (and delete) of up to 10 messages; 0 when it failed.

        The collector is a consumer like any other: on a busy machine a receive may time out
        after moto answered it. Its messages then stay hidden for the visibility timeout (kept
        short here) and are read when they reappear (`drain` waits for them); a delete that
        times out only means they are read twice, which the test counts as duplicates.
        """
        try:
            response = await self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                VisibilityTimeout=5,
            )
        except (BotoCoreError, SourceError):
            return 0
        messages = response.get("Messages", [])
        if messages:
            self.event_ids += [orjson.loads(m["Body"])["detail"]["eventId"] for m in messages]
            with suppress(BotoCoreError, SourceError):
                await self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                )
        return len(messages)

    async def run(self, stop: asyncio.Event, receivers: int = 4) -> None:
        """Poll with several receivers: moto serves one request at a time, in arrival order,
        so the relay's concurrent PutEvents would otherwise starve a single reader."""

        async def receive() -> None:
            while not stop.is_set():
                if not await self.poll():
                    await asyncio.sleep(0.05)

        await asyncio.gather(*(receive() for _ in range(receivers)))

    async def drain(self, within: float = 90.0) -> None:
        """Until the queue holds nothing, hidden messages included: a receive whose answer
        was lost (a client timeout on a busy machine) hides its messages for the visibility
        timeout, and they must be read when they reappear, not counted as lost."""
        deadline = time.monotonic() + within
        while True:
            if await self.poll():
                continue
            try:
                attributes = (
                    await self._sqs.get_queue_attributes(
                        QueueUrl=self._queue_url,
                        AttributeNames=[
                            "ApproximateNumberOfMessages",
                            "ApproximateNumberOfMessagesNotVisible",
                        ],
                    )
                )["Attributes"]
            except (BotoCoreError, SourceError):
                assert time.monotonic() < deadline, "the queue did not answer"
                continue
            if not any(int(v) for v in attributes.values()):
                return
            assert time.monotonic() < deadline, f"the queue still holds {attributes}"
            await asyncio.sleep(0.5)


@pytest.fixture
def moto_process(tmp_path: Path) -> Iterator[str]:
    """moto's own server (`moto_server`, threaded) in a process of its own.

    The session's moto runs in a thread of the test process and serves one request at a
    time: under this test's load (8 writers and 4 readers in the test's event loop, sharing
    its GIL) moto's SQS receives, which cost O(messages in the queue) each, crowded out the
    relay's PutEvents until nothing drained (seen in CI). Here moto has a CPU of its own.
    """
    port = free_port()
    with (tmp_path / "moto.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_no_event_is_lost_when_the_relay_is_killed_at_random_points(
    engine_endpoints: dict[str, str], moto_process: str, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    engine_endpoints = {**engine_endpoints, "moto": moto_process}
    settings = settings_for(engine_endpoints["dynamodb-local"], f"cg-loss-{tag}-")
    events_settings = events_settings_for(engine_endpoints["moto"], f"cg-loss-{tag}")
    env = {
        **os.environ,
        "CG_EMBEDDED": "false",
        "CG_DYNAMODB_ENDPOINT": engine_endpoints["dynamodb-local"],
        "CG_TABLE_PREFIX": settings.table_prefix,
        "CG_EVENTS_ENDPOINT": engine_endpoints["moto"],
        "CG_EVENTS_BUS_NAME": events_settings.bus_name,
        "CG_EVENTS_RELAY_POLL_SECONDS": "0.05",
        "CG_EVENTS_RELAY_PAGE_SIZE": "50",
        # The session's moto serves one request at a time, in arrival order. With the
        # production read timeout (3 s) a busy machine makes PutEvents time out, and each
        # timed-out call is still served later while its retry queues behind it: moto ends up
        # serving only abandoned calls and the relay never drains (seen in CI). This test is
        # about kills, not timeouts: calls may take as long as they take, and a few failures
        # must not park the relay behind the production breaker reset or backoff cap.
        "CG_EVENTS_TIMEOUT_SECONDS": "30",
        "CG_EVENTS_RESET_SECONDS": "1",
        "CG_EVENTS_RELAY_MAX_BACKOFF_SECONDS": "1",
    }
    relay = RelayProcess(env, tmp_path / "relay.log")
    written: list[str] = []
    kills = kills_with_backlog = 0
    async with AsyncExitStack() as stack:
        stack.push_async_callback(relay.ensure_dead)
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo, [OUTBOX, CARTS])
        events = await stack.enter_async_context(
            open_events(events_settings, dynamo, embedded=False)
        )
        assert events.wiring is not None
        collector = Collector(events.sqs, events.wiring.tap_queue_url)
        collecting = asyncio.Event()
        collector_task = asyncio.create_task(collector.run(collecting))
        stack.callback(collector_task.cancel)
        carts = DynamoCartSource(dynamo)
        started = time.monotonic()
        # given: writers committing mutations with their events
        writers = asyncio.gather(
            *(_write_carts(carts, written, rng, w) for w in range(LOSS_WRITERS))
        )
        try:
            # when: the relay is SIGKILLed at random points, and restarted, while they write
            while not writers.done() or kills < MIN_KILLS:
                await relay.start()
                await asyncio.sleep(rng.uniform(0.5, 4.0))
                kills_with_backlog += await events.outbox.pending_count() > 0
                await relay.kill()
                kills += 1
                await asyncio.sleep(rng.uniform(0, 0.3))
            await writers
        finally:
            if not writers.done():
                writers.cancel()
                with suppress(asyncio.CancelledError):
                    await writers
        # then: a relay left alone drains the outbox
        await relay.start()
        await _until_drained(events.outbox, relay, engine_endpoints["moto"])
        assert await relay.stop() == 0
        collecting.set()
        await collector_task
        await collector.drain()
    received = collector.event_ids
    missing = set(written) - set(received)
    unexpected = set(received) - set(written)
    duplicates = len(received) - len(set(received))
    print(
        f"\nloss test (seed {seed}): {len(written)} events written, {len(received)} received "
        f"({len(set(received))} distinct, {duplicates} duplicates), {len(missing)} missing; "
        f"{kills} kills ({kills_with_backlog} with events pending), "
        f"{time.monotonic() - started:.1f}s"
    )
    assert len(written) == LOSS_MUTATIONS
    assert len(set(written)) == LOSS_MUTATIONS
    assert not missing, f"seed {seed}: lost {sorted(missing)[:10]}"
    assert not unexpected
    assert kills >= MIN_KILLS
