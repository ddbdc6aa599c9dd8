"""Run a real PostgreSQL server (Debian's `postgresql` package) on a free port.

    server = PostgresServer().start()   # initdb on first start, then postgres on 127.0.0.1
    server.dsn                          # postgresql://postgres@127.0.0.1:PORT/loyalty
    server.stop(); server.start()       # fault tests: the same port and data come back
    server.close()                      # stop and delete the cluster

The binaries live in /usr/lib/postgresql/<major>/bin (off PATH; `make engines-postgres`
installs them). initdb and postgres refuse to run as root, so as root they run as the
package's `postgres` user in a temp dir that user owns; as anyone else, as that user.
Trust authentication, UTF8, nothing fsynced: a throwaway cluster.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from .ports import free_port
from .process import stop_process_group


class PostgresServerError(RuntimeError):
    """PostgreSQL is not installed or did not start."""


def postgres_bindir() -> Path:
    """The newest installed major version's bin directory."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda bindir: int(bindir.parent.name) if bindir.parent.name.isdigit() else 0,
    )
    if not found:
        raise PostgresServerError(
            "PostgreSQL is not installed: `make engines-postgres` (apt-get install postgresql)"
        )
    return found[-1]


class PostgresServer:
    def __init__(self, *, database: str = "loyalty", timeout: float = 30.0) -> None:
        self.database = database
        self.port = free_port()
        self._timeout = timeout
        self._bin = postgres_bindir()
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._as: dict[str, Any] = {}

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PostgresServer:
        first = self._root is None
        if first:
            self._init()
        assert self._root is not None
        data, sockets = self._root / "data", self._root / "run"
        self._log = open(self._root / "postgres.log", "ab")  # noqa: SIM115  # closed in stop()
        cmd = [
            str(self._bin / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(sockets),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200",
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, **self._as,
        )  # fmt: skip
        self._wait_ready()
        if first:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                      self.database)  # fmt: skip
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT): sessions are terminated, as in an RDS failover or reboot."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=self._timeout)
            stop_process_group(proc, grace=5.0)
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        self.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its DSN."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.dsn_for(name)

    def log(self) -> str:
        if self._root is None:
            return ""
        with suppress(OSError):
            return (self._root / "postgres.log").read_text(errors="replace")
        return ""

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------

    def _init(self) -> None:
        root = Path(tempfile.mkdtemp(prefix="postgres-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresServerError("no `postgres` user to run PostgreSQL as") from None
            self._as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
            os.chown(root, user.pw_uid, user.pw_gid)
        self._root = root
        (root / "run").mkdir()
        if self._as:
            os.chown(root / "run", self._as["user"], self._as["group"])
        self._run(
            "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions", as_owner=True,
        )  # fmt: skip

    def _run(self, tool: str, *args: str, as_owner: bool = False) -> None:
        extra = self._as if as_owner else {}
        done = subprocess.run(
            [str(self._bin / tool), *args], capture_output=True, timeout=self._timeout,
            cwd=self._root, check=False, **extra,
        )  # fmt: skip
        if done.returncode != 0:
            raise PostgresServerError(
                f"{tool} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._timeout
        isready = [str(self._bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                break
            if subprocess.run(isready, check=False, timeout=self._timeout).returncode == 0:
                return
            time.sleep(0.05)
        code = self._proc.poll() if self._proc else None
        self.stop()
        state = f"exited with code {code}" if code is not None else "is not ready"
        raise PostgresServerError(f"postgres on port {self.port} {state}:\n{self.log()}")
