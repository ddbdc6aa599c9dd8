"""Run the official DynamoDB Local (a JVM) on a free port for the duration of a `with` block."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
from botocore.config import Config

from datasources.cachedir import cache_dir

from .ports import free_port
from .process import stop_process_group

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAIN_CLASS = "software.amazon.dynamodb.services.local.main.ServerRunner"
REGION = "us-east-1"
# Any alphanumeric key pair is accepted by DynamoDB Local.
ACCESS_KEY_ID = "local"
SECRET_ACCESS_KEY = "local"


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local is not installed or did not start."""


def ddb_local_lib() -> Path:
    """Jar directory: $CG_DDB_LOCAL_LIB, else $CG_CACHE_DIR/engines/ddb/lib (as mk/engines.mk)."""
    if lib := os.environ.get("CG_DDB_LOCAL_LIB"):
        return Path(lib)
    return cache_dir() / "engines" / "ddb" / "lib"


def dynamodb_client(endpoint: str) -> DynamoDBClient:
    """A boto3 client for a local endpoint (dummy credentials, no retries, short timeouts)."""
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
    )


@contextmanager
def start_dynamodb_local(lib_dir: Path | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Start DynamoDB Local in memory; yield its endpoint URL once ListTables answers."""
    lib = (lib_dir or ddb_local_lib()).expanduser()
    if not (lib / "DynamoDBLocal.jar").is_file():
        raise DynamoDBLocalError(
            f"DynamoDB Local jars not found in {lib}: run `make engines-ddb` "
            "(or point CG_DDB_LOCAL_LIB at a directory holding DynamoDBLocal.jar and its libs)"
        )
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError("`java` (JDK 17+) is not on PATH; DynamoDB Local needs it")

    port = free_port()
    cmd = [
        java, "-Xmx256m", f"-Djava.library.path={lib}", "-cp", f"{lib}/*", MAIN_CLASS,
        "-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(port),
    ]  # fmt: skip
    env = {**os.environ, "DDB_LOCAL_TELEMETRY": "0"}
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+", prefix="dynamodb-local-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # own process group, so we can signal the whole tree
        )  # fmt: skip
        try:
            _wait_ready(proc, endpoint, timeout, log)
            yield endpoint
        finally:
            stop_process_group(proc)


def _wait_ready(proc: subprocess.Popen[bytes], endpoint: str, timeout: float, log: IO[str]) -> None:
    client = dynamodb_client(endpoint)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                client.list_tables(Limit=1)
                return
            except Exception as exc:  # connection refused / reset while the JVM boots
                last = exc
                time.sleep(0.1)
    finally:
        client.close()
    log.seek(0)
    code = proc.poll()
    state = f"exited with code {code}" if code is not None else f"not ready after {timeout}s"
    raise DynamoDBLocalError(
        f"DynamoDB Local at {endpoint} {state}; last error: {last!r}\n--- log ---\n{log.read()}"
    )
