"""The embedded default: moto's server in this process stands in for every AWS service."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def embedded_aws() -> Iterator[str]:
    """Start moto's threaded server on a free loopback port; yield its endpoint URL."""
    from moto.server import ThreadedMotoServer  # only the embedded default needs moto

    # moto accepts any credentials; set dummy ones so botocore never looks further.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
