"""The Lambda deployment zip (appsync/deploy/package.py, `make lambda-package`), built once for
this module from PyPI's wheels, then opened as Lambda opens it: extracted, and imported by a
clean interpreter (`python -I -S -B`) with only the package directory on its path."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from appsync.deploy.package import ZIP_EPOCH, Built, build, normalise
from appsync.lambda_handler import LambdaResolver
from datasources.build import ConnectorSettings, open_dynamo
from datasources.demo.generate import DemoData, generate_demo
from datasources.demo.load import load_demo
from datasources.dynamodb.tables import create_tables
from datasources.neptune.settings import NeptuneSettings
from datasources.settings import Settings
from test_lambda_handler import event, product_event

ROOT = Path(__file__).resolve().parents[1]
ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
WHEEL_MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}[ARCH]
PROJECT_PACKAGES = ("appsync", "datasources", "resolvers", "schema")
TABLE_PREFIX = "cg-lambda-pkg-"

# What importing the handler must not load (docs/performance.md): the connectors' SDKs, the
# HTTP server's stack, and what only the edge's own authentication uses.
LAZY_PACKAGES = frozenset(
    {
        "aiobotocore",
        "aiohttp",
        "asyncpg",
        "boto3",
        "botocore",
        "cryptography",
        "gremlin_python",
        "joserfc",
        "moto",
        "phonenumbers",
        "prometheus_client",
        # Settings are datasources.envsettings: pydantic would add ~120 ms to a cold start.
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "redis",
        "requests",
        "starlette",
        "stripe",
        "uvicorn",
        "websockets",
    }
)
LAZY_MODULES = frozenset(
    {
        "appsync.auth.authenticator",
        "appsync.auth.settings",
        # AppSync caches in front of the Lambda: only the caching settings are read.
        "appsync.cache",
        "datasources.dynamodb.client",
        "datasources.erp.build",
        "datasources.erp.loyalty",
        "datasources.erp.loyalty_build",
        "datasources.neptune.client",
        "datasources.saas.build",
        "datasources.saas.stripe",
    }
)
# Opened with default connector settings (no Neptune, ERP or loyalty database, the payments
# sandbox), the sources still need none of these.
UNSELECTED_PACKAGES = frozenset(
    {"asyncpg", "joserfc", "moto", "prometheus_client", "redis", "starlette", "stripe", "uvicorn"}
)

pytestmark = pytest.mark.engine

# Run by the clean interpreter: import the handler, answer the events read from stdin, report.
CHILD = """
import json, sys, sysconfig
task = sys.argv[1]
sys.path.insert(0, task)
before = set(sys.modules)
import appsync.lambda_handler as module
imported = sorted(set(sys.modules) - before)
answers = []
for event in json.loads(sys.stdin.read() or "[]"):
    try:
        answers.append({"value": module.handler(event, None)})
    except Exception as exc:
        answers.append({"errorType": type(exc).__name__, "errorMessage": str(exc)})
allowed = (task, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith(allowed)
)
print(json.dumps(
    {"imported": imported, "loaded": sorted(sys.modules), "answers": answers, "outside": outside},
    default=str,
))
"""


@dataclass(frozen=True)
class Package:
    built: Built
    task: Path  # the zip extracted, as /var/task
    archive: zipfile.ZipFile

    @property
    def names(self) -> list[str]:
        return self.archive.namelist()

    def dists(self) -> dict[str, str]:
        """Normalised distribution name -> its .dist-info directory."""
        found = {}
        for name in self.names:
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info") and name == f"{top}/METADATA":
                meta = self.archive.read(name).decode()
                dist = re.search(r"^Name: (.+)$", meta, re.MULTILINE)
                assert dist is not None, name
                found[normalise(dist.group(1).strip())] = top
        return found


@dataclass(frozen=True)
class Child:
    imported: list[str]
    loaded: list[str]
    answers: list[dict[str, Any]]
    outside: list[str]


def run_handler(task: Path, events: list[Any], env: dict[str, str] | None = None) -> Child:
    """A clean interpreter, as the Lambda runtime's: no site-packages, no bytecode written
    (/var/task is read-only), only the package on sys.path, run from the package directory."""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", CHILD, str(task)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=task,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Child(**json.loads(done.stdout))


def dependency_names(*groups: str) -> set[str]:
    """Normalised names of pyproject's runtime dependencies (no group) or of its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = (
        [s for g in groups for s in project["optional-dependencies"][g]]
        if groups
        else project["dependencies"]
    )
    names = set()
    for spec in specs:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
        assert match is not None, spec
        names.add(normalise(match.group(0)))
    return names


def glibc(platform_tag: str) -> tuple[int, int]:
    """The glibc a manylinux platform tag asks for (PEP 600, and the legacy aliases)."""
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    for alias, version in legacy.items():
        if platform_tag.startswith(f"{alias}_"):
            return version
    match = re.match(r"manylinux_(\d+)_(\d+)_", platform_tag)
    assert match is not None, platform_tag
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Package]:
    out = tmp_path_factory.mktemp("lambda") / "commerce-graph-lambda.zip"
    built = build(out, arch=ARCH)
    task = out.parent / "task"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(task)
        yield Package(built, task, archive)


def test_no_dev_dependency_is_packaged(package: Package) -> None:
    # given
    dev_only = dependency_names("dev", "embedded") - dependency_names()
    # when
    dists = set(package.dists())
    # then
    assert dev_only >= {"pytest", "moto", "mypy", "ruff", "cfn-lint", "gql"}
    assert dists & dev_only == set()
    assert dependency_names() <= dists


def test_every_extension_comes_from_a_manylinux_wheel(package: Package) -> None:
    # given: each dist-info's RECORD says which files it installed
    owner: dict[str, str] = {}
    for dist, info in package.dists().items():
        for row in package.archive.read(f"{info}/RECORD").decode().splitlines():
            owner[row.split(",", 1)[0]] = dist
    tags = {
        dist: re.findall(r"^Tag: (.+)$", package.archive.read(f"{info}/WHEEL").decode(), re.M)
        for dist, info in package.dists().items()
    }
    extensions = [n for n in package.names if n.endswith(".so") or ".so." in n]
    # then
    assert len(extensions) > 10  # pydantic-core, orjson, aiohttp, asyncpg, ...
    for name in extensions:
        wheel = owner.get(name)
        assert wheel is not None, f"{name} belongs to no installed wheel"
        for tag in tags[wheel]:
            python, abi, platform_tag = tag.split("-")
            assert platform_tag.startswith("manylinux"), (name, tag)
            assert platform_tag.endswith(WHEEL_MACHINE), (name, tag)
            assert python == "cp311" or abi == "abi3", (name, tag)
        # manylinux2014 (glibc 2.17) at most: the python3.11 runtime has glibc 2.26.
        assert min(glibc(t.split("-")[2]) for t in tags[wheel]) <= (2, 17), (name, tags[wheel])
    for dist, dist_tags in tags.items():
        assert dist_tags, f"{dist} was not installed from a wheel"
        if not any(owner.get(n) == dist for n in extensions):
            assert all(t.endswith("-none-any") for t in dist_tags), (dist, dist_tags)


def test_the_project_ships_its_packages_and_migrations_only(package: Package) -> None:
    # given
    migrations = sorted(ROOT.glob("datasources/erp/migrations/**/*.sql"))
    owned = {
        row.split(",", 1)[0].split("/", 1)[0]
        for info in package.dists().values()
        for row in package.archive.read(f"{info}/RECORD").decode().splitlines()
    }
    # when
    tops = {name.split("/", 1)[0] for name in package.names}
    # then: every top-level entry is a project package or an installed distribution's (the
    # top-level __pycache__ holds the bytecode of single-module distributions such as six.py)
    assert tops - owned - {"__pycache__"} == set(PROJECT_PACKAGES)
    assert not {"tests", "bench", "docs", "tools", "bin", "server.py"} & tops
    assert migrations
    for sql in migrations:
        name = sql.relative_to(ROOT).as_posix()
        assert package.archive.read(name) == sql.read_bytes(), name
    for top in PROJECT_PACKAGES:
        for source in ROOT.joinpath(top).rglob("*.py"):
            name = source.relative_to(ROOT).as_posix()
            assert name in package.names, name


def test_every_module_ships_bytecode_that_never_checks_its_source(package: Package) -> None:
    # given
    names = set(package.names)
    pycs = sorted(n for n in names if n.endswith(".pyc"))
    modules = sorted(n for n in names if n.endswith(".py"))
    # then: unchecked-hash .pyc (PEP 552 flags 0b01), each beside its module
    for name in pycs:
        flags = int.from_bytes(package.archive.read(name)[4:8], "little")
        assert flags == 0b01, name
        assert re.sub(r"__pycache__/(\w+)\.cpython-311\.pyc$", r"\1.py", name) in names, name
    without = [n for n in modules if importlib.util.cache_from_source(n) not in names]
    assert len(without) < len(modules) / 100
    for name in without:  # Python 2 leftovers some wheels carry (nothing imports them on 3.x)
        with pytest.raises(SyntaxError):
            compile(package.archive.read(name), name, "exec")


def test_the_zip_is_reproducible(package: Package, tmp_path: Path) -> None:
    # given: sorted entries, one timestamp
    infos = package.archive.infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {ZIP_EPOCH}
    # when
    again = build(tmp_path / "again.zip", arch=ARCH)
    # then
    assert again.sha256 == package.built.sha256


def test_the_handler_imports_without_the_lazy_modules(package: Package) -> None:
    # when
    child = run_handler(package.task, [])
    # then
    assert child.outside == []  # nothing from the building environment
    assert "appsync.lambda_handler" in child.imported
    assert {m for m in child.imported if m.split(".")[0] in LAZY_PACKAGES} == set()
    assert LAZY_MODULES & set(child.imported) == set()


def test_schema_modules_give_strawberry_evaluated_annotations() -> None:
    # Strawberry parses, unparses and evaluates every string annotation of a type it decorates:
    # postponed annotations in schema/ cost ~6 % of the handler's cold import
    # (docs/performance.md). Forward references are quoted one by one instead.
    # given
    modules = sorted((ROOT / "schema").rglob("*.py"))
    # when
    postponed = [
        m.relative_to(ROOT).as_posix()
        for m in modules
        if re.search(r"^from __future__ import annotations$", m.read_text(), re.MULTILINE)
    ]
    # then
    assert len(modules) > 30
    assert postponed == []


@pytest.fixture(scope="module")
async def seeded(engine_endpoints: dict[str, str]) -> tuple[Settings, DemoData]:
    """A small demo set in DynamoDB Local, under tables of this module's own."""
    settings = Settings(
        dynamodb_endpoint=engine_endpoints["dynamodb-local"],
        table_prefix=TABLE_PREFIX,
        token_secret="test-secret",
    )
    demo = generate_demo(products=12, customers=3, orders=0)
    async with AsyncExitStack() as stack:
        dynamo = await stack.enter_async_context(open_dynamo(settings, stack))
        await create_tables(dynamo)
        await load_demo(dynamo, demo, progress=False)
    return settings, demo


async def test_the_built_handler_answers_appsync_events(
    package: Package, seeded: tuple[Settings, DemoData]
) -> None:
    # given
    settings, demo = seeded
    product = demo.products[0]
    events: list[Any] = [
        product_event(product.id),
        # Query.customer admits no API key
        event("Query", "customer", {"id": demo.customers[0].id}, "{\n  id\n}"),
        [product_event(p.id) for p in demo.products[:3]],  # a BatchInvoke
    ]
    env = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": "us-east-1",
        "CG_DYNAMODB_ENDPOINT": str(settings.dynamodb_endpoint),
        "CG_TABLE_PREFIX": TABLE_PREFIX,
        "CG_TOKEN_SECRET": "test-secret",
    }
    in_process = LambdaResolver(
        settings, connector_settings=ConnectorSettings(neptune=NeptuneSettings(endpoint=None))
    )
    try:
        expected = await in_process.resolve(product_event(product.id))
    finally:
        await in_process.aclose()
    # when
    child = run_handler(package.task, events, env)
    # then: the package answers as the source tree does
    single, refused, batch = child.answers
    assert single == {"value": json.loads(json.dumps(expected))}
    assert single["value"]["name"] == product.name
    assert refused == {
        "errorType": "Unauthorized",
        "errorMessage": "Not Authorized to access customer on type Query",
    }
    assert [item["data"]["id"] for item in batch["value"]] == [p.id for p in demo.products[:3]]
    # and the first invocation opened DynamoDB, loading only the SDKs the settings select
    loaded = {m.split(".")[0] for m in child.loaded}
    assert "aiobotocore" in loaded
    assert loaded & UNSELECTED_PACKAGES == set()
