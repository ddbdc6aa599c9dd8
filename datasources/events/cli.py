"""`commerce-graph relay`: the outbox relay as a process of its own.

The server runs the same relay as a background task (`Events.running`); a standalone relay
is for deployments that keep it out of the web workers. Several relays may run at once:
delivery stays at-least-once, they only publish some events twice. Stops on SIGTERM/SIGINT
after the round in flight.

    python -m datasources.events.cli     # the same, from the environment (tests use it)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from datasources.dynamodb.client import DynamoClient
from datasources.events.build import open_events
from datasources.events.settings import EventsSettings
from datasources.settings import Settings

log = logging.getLogger(__name__)


async def _open_dynamo(settings: Settings, stack: AsyncExitStack) -> DynamoClient:
    # As datasources.build.open_dynamo, without importing every other connector: a relay
    # restarts in about half the time.
    config = AioConfig(
        max_pool_connections=settings.dynamodb_max_pool_connections,
        connect_timeout=settings.dynamodb_timeout_seconds,
        read_timeout=settings.dynamodb_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    client = await stack.enter_async_context(
        get_session().create_client(
            "dynamodb",
            region_name=settings.aws_region,
            endpoint_url=settings.dynamodb_endpoint,
            config=config,
        )
    )
    return DynamoClient(client, table_prefix=settings.table_prefix)


async def relay_until_stopped(settings: Settings, events_settings: EventsSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        dynamo = await _open_dynamo(settings, stack)
        events = await stack.enter_async_context(
            open_events(events_settings, dynamo, embedded=False)
        )
        log.info(
            "relay: outbox %s -> bus %s, polling every %.2fs",
            events.outbox.table,
            events_settings.bus_name,
            events_settings.relay_poll_seconds,
        )
        print("relay: ready", flush=True)
        await events.relay.run_forever(stop)
        log.info("relay stopped: %s", events.relay.metrics.snapshot())


def run_relay_command(settings: Settings, events_settings: EventsSettings) -> int:
    """The body of `commerce-graph relay`; the exit status."""
    if settings.embedded:
        print("commerce-graph relay: the embedded server relays its own outbox; nothing to do")
        return 2
    asyncio.run(relay_until_stopped(settings, events_settings))
    return 0


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_relay_command(Settings(), EventsSettings())


if __name__ == "__main__":
    raise SystemExit(main())
