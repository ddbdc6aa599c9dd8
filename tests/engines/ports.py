"""Free-port helpers for engine processes."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (racy by nature; start the engine right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until host:port accepts a TCP connection; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{host}:{port} not accepting after {timeout}s") from exc
            time.sleep(0.05)
