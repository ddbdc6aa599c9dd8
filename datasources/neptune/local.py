"""The embedded default for the graph: Apache TinkerPop Gremlin Server (a JVM) on a free port.

`make run` starts one when Java and the jars are present (`make engines-gremlin` fetches them
into ~/.cache/commerce-graph/engines/gremlin, see mk/gremlin.mk); the test fixtures start
theirs through the same class. The configuration (TinkerGraph made Neptune-like: string ids,
`set` cardinality, lambdas refused) is tools/engines/gremlin/conf, read from the source tree.

    with local_gremlin_server() as url:      # ws://127.0.0.1:PORT/gremlin
        ...

`GremlinServer` is the same thing with `start()` / `stop()`, which a fault test may call
mid-test (a restart keeps the port, so clients holding the URL reconnect to the new process).
Nothing here needs an event loop; from async code call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

from datasources.cachedir import cache_dir

VERSION = "3.7.3"
MAIN_CLASS = "org.apache.tinkerpop.gremlin.server.GremlinServer"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools" / "engines" / "gremlin"
CONF_YAML = TOOLS_DIR / "conf" / "gremlin-server.yaml"
# Start-up flags: C1 only and the serial collector shave about a second off a cold JVM, and a
# local graph of a few thousand elements never needs C2. No hsperfdata file: a killed JVM
# leaves nothing behind in /tmp.
JVM_FLAGS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+PerfDisableSharedMem",
)


class GremlinServerStartError(RuntimeError):
    """Gremlin Server is not installed or did not start."""


def gremlin_home() -> Path:
    """$CG_GREMLIN_HOME, else $CG_CACHE_DIR/engines/gremlin (as mk/gremlin.mk lays it out)."""
    if home := os.environ.get("CG_GREMLIN_HOME"):
        return Path(home)
    return cache_dir() / "engines" / "gremlin"


def missing_requirement(home: Path | None = None) -> str | None:
    """Why Gremlin Server cannot start here (no Java, no jars), or None when it can."""
    home = (home or gremlin_home()).expanduser()
    if shutil.which("java") is None:
        return "Java not found: `java` (JDK 11+) is not on PATH"
    if (
        not (home / "lib" / f"gremlin-server-{VERSION}.jar").is_file()
        or not (home / "classes").is_dir()
    ):
        return (
            f"Gremlin Server jars not found in {home}: run `make engines-gremlin` "
            "(or point CG_GREMLIN_HOME at a directory holding lib/ and classes/)"
        )
    if not CONF_YAML.is_file():
        return f"Gremlin Server configuration not found at {CONF_YAML}"
    return None


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (racy by nature; start the server right away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"127.0.0.1:{port} is not accepting connections") from exc
            time.sleep(0.05)


class GremlinServer:
    """One Gremlin Server process; `url` is `ws://127.0.0.1:PORT/gremlin`.

    `start()` returns once a real traversal (`g.inject(1)`) answers, and `startup_seconds`
    keeps how long that took. `stop()` ends the process (the port is kept for a restart);
    `close()` also removes its working directory.
    """

    def __init__(self, home: Path | None = None, *, port: int | None = None) -> None:
        self.home = (home or gremlin_home()).expanduser()
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}/gremlin"
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> str:
        if self.running:
            return self.url
        problem = missing_requirement(self.home)
        if problem is not None:
            raise GremlinServerStartError(problem)
        java = shutil.which("java")
        assert java is not None
        lib, classes = self.home / "lib", self.home / "classes"
        if self._workdir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="gremlin-server-")
        yaml = Path(self._workdir.name) / "gremlin-server.yaml"
        text = re.sub(r"(?m)^port: \d+$", f"port: {self.port}", CONF_YAML.read_text())
        yaml.write_text(text)
        cmd = [
            java, *JVM_FLAGS, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", f"{classes}{os.pathsep}{lib}/*", MAIN_CLASS, str(yaml),
        ]  # fmt: skip
        began = time.monotonic()
        with self._log_path.open("w") as log:  # the child keeps its own copy of the fd
            self._proc = subprocess.Popen(
                cmd, cwd=TOOLS_DIR, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,  # own group: signal the tree
            )  # fmt: skip
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self.url

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process (SIGTERM, or SIGKILL at once when `kill`); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            signals = ((signal.SIGKILL, 5.0),) if kill else ((signal.SIGTERM, 10.0),)
            for sig, wait in (*signals, (signal.SIGKILL, 5.0)):
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def close(self) -> None:
        # Killed, not stopped: a graceful stop spends Netty's 2 s quiet period, and an
        # in-memory graph has nothing to flush.
        self.stop(kill=True)
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def log_text(self) -> str:
        """The output of the last start (kept until `close()`)."""
        if self._workdir is None or not self._log_path.is_file():
            return ""
        return self._log_path.read_text(errors="replace")

    @property
    def _log_path(self) -> Path:
        assert self._workdir is not None
        return Path(self._workdir.name) / "gremlin-server.log"

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        last: BaseException | None = None
        try:
            _wait_for_port(self.port, max(deadline, time.monotonic() + 0.1))
        except TimeoutError as exc:
            last = exc
        while last is None and time.monotonic() < deadline and self._proc.poll() is None:
            try:
                # gremlinpython's sync API runs its own event loop: keep it off any caller's
                # thread, where an asyncio loop may be running (a restart from async code).
                with ThreadPoolExecutor(1, thread_name_prefix="gremlin-probe") as pool:
                    if pool.submit(_probe, self.url).result(timeout=10) == [1]:
                        return
            except Exception as exc:  # handshake refused while Netty binds, etc.
                last = exc
                time.sleep(0.1)
        code = self._proc.poll()
        state = f"exited with code {code}" if code is not None else "is not answering"
        raise GremlinServerStartError(
            f"Gremlin Server at {self.url} {state}; last error: {last!r}\n"
            f"--- log ---\n{self.log_text()}"
        )


def _probe(url: str) -> list[object]:
    from gremlin_python.driver.driver_remote_connection import DriverRemoteConnection
    from gremlin_python.process.anonymous_traversal import traversal

    from datasources.neptune.client import BoundedTransport

    conn = DriverRemoteConnection(
        url, "g", pool_size=1, transport_factory=lambda: BoundedTransport(handshake_timeout=5.0)
    )
    try:
        result: list[object] = traversal().with_remote(conn).inject(1).to_list()
        return result
    finally:
        conn.close()


@contextmanager
def local_gremlin_server(
    home: Path | None = None, *, port: int | None = None, timeout: float = 60.0
) -> Iterator[str]:
    """Start Gremlin Server (jars under `home`, default `gremlin_home()`) on `port` (default a
    free one); yield its websocket URL once a traversal answers; kill it on exit."""
    server = GremlinServer(home, port=port)
    try:
        yield server.start(timeout)
    finally:
        server.close()
