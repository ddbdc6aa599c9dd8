"""A real AppSync client, unchanged: the AWS Amplify JS v6 client under Node (issue 6).

tests/clients/amplify/subscribe.mjs configures Amplify with our GraphQL endpoint and an API
key, subscribes to `onCartUpdated(cartId)` through `generateClient().graphql(...)` and prints
what it receives as JSON lines. Its node_modules (aws-amplify + ws, pinned by the committed
package-lock.json) come from `make engines-amplify`.

Amplify derives the realtime URL from the endpoint: a custom domain gets `/realtime`
appended (our `/graphql/realtime`) and `http://` or `https://` becomes `wss://`, so Amplify
always uses TLS. The app therefore gets a second, HTTPS listener here: the same app, on the
`live` server's event loop (same registry, same tables), with a throwaway certificate for
127.0.0.1 that Node trusts through NODE_EXTRA_CA_CERTS. Nothing in Amplify is patched.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import realtime_support
from datasources.cachedir import cache_dir
from engines.ports import free_port
from realtime_support import (
    ADD_LINES,
    CREATE_CART,
    LiveServer,
    in_stock_variant,
    wait_for_subscribers,
)

pytestmark = pytest.mark.engine

# Session fixtures shared by the realtime tests (a live uvicorn server on moto).
live = realtime_support.live
realtime_demo = realtime_support.realtime_demo

CLIENT = Path(__file__).resolve().parent / "clients" / "amplify"
SCRIPT = "subscribe.mjs"


def amplify_client_home() -> Path:
    """Where `make engines-amplify` installed node_modules for the current lock file."""
    if home := os.environ.get("CG_AMPLIFY_CLIENT_HOME"):
        return Path(home)
    digest = hashlib.sha256((CLIENT / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_dir() / "engines" / "amplify-client" / digest


@pytest.fixture(scope="module")
def amplify_dir() -> Iterator[Path]:
    """A folder with the script and node_modules linked from the cache (never skipped)."""
    modules = amplify_client_home() / "node_modules"
    if not (modules / "aws-amplify" / "package.json").exists():
        pytest.fail(f"{modules} has no aws-amplify: run `make engines-amplify` (make test does)")
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: Node.js 20+ is needed for the Amplify client test")
    with tempfile.TemporaryDirectory(prefix="amplify-client-") as workdir:
        root = Path(workdir)
        for name in ("package.json", SCRIPT):
            shutil.copy(CLIENT / name, root / name)
        (root / "node_modules").symlink_to(modules)
        yield root


@dataclass(frozen=True)
class TlsListener:
    port: int
    certificate: Path

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/graphql"


@pytest.fixture(scope="module")
def tls(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsListener]:
    """The live app also served over HTTPS (lifespan off: `live` already ran it)."""
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    _self_signed(certificate, key)
    port = free_port()
    config = uvicorn.Config(
        live.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ws="websockets-sansio",
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
    )
    server = uvicorn.Server(config)
    serving = asyncio.run_coroutine_threadsafe(server.serve(), live.loop)
    deadline = time.monotonic() + 30
    while not server.started:
        if serving.done() or time.monotonic() > deadline:
            raise RuntimeError(f"the HTTPS listener did not start: {serving!r}")
        time.sleep(0.05)
    try:
        yield TlsListener(port, certificate)
    finally:
        server.should_exit = True
        serving.result(30)


def _self_signed(certificate: Path, key_file: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class AmplifyProcess:
    """`node subscribe.mjs ...`: its JSON lines, read as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls, folder: Path, tls: TlsListener, *, api_key: str, cart_id: str, events: int
    ) -> AmplifyProcess:
        env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.certificate)}
        proc = await asyncio.create_subprocess_exec(
            "node", SCRIPT,
            "--endpoint", tls.endpoint, "--api-key", api_key, "--cart-id", cart_id,
            "--events", str(events), "--timeout", "40",
            cwd=folder, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def next_line(self, within: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not raw:
            raise AssertionError(f"the Amplify client ended: {await self.failure()}")
        line: dict[str, Any] = json.loads(raw)
        self.lines.append(line)
        return line

    async def until(self, event: str, *, state: str | None = None) -> dict[str, Any]:
        while True:
            line = await self.next_line()
            if line["event"] == event and (state is None or line.get("state") == state):
                return line
            if line["event"] in ("error", "timeout") and event not in ("error", "timeout"):
                raise AssertionError(f"the Amplify client reported {line}; before: {self.lines}")

    async def exit_code(self, within: float = 15.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), within)
        return code

    async def failure(self) -> str:
        assert self.proc.stderr is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)
        stderr = await self.proc.stderr.read()
        return f"exit {self.proc.returncode}, stderr: {stderr.decode(errors='replace')[-2000:]}"

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def test_amplify_receives_two_add_cart_lines_events(
    live: LiveServer, tls: TlsListener, amplify_dir: Path, realtime_demo: Any
) -> None:
    # given a cart and the Amplify client subscribed to it (Amplify's Hub says Connected
    # once start_ack arrived; the registry shows the subscription)
    cart_id = (await live.post(CREATE_CART))["data"]["createCart"]["cartId"]
    first, second = in_stock_variant(realtime_demo, 0), in_stock_variant(realtime_demo, 1)
    before = live.realtime.active
    client = await AmplifyProcess.start(
        amplify_dir, tls, api_key=live.api_key, cart_id=cart_id, events=2
    )
    try:
        await client.until("connection", state="Connected")
        await wait_for_subscribers(live, before + 1)
        # when lines are added twice over HTTP
        added = [
            await live.post(ADD_LINES, {"cartId": cart_id, "variantId": first, "n": 2}),
            await live.post(ADD_LINES, {"cartId": cart_id, "variantId": second, "n": 3}),
        ]
        # then Amplify hands both results, under its selection, in order, and exits
        events = [(await client.until("data"))["data"], (await client.until("data"))["data"]]
        assert await client.exit_code() == 0, await client.failure()
    finally:
        await client.close()
    assert [a["data"]["addCartLines"]["userErrors"] for a in added] == [[], []]
    assert [e["onCartUpdated"]["cartId"] for e in events] == [cart_id, cart_id]
    assert [e["onCartUpdated"]["userErrors"] for e in events] == [[], []]
    carts = [e["onCartUpdated"]["cart"] for e in events]
    assert [c["id"] for c in carts] == [cart_id, cart_id]
    assert [c["totalQuantity"] for c in carts] == [2, 5]
    assert sorted(line["quantity"] for line in carts[0]["lines"]) == [2]
    assert sorted(line["quantity"] for line in carts[1]["lines"]) == [2, 3]
    # and they are exactly what the mutations returned (the mutation selected a superset)
    assert [e["onCartUpdated"]["cart"] for e in events] == [
        a["data"]["addCartLines"]["cart"] for a in added
    ]
    await wait_for_subscribers(live, before)  # Amplify's stop (or close) removed it


async def test_amplify_with_a_wrong_api_key_reports_the_refusal(
    live: LiveServer, tls: TlsListener, amplify_dir: Path
) -> None:
    # given a cart
    cart_id = (await live.post(CREATE_CART))["data"]["createCart"]["cartId"]
    before = live.realtime.active
    # when Amplify subscribes with a key the server does not know
    client = await AmplifyProcess.start(
        amplify_dir, tls, api_key="da2-thisisnotarealkey00000000", cart_id=cart_id, events=1
    )
    try:
        line = await client.until("error")
        code = await client.exit_code()
    finally:
        await client.close()
    # then the subscription's observable errors with AppSync's connection refusal
    assert code == 1
    assert "UnauthorizedException" in json.dumps(line["error"]), line
    assert live.realtime.active == before
