"""The embedded default: moto's server in this process stands in for every AWS service.

moto checks a ConditionExpression and then writes, with no lock in between; served on parallel
threads (as `ThreadedMotoServer` does) two conditional writes can both pass and one is lost.
Serving requests one at a time restores DynamoDB's guarantee, at no real cost: moto is pure
Python under the GIL anyway.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def embedded_aws(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve moto on `host:port` (0: a free port) from a daemon thread; yield the endpoint."""
    # Only the embedded default needs moto; production installs never import it.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # moto accepts any credentials; set dummy ones so botocore never looks further.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=False, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
