"""SAP CAP serving the ERP stand-in (tests/engines/erp_service) as OData v4, for tests.

    with start_odata_service(data) as service:    # data: datasources.erp.demo.ErpData
        service.stock_url      # http://127.0.0.1:PORT/odata/v4/stock
        service.pricing_url    # http://127.0.0.1:PORT/odata/v4/pricing

The project is copied into a temporary folder with the rows written as CSV seed data
(`db/data/erp-<Entity>.csv`) and `node_modules` linked from the cache `make engines-odata`
fills ($CG_CACHE_DIR/engines/erp-service/<lock hash>, or $CG_ERP_SERVICE_HOME). Then
`cds-serve all --in-memory` loads the CSVs into SQLite in memory; ready in about a second.
`page_size` sets CAP's server-driven page size (`cds.query.limit.max`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from datasources.cachedir import cache_dir
from datasources.erp.demo import COLUMNS, ErpData, Value

from .ports import free_port
from .process import stop_process_group

PROJECT = Path(__file__).resolve().parent / "erp_service"
NAMESPACE = "erp"


class ODataServiceError(RuntimeError):
    """The CAP service is not installed or did not start."""


@dataclass(frozen=True)
class ODataService:
    url: str
    log: Path

    @property
    def stock_url(self) -> str:
        return f"{self.url}/odata/v4/stock"

    @property
    def pricing_url(self) -> str:
        return f"{self.url}/odata/v4/pricing"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def erp_service_home() -> Path:
    """Where `make engines-odata` installed node_modules for the current lock file."""
    if home := os.environ.get("CG_ERP_SERVICE_HOME"):
        return Path(home)
    digest = hashlib.sha256((PROJECT / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_dir() / "engines" / "erp-service" / digest


@contextmanager
def start_odata_service(
    data: ErpData, *, page_size: int = 10_000, timeout: float = 30.0
) -> Iterator[ODataService]:
    modules = erp_service_home() / "node_modules"
    serve = modules / ".bin" / "cds-serve"
    if not serve.exists():
        raise ODataServiceError(f"{serve} not found: run `make engines-odata` (make test does)")
    if shutil.which("node") is None:
        raise ODataServiceError("node is not on PATH (Node.js 20+ is needed)")
    with tempfile.TemporaryDirectory(prefix="erp-service-") as workdir:
        root = Path(workdir)
        for name in ("package.json", "db", "srv"):
            source = PROJECT / name
            if source.is_dir():
                shutil.copytree(source, root / name)
            else:
                shutil.copy(source, root / name)
        (root / "node_modules").symlink_to(modules)
        write_csv(root / "db" / "data", data)
        port = free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "CDS_QUERY_LIMIT_MAX": str(page_size),
            "CDS_QUERY_LIMIT_DEFAULT": str(page_size),
            "NODE_ENV": "test",
        }
        log = root / "cds.log"
        with log.open("w") as out:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(
                [str(serve), "all", "--in-memory"], cwd=root, env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # own group: stop_process_group signals node's tree
            )  # fmt: skip
        service = ODataService(f"http://127.0.0.1:{port}", log)
        try:
            _wait_ready(proc, service, timeout)
            yield service
        finally:
            stop_process_group(proc, grace=5.0)


def write_csv(folder: Path, data: ErpData) -> None:
    """CAP's seed format: `<namespace>-<Entity>.csv`, `;`-separated, a header row."""
    folder.mkdir(parents=True, exist_ok=True)
    for sets in data.entity_sets().values():
        for entity, rows in sets.items():
            columns = COLUMNS[entity]
            lines = [";".join(columns)]
            lines += [";".join(_csv_value(row[c]) for c in columns) for row in rows]
            (folder / f"{NAMESPACE}-{entity}.csv").write_text("\n".join(lines) + "\n")


def _csv_value(value: Value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if any(c in value for c in ';"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _wait_ready(proc: subprocess.Popen[bytes], service: ODataService, timeout: float) -> None:
    """Until the stock service answers a real read (the CSVs are loaded by then)."""
    deadline = time.monotonic() + timeout
    probe = f"{service.stock_url}/MaterialStock?$top=1"
    last: Exception | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(probe, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    code = proc.poll()
    state = f"exited with code {code}" if code is not None else f"not ready after {timeout}s"
    text = ""
    with suppress(OSError):
        text = service.log.read_text(errors="replace")[-4000:]
    stop_process_group(proc, grace=5.0)
    raise ODataServiceError(f"CAP on {service.url} {state}; last error: {last!r}\n{text}")
