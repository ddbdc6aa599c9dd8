"""Run a real redis-server on a free port for the duration of a `with` block.

Installed system-wide (`apt-get install -y redis-server`); nothing is persisted: no RDB
snapshots, no AOF, a temporary working directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from .ports import free_port
from .process import stop_process_group


class RedisServerError(RuntimeError):
    """redis-server is not installed or did not start."""


@contextmanager
def start_redis_server(timeout: float = 10.0) -> Iterator[str]:
    """Start redis-server on 127.0.0.1; yield `redis://127.0.0.1:PORT/0` once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerError(
            "redis-server is not on PATH: `apt-get install -y redis-server` (make test does it)"
        )
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="redis-") as workdir:
        log_path = os.path.join(workdir, "redis.log")
        cmd = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", workdir, "--logfile", log_path, "--daemonize", "no",
        ]  # fmt: skip
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            _wait_for_pong(proc, port, timeout, log_path)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop_process_group(proc, grace=5.0)


def _wait_for_pong(proc: subprocess.Popen[bytes], port: int, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    code = proc.poll()
    state = f"exited with code {code}" if code is not None else f"no PONG after {timeout}s"
    text = ""
    with suppress(OSError), open(log) as handle:
        text = handle.read()
    stop_process_group(proc, grace=5.0)
    raise RedisServerError(f"redis-server on port {port} {state}; last error: {last!r}\n{text}")
