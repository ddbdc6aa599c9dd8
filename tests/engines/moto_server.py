"""Run moto's HTTP server (every AWS service on one endpoint) in a thread of this process.

Tests use exactly the server of the embedded default (`datasources.embedded`), which serves
requests one at a time so that moto's conditional writes stay atomic.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from datasources.embedded import embedded_aws


@contextmanager
def start_moto_server(port: int = 0) -> Iterator[str]:
    """Serve moto on 127.0.0.1 (port 0: the OS picks); yield its endpoint URL; stop on exit."""
    with embedded_aws(port=port) as endpoint:
        yield endpoint


def reset_moto(endpoint: str) -> None:
    """Drop all state of every moto backend (POST /moto-api/reset)."""
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
