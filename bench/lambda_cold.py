"""Lambda: the handler's cold import from its deployment package, and its warm overhead.

    python -m bench.lambda_cold [--package ZIP] [--before ZIP] [--imports 20]
                                [--first-invocations 10] [--iterations 300] [--warmup 100]
                                [--python PATH ...] [--no-instructions]

Cold import. The deployment package (appsync/deploy/package.py, this machine's architecture;
or --package) is extracted as Lambda extracts it to /var/task. Every sample is a fresh
interpreter, `python -I -S -B -X importtime -c "..."`, run in that directory with only it on
sys.path: no site-packages, and no bytecode written (/var/task is read-only). Interleaved N
times: `pass`, `import strawberry`, `import orjson, strawberry` (what the handler's
module needs before any code of ours), `import appsync.lambda_handler`, the same without the
.pyc files, and from the --before zip if given. Reported: each process's wall time and
-X importtime's cumulative time of what it imports (median, p90), ratios to the baselines, and
the packages that cost most in the median handler import. The floor and the handler are also
imported by other builds of the same CPython (--python; by default Debian's /usr/bin/python3.11,
a PGO + LTO build, beside the venv's), and counted in instructions by valgrind's callgrind (the
floor, the handler, the --before handler; one run each: the count repeats to the instruction,
so it shows a change the wall clock's noise hides). Then N first invocations per zip: a
fresh interpreter (-X importtime as well) imports the handler and answers one Query.product
against DynamoDB Local, timing both, and the imports made during that first call (opening the
sources loads the SDKs they need).

Warm overhead. DynamoDB Local holds a demo set; the handler is configured from CG_* variables,
as on Lambda (rate limit lifted: the bench is one caller). After a warm-up, alternately:
`handler(event)`, and the same operation (the document the handler builds from the event)
executed by `schema.execute` on the handler's own schema, sources and event loop, with a
context built beforehand: the resolvers' own cost. Events: Query.product with the product
page's selection (bench/operations.py), and a BatchInvoke of 10 of them (directly: the 10
executions gathered on one context, as the handler runs them). Overhead = handler - direct.
Also timed alone, per event: rebuilding the operation from the event (cached per shape after
the first), and parsing + validating its document uncached (what the schema's ParserCache and
ValidationCache save both paths on a repeated document).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, parse, print_ast

from appsync.deploy.package import build
from bench.dataset import seed
from bench.machine import busy_fraction, load_average
from bench.operations import PRODUCT_PAGE
from bench.serve import bench_settings
from tests.engines.dynamodb_local import start_dynamodb_local

RESULTS = Path(__file__).resolve().parent / "results" / "lambda-latest.json"
TABLE_PREFIX = "cg-bench-lambda-"
HANDLER = "appsync.lambda_handler"
# What the handler module needs before any code of ours (strawberry brings graphql and asyncio).
FLOOR_MODULES = ("orjson", "strawberry")
FLOOR = f"import {', '.join(FLOOR_MODULES)}"
# Debian's CPython (a PGO + LTO build, its interpreter linked statically), beside the venv's.
DISTRIBUTION_PYTHONS = ("/usr/bin/python3.11",)


def root_selection(document: str) -> str:
    """The selection set of a one-field operation's root field, as AppSync hands it to the
    resolver (`info.selectionSetGraphQL`)."""
    (operation,) = parse(document).definitions
    assert isinstance(operation, OperationDefinitionNode)
    (field,) = operation.selection_set.selections
    assert isinstance(field, FieldNode)
    assert field.selection_set is not None
    return print_ast(field.selection_set)


PRODUCT_SELECTION = root_selection(PRODUCT_PAGE)
# Run in a fresh interpreter: import the handler, answer one event, time both.
FIRST_INVOCATION = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
started = time.perf_counter()
import appsync.lambda_handler as module
imported = time.perf_counter()
before = {name.split(".")[0] for name in sys.modules}
module.handler(json.loads(sys.argv[2]), None)
done = time.perf_counter()
# The distributions it loads: top-level packages from the package directory, new since.
loaded = sorted(
    {name.split(".")[0] for name, m in sys.modules.items()
     if (getattr(m, "__file__", None) or "").startswith(sys.argv[1])} - before
)
print(json.dumps(
    {"import": (imported - started) * 1e3, "first": (done - imported) * 1e3, "loaded": loaded}
))
"""


@dataclass(frozen=True, slots=True)
class Stats:
    median: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        return cls(statistics.median(values), _p90(values))


def _p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def product_event(product_id: str) -> dict[str, Any]:
    """Query.product as AppSync sends it to a Direct Lambda resolver, from an API key caller."""
    return {
        "arguments": {"id": product_id},
        "identity": None,
        "source": None,
        "request": {"headers": {"x-forwarded-for": "1.1.1.1"}, "domainName": None},
        "prev": None,
        "info": {
            "selectionSetList": [],
            "selectionSetGraphQL": PRODUCT_SELECTION,
            "parentTypeName": "Query",
            "fieldName": "product",
            "variables": {},
        },
        "stash": {},
    }


# --- cold import -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    wall_ms: float
    import_ms: float | None  # -X importtime's cumulative time of the imported module
    importtime: str


def extract(package: Path, into: Path, *, bytecode: bool) -> Path:
    with zipfile.ZipFile(package) as archive:
        names = [n for n in archive.namelist() if bytecode or not n.endswith(".pyc")]
        archive.extractall(into, members=names)
    return into


def clean_python(*args: str, python: str = sys.executable) -> list[str]:
    """A fresh interpreter as the runtime's: no site-packages, no bytecode written."""
    return [python, "-I", "-S", "-B", *args]


def _import_code(task: Path, modules: Sequence[str]) -> str:
    statement = f"import {', '.join(modules)}" if modules else "pass"
    return f"import sys; sys.path.insert(0, {str(task)!r}); {statement}"


def sample(task: Path, modules: Sequence[str], python: str = sys.executable) -> Sample:
    code = _import_code(task, modules)
    started = time.perf_counter()
    done = subprocess.run(
        clean_python("-X", "importtime", "-c", code, python=python),
        capture_output=True,
        text=True,
        cwd=task,
        check=True,
    )
    wall = (time.perf_counter() - started) * 1e3
    imported = sum(_cumulative(done.stderr, m) for m in modules) if modules else None
    return Sample(wall, imported, done.stderr)


def _rows(importtime: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) per line of -X importtime's output."""
    rows = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(own), int(cumulative), depth, name.strip()))
    return rows


def _cumulative(importtime: str, module: str) -> float:
    for _, cumulative, depth, name in _rows(importtime):
        if depth == 0 and name == module:
            return cumulative / 1e3
    raise ValueError(f"{module} is not in the -X importtime output")


def _imported_after(importtime: str, module: str) -> float:
    """Milliseconds of imports that started after `module`'s (at run time, from functions)."""
    rows = _rows(importtime)
    end = next(i for i, r in enumerate(rows) if r[2] == 0 and r[3] == module)
    return sum(cumulative for _, cumulative, depth, _ in rows[end + 1 :] if depth == 0) / 1e3


def offenders(importtime: str, module: str, top: int = 12) -> list[tuple[str, float]]:
    """Self time per top-level package within `module`'s import (children precede parents)."""
    rows = _rows(importtime)
    end = next(i for i, r in enumerate(rows) if r[2] == 0 and r[3] == module)
    start = max((i for i in range(end) if rows[i][2] == 0), default=-1) + 1
    per_package: Counter[str] = Counter()
    for own, _, _, name in rows[start : end + 1]:
        per_package[name.split(".")[0]] += own
    return [(name, us / 1e3) for name, us in per_package.most_common(top)]


def other_interpreters(candidates: Sequence[str]) -> dict[str, str]:
    """{label: path} of the `candidates` that run this CPython's bytecode (same major.minor,
    so the package's .pyc files load) and are not this interpreter."""
    found = {}
    mine = os.path.realpath(sys.executable)
    for path in candidates:
        if not os.path.exists(path) or os.path.realpath(path) == mine:
            continue
        version = subprocess.run(
            [path, "-I", "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if version.rsplit(".", 1)[0] == platform.python_version().rsplit(".", 1)[0]:
            found[f"{path} {version}"] = path
    return found


def cold_imports(
    task: Path,
    sources_only: Path,
    runs: int,
    before: Path | None = None,
    others: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    kinds: dict[str, tuple[Path, tuple[str, ...], str]] = {
        "python -c pass": (task, (), sys.executable),
        "import strawberry": (task, ("strawberry",), sys.executable),
        FLOOR: (task, FLOOR_MODULES, sys.executable),
        f"import {HANDLER}": (task, (HANDLER,), sys.executable),
        f"import {HANDLER} (no .pyc)": (sources_only, (HANDLER,), sys.executable),
    }
    if before is not None:
        kinds[f"import {HANDLER} (--before package)"] = (before, (HANDLER,), sys.executable)
    # The same package under another build of the same CPython (e.g. a distribution's, built
    # with PGO and LTO): how much of the figure is the interpreter's build.
    for label, python in (others or {}).items():
        kinds[f"{FLOOR} [{label}]"] = (task, FLOOR_MODULES, python)
        kinds[f"import {HANDLER} [{label}]"] = (task, (HANDLER,), python)
    samples: dict[str, list[Sample]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind, (tree, module, python) in kinds.items():
            samples[kind].append(sample(tree, module, python))
    handler = samples[f"import {HANDLER}"]
    median_run = sorted(handler, key=lambda s: s.import_ms or 0.0)[len(handler) // 2]
    table = {}
    for kind, taken in samples.items():
        imports = [s.import_ms for s in taken if s.import_ms is not None]
        table[kind] = {
            "wall": Stats.of([s.wall_ms for s in taken]),
            "import": Stats.of(imports) if imports else None,
        }
    return {"table": table, "offenders": offenders(median_run.importtime, HANDLER)}


def instructions(trees: Mapping[str, tuple[Path, Sequence[str]]]) -> dict[str, int] | None:
    """Instructions each import executes (millions), counted by valgrind's callgrind: the same
    count for the same bytecode and interpreter whatever else the machine runs, so a change
    shows even when wall time is noise. None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counted = {}
    for kind, (tree, modules) in trees.items():
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                *clean_python("-c", _import_code(tree, modules)),
            ],
            capture_output=True,
            text=True,
            cwd=tree,
            check=True,
        )
        collected = re.search(r"Collected : (\d+)", done.stderr)
        if collected is None:
            raise RuntimeError(f"callgrind printed no count:\n{done.stderr[-2000:]}")
        counted[kind] = int(collected.group(1)) // 1_000_000
    return counted


def first_invocations(
    trees: dict[str, Path], event: dict[str, Any], env: dict[str, str], runs: int
) -> dict[str, Any]:
    """Per tree: import, then the first handler call, in fresh interpreters (interleaved)."""
    timed: dict[str, dict[str, list[float]]] = {
        kind: {"import": [], "first": [], "first's imports": [], "total": []} for kind in trees
    }
    loaded: dict[str, list[str]] = {}
    for _ in range(runs):
        for kind, task in trees.items():
            done = subprocess.run(
                clean_python(
                    "-X", "importtime", "-c", FIRST_INVOCATION, str(task), json.dumps(event)
                ),
                capture_output=True,
                text=True,
                cwd=task,
                env={"PATH": os.environ.get("PATH", ""), **env},
                check=True,
            )
            answer = json.loads(done.stdout)
            timed[kind]["import"].append(answer["import"])
            timed[kind]["first"].append(answer["first"])
            timed[kind]["first's imports"].append(_imported_after(done.stderr, HANDLER))
            timed[kind]["total"].append(answer["import"] + answer["first"])
            loaded[kind] = answer["loaded"]
    return {
        kind: {"loaded": loaded[kind]} | {k: Stats.of(v) for k, v in values.items()}
        for kind, values in timed.items()
    }


# --- warm overhead ---------------------------------------------------------------------


def warm_overhead(product_ids: Sequence[str], *, iterations: int, warmup: int) -> dict[str, Any]:
    """handler(event) against schema.execute of the same operation, alternately."""
    # Imported here: the environment configures the handler's sources on first use.
    import appsync.lambda_handler as module
    from appsync.auth.actor import actor_of
    from appsync.lambda_handler import caller_from_event, operation_from_event
    from resolvers.context import build_context

    single = product_event(product_ids[0])
    module.handler(single, None)  # the container's first invocation: resolver, loop, sources
    resolver, loop = module._resolver, module._loop
    assert resolver is not None
    assert loop is not None
    sources = loop.run_until_complete(resolver.sources())
    schema = resolver.schema

    def direct(events: Sequence[dict[str, Any]]) -> Callable[[], tuple[float, Any]]:
        operations = [operation_from_event(schema, e) for e in events]
        caller = caller_from_event(events[0])

        async def run(context: Any) -> list[Any]:
            return await asyncio.gather(
                *(
                    schema.execute(op.document, variable_values=op.variables, context_value=context)
                    for op in operations
                )
            )

        def timed() -> tuple[float, Any]:
            context = build_context(
                resolver.settings,
                sources,
                headers=caller.headers,
                caller=caller,
                actor=actor_of(caller),
            )
            started = time.perf_counter()
            results = loop.run_until_complete(run(context))
            elapsed = (time.perf_counter() - started) * 1e3
            assert not any(r.errors for r in results), [r.errors for r in results]
            return elapsed, [
                r.data[op.field_name] for r, op in zip(results, operations, strict=True)
            ]

        return timed

    def through_handler(payload: Any) -> Callable[[], tuple[float, Any]]:
        def timed() -> tuple[float, Any]:
            started = time.perf_counter()
            answer = module.handler(payload, None)
            return (time.perf_counter() - started) * 1e3, answer

        return timed

    batch = [product_event(i) for i in product_ids[:10]]
    cases = {
        "Query.product": (through_handler(single), direct([single])),
        "BatchInvoke of 10 Query.product": (through_handler(batch), direct(batch)),
    }
    # Both paths must do the same work: the same answers, field for field.
    (_, one), (_, ones) = through_handler(single)(), direct([single])()
    (_, many), (_, manys) = through_handler(batch)(), direct(batch)()
    assert [one] == ones, "the handler and schema.execute answer differently"
    assert [item["data"] for item in many] == manys, "the batch answers differently"
    results: dict[str, Any] = {"pieces": _pieces(schema, single, iterations)}
    for name, (handler_path, direct_path) in cases.items():
        for _ in range(warmup):
            handler_path(), direct_path()
        handler_ms: list[float] = []
        direct_ms: list[float] = []
        for i in range(iterations):
            # Alternate which goes first: neither path always runs on a cooler cache.
            if i % 2:
                handler_ms.append(handler_path()[0])
                direct_ms.append(direct_path()[0])
            else:
                direct_ms.append(direct_path()[0])
                handler_ms.append(handler_path()[0])
        overhead = [h - d for h, d in zip(handler_ms, direct_ms, strict=True)]
        results[name] = {
            "handler": Stats.of(handler_ms),
            "direct": Stats.of(direct_ms),
            "overhead": Stats.of(overhead),
        }
    loop.run_until_complete(resolver.aclose())
    return results


def _pieces(schema: Any, event: dict[str, Any], runs: int) -> dict[str, Stats]:
    """Per event, in µs: rebuilding the operation from it (the handler alone does that), and
    parsing + validating the rebuilt document (both paths do, on every event: neither schema
    caches it)."""
    from graphql import parse, validate

    from appsync.lambda_handler import operation_from_event

    document = operation_from_event(schema, event).document
    timings: dict[str, list[float]] = {"rebuild the operation": [], "parse + validate": []}
    for _ in range(runs):
        started = time.perf_counter()
        operation_from_event(schema, event)
        rebuilt = time.perf_counter()
        validate(schema._schema, parse(document))
        done = time.perf_counter()
        timings["rebuild the operation"].append((rebuilt - started) * 1e6)
        timings["parse + validate"].append((done - rebuilt) * 1e6)
    return {name: Stats.of(values) for name, values in timings.items()}


# --- the run ---------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def report(
    cold: dict[str, Any], counted: dict[str, int] | None, first: Any, warm: dict[str, Any]
) -> str:
    table = cold["table"]
    handler = table[f"import {HANDLER}"]
    lines = [
        "| cold, fresh interpreter | process wall p50 ms | p90 ms "
        "| -X importtime cumulative p50 ms | p90 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, row in table.items():
        imp = row["import"]
        cells = [_ms(row["wall"].median), _ms(row["wall"].p90)]
        cells += [_ms(imp.median), _ms(imp.p90)] if imp else ["", ""]
        lines.append(f"| `{kind}` | {' | '.join(cells)} |")
    pass_wall = table["python -c pass"]["wall"].median
    strawberry = table["import strawberry"]["import"].median
    floor = table[FLOOR]["import"].median
    no_pyc = table[f"import {HANDLER} (no .pyc)"]["import"].median
    lines += [
        "",
        f"handler import / `import strawberry`: x{handler['import'].median / strawberry:.2f}; "
        f"/ `{FLOOR}`: x{handler['import'].median / floor:.2f}; "
        f"handler process / `python -c pass` process: x{handler['wall'].median / pass_wall:.1f}; "
        f"without .pyc: x{no_pyc / handler['import'].median:.2f} the handler import",
        "",
        "Top packages in the median handler import (self time, ms): "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in cold["offenders"]),
        "",
    ]
    if counted:
        floor_count = counted[FLOOR]
        lines += [
            "Instructions (callgrind, millions; one run each, repeatable): "
            + "; ".join(
                f"`{kind}` {n:,} (x{n / floor_count:.2f} the floor)" for kind, n in counted.items()
            ),
            "",
        ]
    lines += [
        "| fresh interpreter, first Query.product (DynamoDB Local) | import p50 ms | p90 ms "
        "| first handler call p50 ms | p90 ms | its imports p50 ms | p90 ms "
        "| both p50 ms | p90 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in first.items():
        stats = [row[k] for k in ("import", "first", "first's imports", "total")]
        cells = [_ms(v) for stat in stats for v in (stat.median, stat.p90)]
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    lines += [
        "",
        "Packages of the zip the first call loads: " + ", ".join(first["package"]["loaded"]),
        "",
        "| warm event | handler p50 ms | p90 ms | schema.execute p50 ms | p90 ms "
        "| overhead p50 ms | p90 ms | handler / execute |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in warm.items():
        if name == "pieces":
            continue
        h, d, o = row["handler"], row["direct"], row["overhead"]
        lines.append(
            f"| {name} | {_ms(h.median)} | {_ms(h.p90)} | {_ms(d.median)} | {_ms(d.p90)} "
            f"| {_ms(o.median)} | {_ms(o.p90)} | x{h.median / d.median:.2f} |"
        )
    pieces = warm["pieces"]
    lines += [
        "",
        "Per Query.product event (µs, p50 / p90): "
        + "; ".join(f"{k} {v.median:,.0f} / {v.p90:,.0f}" for k, v in pieces.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lambda_cold", description=__doc__)
    parser.add_argument("--package", type=Path, help="a built zip (default: build one now)")
    parser.add_argument("--imports", type=int, default=20, help="cold samples per command")
    parser.add_argument("--first-invocations", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=300, help="warm samples per event")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--products", type=int, default=500, help="demo set size")
    parser.add_argument(
        "--before", type=Path, help="another build's zip, imported alongside (e.g. before a change)"
    )
    parser.add_argument(
        "--python",
        action="append",
        default=None,
        help="another build of this CPython to import the package with (repeatable; default: "
        f"{', '.join(DISTRIBUTION_PYTHONS)} where present)",
    )
    parser.add_argument(
        "--no-instructions", action="store_true", help="skip the callgrind instruction counts"
    )
    args = parser.parse_args(argv)

    busy = busy_fraction()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    busy_text = "?" if busy is None else f"{busy * 100:.0f}"
    print(f"machine: {machine}; {busy_text} % busy before the run, load {load_average()}")
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    with tempfile.TemporaryDirectory(prefix="cg-bench-lambda-") as scratch:
        package = args.package or build(Path(scratch) / "package.zip", arch=arch).path
        task = extract(package, Path(scratch) / "task", bytecode=True)
        sources_only = extract(package, Path(scratch) / "task-src", bytecode=False)
        others = other_interpreters(args.python or DISTRIBUTION_PYTHONS)
        print(f"cold imports: {args.imports} rounds; other interpreters: {others}", flush=True)
        before = args.before and extract(args.before, Path(scratch) / "before", bytecode=True)
        cold = cold_imports(task, sources_only, args.imports, before, others)
        counted = None
        if not args.no_instructions:
            print("instructions (callgrind) ...", flush=True)
            counted = instructions(
                {FLOOR: (task, FLOOR_MODULES), f"import {HANDLER}": (task, (HANDLER,))}
                | ({f"import {HANDLER} (--before package)": (before, (HANDLER,))} if before else {})
            )
        with start_dynamodb_local() as endpoint:
            settings = bench_settings(endpoint, TABLE_PREFIX).replace(
                seed_products=args.products, seed_customers=20, seed_orders=0
            )
            env = {
                # DynamoDB Local takes any credentials; botocore wants some.
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_REGION": settings.aws_region,
                "CG_DYNAMODB_ENDPOINT": endpoint,
                "CG_TABLE_PREFIX": TABLE_PREFIX,
                "CG_RATE_LIMIT_PER_SECOND": "1e9",
                "CG_RATE_LIMIT_BURST": str(10**9),
            }
            os.environ.update(env)
            seeded = asyncio.run(seed(settings))
            ids = [p.id for p in seeded.data.products]
            print(f"first invocations: {args.first_invocations} ...", flush=True)
            trees = {"package": task} | ({"--before package": before} if before else {})
            first = first_invocations(trees, product_event(ids[0]), env, args.first_invocations)
            print(f"warm: {args.warmup} + {args.iterations} per path and event ...", flush=True)
            warm = warm_overhead(ids[1:], iterations=args.iterations, warmup=args.warmup)
    text = report(cold, counted, first, warm)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine,
                "busy_before": busy,
                "cold": cold,
                "instructions": counted,
                "first": first,
                "warm": warm,
            },
            default=lambda o: {"median": o.median, "p90": o.p90} if isinstance(o, Stats) else o,
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
