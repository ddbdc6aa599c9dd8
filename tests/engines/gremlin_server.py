"""Run Apache TinkerPop Gremlin Server (the local Neptune, a JVM) on a free port.

`start_gremlin_server()` is the `with`-block form; `GremlinServer` is the same thing with
`start()` / `stop()` that a fault test may call mid-test (a restart keeps the port, so clients
holding the URL reconnect to the new process). Jars and the compiled graph manager come from
`make engines-gremlin` (mk/gremlin.mk); the configuration from tools/engines/gremlin/conf.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

from .ports import free_port, wait_for_port

MAIN_CLASS = "org.apache.tinkerpop.gremlin.server.GremlinServer"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools" / "engines" / "gremlin"
CONF_YAML = TOOLS_DIR / "conf" / "gremlin-server.yaml"
# Start-up flags: C1 only and the serial collector shave about a second off a cold JVM, and a
# test graph of a few hundred elements never needs C2. No hsperfdata file: a killed JVM
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
    cache = os.environ.get("CG_CACHE_DIR") or str(Path.home() / ".cache" / "commerce-graph")
    return Path(cache) / "engines" / "gremlin"


class GremlinServer:
    """One Gremlin Server process; `url` is `ws://127.0.0.1:PORT/gremlin`.

    `start()` returns once a real traversal (`g.inject(1)`) answers, and `startup_seconds`
    keeps how long that took. `stop()` ends the process (the port is kept for a
    restart). Neither needs an event loop; from async code call them via `asyncio.to_thread`.
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
        lib, classes = self.home / "lib", self.home / "classes"
        if not (lib / "gremlin-server-3.7.3.jar").is_file() or not classes.is_dir():
            raise GremlinServerStartError(
                f"Gremlin Server jars not found in {self.home}: run `make engines-gremlin` "
                "(or point CG_GREMLIN_HOME at a directory holding lib/ and classes/)"
            )
        java = shutil.which("java")
        if java is None:
            raise GremlinServerStartError(
                "`java` (JDK 11+) is not on PATH: Gremlin Server needs it"
            )
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
            wait_for_port("127.0.0.1", self.port, max(deadline - time.monotonic(), 0.1))
        except TimeoutError as exc:
            last = exc
        while last is None and time.monotonic() < deadline and self._proc.poll() is None:
            try:
                # gremlinpython's sync API runs its own event loop: keep it off any caller's
                # thread, where an asyncio loop may be running (a restart from an async test).
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
def start_gremlin_server(home: Path | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Start Gremlin Server on a free port; yield its URL once a traversal answers."""
    server = GremlinServer(home)
    try:
        yield server.start(timeout)
    finally:
        server.close()
