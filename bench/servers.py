"""Start and stop a server under test (`bench.serve`) as a child process."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.engines.ports import free_port
from tests.engines.process import stop_process_group

READY_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server under test did not start."""


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int


@contextmanager
def running_server(kind: str, *extra: str) -> Iterator[Server]:
    """Run `python -m bench.serve KIND --port <free> *extra`; yield it once it answers HTTP,
    and stop it (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.serve", kind, "--port", str(port), *extra]
    base = f"http://127.0.0.1:{port}"
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryFile(mode="w+", prefix=f"bench-{kind}-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_ready(proc, base, log)
            yield Server(base, proc.pid)
        finally:
            stop_process_group(proc)
            _echo_problems(kind, log)


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: IO[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            # Any HTTP answer (even 404/405) means uvicorn runs and the lifespan has finished.
            httpx.get(f"{base}/healthz", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    log.seek(0)
    raise ServerError(f"server at {base} did not start:\n{log.read()}")


def _echo_problems(kind: str, log: IO[str]) -> None:
    """Warnings and tracebacks the server logged are worth seeing beside its numbers."""
    log.seek(0)
    text = log.read().strip()
    if text:
        tail = "\n".join(text.splitlines()[-20:])
        print(f"--- {kind} server log (last lines) ---\n{tail}", file=sys.stderr)
