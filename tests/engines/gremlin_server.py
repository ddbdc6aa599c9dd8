"""Apache TinkerPop Gremlin Server (the local Neptune) for tests: the runner `make run` uses.

`start_gremlin_server()` is the `with`-block form; `GremlinServer` is the same thing with
`start()` / `stop()` that a fault test may call mid-test (see datasources/neptune/local.py).
"""

from __future__ import annotations

from datasources.neptune.local import (
    CONF_YAML,
    TOOLS_DIR,
    GremlinServer,
    GremlinServerStartError,
    gremlin_home,
)
from datasources.neptune.local import local_gremlin_server as start_gremlin_server

__all__ = [
    "CONF_YAML",
    "TOOLS_DIR",
    "GremlinServer",
    "GremlinServerStartError",
    "gremlin_home",
    "start_gremlin_server",
]
