"""Results: the markdown table printed (and pasted into docs/performance.md) and the JSON."""

from __future__ import annotations

import json
import os
import platform
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.wrk import Load, Run

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
LABELS = {
    "commerce-graph": "commerce-graph",
    "graphql-core": "graphql-core baseline",
    "bare": "bare Starlette",
}
# botocore operation names, as DynamoDB spells them.
_API_NAMES = {
    "batch_get_item": "BatchGetItem",
    "get_item": "GetItem",
    "query": "Query",
    "put_item": "PutItem",
    "transact_write_items": "TransactWriteItems",
    "batch_write_item": "BatchWriteItem",
}


@dataclass(slots=True)
class OperationResult:
    name: str
    description: str
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    # Why the operation was not load-tested: it did not answer cleanly in process.
    broken: str | None = None
    skipped: bool = False  # not selected on the command line

    def ratio(self, kind: str) -> float | None:
        ours, other = self.runs.get("commerce-graph"), self.runs.get(kind)
        if ours is None or other is None or not other.rps:
            return None
        return ours.rps / other.rps


def describe_calls(calls: Counter[str]) -> str:
    """`6: 4 BatchGetItem + 2 Query`."""
    parts = " + ".join(f"{n} {_API_NAMES.get(op, op)}" for op, n in sorted(calls.items()))
    return f"{sum(calls.values())}: {parts}" if calls else "0"


def markdown(results: Sequence[OperationResult]) -> str:
    lines = [
        "| operation | server | req/s | p50 ms | p99 ms | commerce-graph ÷ this (req/s) "
        "| server CPU ms/req | DynamoDB Local CPU ms/req | DynamoDB calls/op "
        "| noise (cores) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for result in results:
        if result.skipped:
            continue
        if result.broken:
            lines.append(f"| {result.name} | BROKEN: {_cell(result.broken)} ||||||||")
        for n, (kind, run) in enumerate(result.runs.items()):
            ratio = result.ratio(kind)
            calls = result.calls.get(kind)
            cells = [
                result.name if n == 0 else "",
                LABELS[kind],
                f"{run.rps:,.1f}" if run.rps < 100 else f"{run.rps:,.0f}",
                f"{run.p50_ms:,.1f}",
                f"{run.p99_ms:,.1f}",
                _number(ratio, 2),
                _number(run.cpu_ms_per_request(run.server_cpu_s), 1),
                _number(run.cpu_ms_per_request(run.engine_cpu_s), 1) if kind != "bare" else "-",
                "-" if calls is None else describe_calls(calls),
                _number(run.noise, 2),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:,.{decimals}f}"


def _cell(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def progress_line(run: Run) -> str:
    cpu = "".join(
        f"  {who} {ms:5.1f} CPU-ms/req"
        for who, ms in (
            ("server", run.cpu_ms_per_request(run.server_cpu_s)),
            ("DynamoDB Local", run.cpu_ms_per_request(run.engine_cpu_s)),
        )
        if ms is not None
    )
    noise = "" if run.noise is None else f"  noise {run.noise:4.2f} cores"
    return f"{run.rps:8,.1f} req/s  p50 {run.p50_ms:7.1f} ms  p99 {run.p99_ms:7.1f} ms{cpu}{noise}"


NOISY_CORES = 0.2


def noisy(results: Sequence[OperationResult]) -> list[str]:
    """Rows measured while other jobs used the machine: their numbers are not comparable."""
    return [
        f"{r.name} on {LABELS[kind]}: other jobs and the hypervisor took {run.noise:.2f} cores"
        for r in results
        for kind, run in r.runs.items()
        if run.noise is not None and run.noise > NOISY_CORES
    ]


def problems(results: Sequence[OperationResult]) -> list[str]:
    found = [f"{r.name} is broken: {r.broken}" for r in results if r.broken]
    for result in results:
        for kind, run in result.runs.items():
            for what, n in (
                ("failed requests", run.failed),
                ("userErrors", run.user_errors),
                ("socket errors", run.socket_errors),
            ):
                if n:
                    found.append(f"{result.name} on {LABELS[kind]}: {n} {what}")
    return found


def write_json(
    results: Sequence[OperationResult],
    *,
    load: Load,
    extra: Mapping[str, Any],
    path: Path = RESULTS,
) -> Path:
    document = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load": asdict(load),
        **extra,
        "operations": [
            {
                "name": r.name,
                "description": r.description,
                "broken": r.broken,
                "dynamodb_calls": {k: dict(c) for k, c in r.calls.items()},
                "runs": {k: run.as_json() for k, run in r.runs.items()},
                "ratios": {k: r.ratio(k) for k in r.runs},
            }
            for r in results
            if not r.skipped
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
