"""Run Stripe's stripe-mock on free ports for the duration of a `with` block.

Installed by `make engines-stripe` (`go install github.com/stripe/stripe-mock@v0.197.0` into
~/.cache/commerce-graph/bin). Its bundled fixture answers every PaymentIntent with status
`requires_payment_method` (and a `last_payment_error`), which is what a PaymentIntent looks
like before confirmation. We confirm with manual capture, so the engine is started with
`-fixtures`: the bundled fixtures file, read from the Go module cache, with the
`payment_intent` resource in the state a successful confirm leaves it in (`requires_capture`,
no error). That configures the real engine; every request is still validated against
Stripe's OpenAPI spec. What stripe-mock cannot do (declines, faults, state) is left to
tests/engines/http_fault_proxy.py; `install_stripe_test_mode` sets that proxy up to answer
Stripe's documented test PaymentMethods as Stripe's test mode does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from datasources.cachedir import cache_dir

from .http_fault_proxy import HttpFaultProxy
from .ports import free_port
from .process import stop_process_group

PAYMENT_INTENTS = "/v1/payment_intents"
CANCEL = r"/v1/payment_intents/[^/]+/cancel"
TAX_CALCULATIONS = "/v1/tax/calculations"
UNKNOWN_PAYMENT_METHOD = "pm_does_not_exist"

# Stripe's documented declines for its test PaymentMethods (docs.stripe.com/testing#declined-
# payments): payment method -> (code, decline_code, message).
DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}

MODULE = "github.com/stripe/stripe-mock"
VERSION = "v0.197.0"
TEST_KEY = "sk_test_commercegraph"  # stripe-mock wants any "valid looking" test-mode key


class StripeMockError(RuntimeError):
    """stripe-mock is not installed or did not start."""


def stripe_mock_binary() -> str:
    installed = cache_dir() / "bin" / "stripe-mock"  # where mk/stripe.mk installs it
    candidates = (os.environ.get("CG_STRIPE_MOCK"), str(installed), shutil.which("stripe-mock"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StripeMockError(f"stripe-mock is not installed at {installed}: run `make engines-stripe`")


def bundled_fixtures() -> Path:
    """fixtures3.json of the installed version, from the module cache (fetched if cleaned)."""
    go = shutil.which("go")
    if go is None:
        raise StripeMockError("`go` is not on PATH: it locates stripe-mock's bundled fixtures")
    with tempfile.TemporaryDirectory() as outside_any_module:
        done = subprocess.run(
            [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
            cwd=outside_any_module,
            env={**os.environ, "GOTOOLCHAIN": "local"},
            capture_output=True,
            check=False,
            timeout=300,
        )
    if done.returncode != 0:
        raise StripeMockError(f"go mod download {MODULE}@{VERSION} failed: {done.stderr!r}")
    path = Path(json.loads(done.stdout)["Dir"]) / "embedded" / "openapi" / "fixtures3.json"
    if not path.is_file():
        raise StripeMockError(f"no bundled fixtures at {path}")
    return path


def write_authorizing_fixtures(bundled: Path, target: Path) -> None:
    """The bundled fixtures, with a PaymentIntent as a confirmed manual-capture card leaves it."""
    fixtures = json.loads(bundled.read_text())
    intent = fixtures["resources"]["payment_intent"]
    intent.update(
        status="requires_capture",
        capture_method="manual",
        last_payment_error=None,
        next_action=None,
        canceled_at=None,
        processing=None,
    )
    target.write_text(json.dumps(fixtures))


def card_error(payment_method: str, code: str, decline_code: str, message: str) -> dict[str, Any]:
    """Stripe's 402 body for a declined confirm: the error, with the PaymentIntent it left."""
    error = {
        "code": code,
        "decline_code": decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "type": "card_error",
    }
    intent = {
        "id": "pi_3Declined0000000000000000",
        "object": "payment_intent",
        "amount": 1099,
        "currency": "usd",
        "capture_method": "manual",
        "status": "requires_payment_method",
        "last_payment_error": {**error, "payment_method": {"id": payment_method}},
    }
    return {"error": {**error, "charge": "ch_3Declined0000000000000000", "payment_intent": intent}}


def install_stripe_test_mode(proxy: HttpFaultProxy) -> None:
    """What Stripe's test mode does that stripe-mock does not: declines by test card, 3-D
    Secure, a missing PaymentMethod, and the state a cancel leaves a PaymentIntent in."""
    for method, (code, decline_code, message) in DECLINES.items():
        proxy.respond(
            "POST",
            PAYMENT_INTENTS,
            status=402,
            json=card_error(method, code, decline_code, message),
            params={"payment_method": method},
        )
    proxy.amend(
        "POST",
        PAYMENT_INTENTS,
        {"status": "requires_action", "next_action": {"type": "use_stripe_sdk"}},
        params={"payment_method": "pm_card_authenticationRequired"},
    )
    proxy.respond(
        "POST",
        PAYMENT_INTENTS,
        status=400,
        json={
            "error": {
                "code": "resource_missing",
                "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
                "message": f"No such PaymentMethod: '{UNKNOWN_PAYMENT_METHOD}'",
                "param": "payment_method",
                "type": "invalid_request_error",
            }
        },
        params={"payment_method": UNKNOWN_PAYMENT_METHOD},
    )
    proxy.amend(
        "POST",
        CANCEL,
        {"status": "canceled", "amount_capturable": 0, "canceled_at": 1_700_000_000},
    )


@contextmanager
def start_stripe_mock(timeout: float = 20.0) -> Iterator[str]:
    """Start stripe-mock on 127.0.0.1; yield its base URL once it answers an API call."""
    binary = stripe_mock_binary()
    with tempfile.TemporaryDirectory(prefix="stripe-mock-") as workdir:
        fixtures = Path(workdir) / "fixtures3.json"
        write_authorizing_fixtures(bundled_fixtures(), fixtures)
        port = free_port()
        # Both addresses are given: with -http-addr alone, v0.197.0 still opens HTTPS on the
        # fixed default port 12112, which clashes with any other stripe-mock on the machine.
        cmd = [
            binary, "-http-addr", f"127.0.0.1:{port}", "-https-addr", f"127.0.0.1:{free_port()}",
            "-fixtures", str(fixtures),
        ]  # fmt: skip
        log_path = Path(workdir) / "stripe-mock.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_answering(proc, url, timeout, log_path)
            yield url
        finally:
            stop_process_group(proc, grace=5.0)


def _wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, timeout: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout
    probe = urllib.request.Request(
        f"{url}/v1/balance", headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    last: Exception | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(probe, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.05)
    code = proc.poll()
    state = f"exited with code {code}" if code is not None else f"not answering after {timeout}s"
    text = ""
    with suppress(OSError):
        text = log.read_text(errors="replace")
    stop_process_group(proc, grace=5.0)
    raise StripeMockError(f"stripe-mock at {url} {state}; last error: {last!r}\n{text}")
