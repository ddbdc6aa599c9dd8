"""Run moto's HTTP server (every AWS service on one endpoint) in a thread of this process."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


@contextmanager
def start_moto_server(port: int = 0) -> Iterator[str]:
    """Start a ThreadedMotoServer on 127.0.0.1; yield its endpoint URL; stop it on exit."""
    # Default port 0 (the OS picks), not free_port(): if the bind fails, start() waits forever
    # for a ready event that the crashed server thread never sets.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Drop all state of every moto backend (POST /moto-api/reset)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
