"""Where the local engines and the Lambda package's wheels are cached.

$CG_CACHE_DIR, else ~/.cache/commerce-graph: the Makefile's `CG_CACHE_DIR ?=` (mk/*.mk) installs
there, and everything that looks for what it installed asks `cache_dir()`.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("CG_CACHE_DIR") or Path.home() / ".cache" / "commerce-graph")
