"""Stopping the engine processes we start (each in its own process group)."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress


def stop_process_group(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the group, then SIGKILL after `grace` seconds.

    SIGTERM first: a JVM's shutdown hooks clean up (DynamoDB Local deletes the sqlite native it
    extracted to /tmp only then).
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
