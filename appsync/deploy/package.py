"""`python -m appsync.deploy.package`: the Lambda deployment zip of `appsync.lambda_handler`.

    dist/lambda/commerce-graph-lambda.zip       handler appsync.lambda_handler.handler, python3.11
        <runtime dependencies>   pyproject's [project.dependencies] and what they require, from
                                 manylinux2014 or pure wheels for CPython 3.11 (x86_64 or arm64)
        schema/ resolvers/ datasources/ appsync/   the project's packages and their *.sql

Dependencies are pinned to the versions installed in the building environment (the ones the
tests ran against); `--no-pin` resolves them afresh. Wheels are downloaded once into
`$CG_CACHE_DIR/lambda/wheels` and installed from there; once every pinned wheel is there, a
build asks no index.

Every module ships with its unchecked-hash `.pyc` (PEP 552; `--no-bytecode` to leave them out):
/var/task is read-only, so without them each cold start compiles every module it imports, about
twice the import time (docs/performance.md). Such a `.pyc` holds no timestamp and is never
compared with its source.

The zip is reproducible: entries sorted, one fixed timestamp, modes 0644/0755, bytecode compiled
by fresh interpreters; the same sources, versions, architecture and Python give the same bytes.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

from datasources import frozen
from datasources.cachedir import cache_dir as default_cache_dir

PYTHON_VERSION = "3.11"
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
DEFAULT_OUT = Path("dist/lambda/commerce-graph-lambda.zip")
# The earliest time a zip entry can carry: any fixed value makes the archive reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# pip's console scripts (top-level bin/) carry the building interpreter's path in their shebang.
_SCRIPTS_DIR = "bin"
# Fixed, not the CPU count: each shard's interpreter then compiles the same files in the same
# order on every machine.
_COMPILE_SHARDS = 4
_COMPILER = """
import importlib.util, py_compile, sys
tree, listing = sys.argv[1], sys.argv[2]
for name in open(listing).read().split():
    source = f"{tree}/{name}"
    try:
        py_compile.compile(
            source, cfile=importlib.util.cache_from_source(source), dfile=name, doraise=True,
            optimize=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        print(name)
"""
_ROOT = Path(__file__).resolve().parents[2]


class PackageError(RuntimeError):
    """The package could not be built (pip failed, a wrong interpreter, a bad pyproject)."""


@frozen.record
class Project:
    """What pyproject.toml says ships: dependencies, package patterns and package data."""

    root: Path
    name: str
    dependencies: tuple[str, ...]
    packages: tuple[str, ...]
    package_data: tuple[str, ...]


@frozen.record
class Built:
    path: Path
    sha256: str
    entries: int
    size: int


def read_project(root: Path = _ROOT) -> Project:
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    project = pyproject["project"]
    setuptools = pyproject.get("tool", {}).get("setuptools", {})
    packages = setuptools.get("packages", {}).get("find", {}).get("include", [])
    data = setuptools.get("package-data", {}).get("*", [])
    if not packages:
        raise PackageError("pyproject.toml has no [tool.setuptools.packages.find] include")
    return Project(
        root, project["name"], tuple(project["dependencies"]), tuple(packages), tuple(data)
    )


def project_files(project: Project) -> Iterator[tuple[str, Path]]:
    """(name in the zip, file) of every module and package-data file of the project."""
    for top in sorted(p for p in project.root.iterdir() if (p / "__init__.py").is_file()):
        if not any(fnmatch.fnmatchcase(top.name, pattern) for pattern in project.packages):
            continue
        for path in sorted(top.rglob("*")):
            relative = path.relative_to(project.root)
            # The working tree's own bytecode is stale or timestamped: compile_bytecode makes it.
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix == ".py" or any(
                fnmatch.fnmatchcase(path.name, pattern) for pattern in project.package_data
            ):
                yield relative.as_posix(), path


def installed_pins(project: Project) -> list[str]:
    """`name==version` of every distribution in this environment but the project itself."""
    own = normalise(project.name)
    pins = set()
    for dist in metadata.distributions():
        name, version = dist.metadata["Name"], dist.version
        # A local version (+abc) exists only on this machine; leave it to the resolver.
        if name and normalise(name) != own and "+" not in version:
            pins.add(f"{normalise(name)}=={version}")
    return sorted(pins)


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def install_dependencies(
    project: Project, target: Path, *, arch: str, wheels: Path, pin: bool
) -> None:
    """Download the dependencies' wheels into `wheels`, then install them into `target`."""
    platform = [
        f"--platform={PLATFORMS[arch]}",
        "--implementation=cp",
        f"--python-version={PYTHON_VERSION}",
        "--only-binary=:all:",
    ]
    with tempfile.TemporaryDirectory(prefix="cg-lambda-req-") as scratch:
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text("\n".join(project.dependencies) + "\n")
        inputs = ["-r", str(requirements)]
        if pin:
            constraints = Path(scratch) / "constraints.txt"
            constraints.write_text("\n".join(installed_pins(project)) + "\n")
            inputs += ["-c", str(constraints)]
        wheels.mkdir(parents=True, exist_ok=True)
        install = ["--no-index", "--find-links", str(wheels), "--target", str(target)]
        if pin:
            # Every version pinned, the cache alone may hold every wheel: then no index is
            # asked at all.
            try:
                _pip("install", *install, "--no-compile", *platform, *inputs)
                return
            except PackageError:
                shutil.rmtree(target, ignore_errors=True)
        _pip("download", "--dest", str(wheels), *platform, *inputs)
        _pip("install", *install, "--no-compile", *platform, *inputs)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PackageError(f"pip {args[0]} failed ({done.returncode}):\n{done.stderr.strip()}")


def compile_bytecode(tree: Path, own: Iterable[str]) -> None:
    """An unchecked-hash `.pyc` beside every module; the project's own (`own`) must compile.

    Each records its name inside the zip as its file name, so the bytes do not depend on where
    the tree was staged (the import system puts the real path back when it loads the code).
    Fresh interpreters compile, so the bytes do not depend on what the caller has imported
    either: marshal marks an object shared only when something else holds it.
    """
    if f"{sys.version_info.major}.{sys.version_info.minor}" != PYTHON_VERSION:
        raise PackageError(f"bytecode needs Python {PYTHON_VERSION}; this is {sys.version}")
    names = sorted(path.relative_to(tree).as_posix() for path in tree.rglob("*.py"))
    failed: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="cg-lambda-pyc-") as scratch:
        running = []
        for shard in range(_COMPILE_SHARDS):
            listing = Path(scratch) / f"shard-{shard}.txt"
            listing.write_text("\n".join(names[shard::_COMPILE_SHARDS]))
            out = (Path(scratch) / f"shard-{shard}.out").open("w+")
            command = [sys.executable, "-I", "-W", "ignore", "-c", _COMPILER, str(tree)]
            running.append((subprocess.Popen([*command, str(listing)], stdout=out), out))
        for process, out in running:
            with out:
                if process.wait() != 0:
                    raise PackageError(f"compiling bytecode failed ({process.returncode})")
                out.seek(0)
                failed.update(out.read().split())
    # Some wheels ship Python 2 leftovers (aenum/_py2.py) that nothing imports on 3.x; pip
    # skips them the same way. The project's own modules must compile.
    broken = sorted(failed.intersection(own))
    if broken:
        raise PackageError(f"{', '.join(broken)} do not compile")


def tree_files(tree: Path, *, bytecode: bool) -> Iterator[tuple[str, Path]]:
    for path in tree.rglob("*"):
        relative = path.relative_to(tree)
        if not path.is_file() or relative.parts[0] == _SCRIPTS_DIR:
            continue
        if path.suffix == ".pyc" and not bytecode:
            continue
        yield relative.as_posix(), path


def write_zip(files: Iterable[tuple[str, Path]], out: Path) -> Built:
    """A reproducible zip: entries sorted by name, fixed timestamp, modes 0644 / 0755."""
    ordered = sorted(files)
    names = [name for name, _ in ordered]
    if len(set(names)) != len(names):
        raise PackageError("two files would share one name in the zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, path in ordered:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so that the mode below is honoured on extraction
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            # zlib's default level: level 9 takes four times as long for a zip 1 % smaller.
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    partial.replace(out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Built(out, digest, len(ordered), out.stat().st_size)


def build(
    out: Path = DEFAULT_OUT,
    *,
    root: Path = _ROOT,
    arch: str = "x86_64",
    cache_dir: Path | None = None,
    pin: bool = True,
    bytecode: bool = True,
) -> Built:
    project = read_project(root)
    wheels = (cache_dir or default_cache_dir()) / "lambda" / "wheels"
    with tempfile.TemporaryDirectory(prefix="cg-lambda-") as staging:
        tree = Path(staging) / "task"
        install_dependencies(project, tree, arch=arch, wheels=wheels, pin=pin)
        own = dict(project_files(project))
        for name, path in own.items():
            destination = tree / name
            if destination.exists():
                raise PackageError(f"{name} is both a project file and a dependency's")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        if bytecode:
            compile_bytecode(tree, own)
        return write_zip(tree_files(tree, bytecode=bytecode), out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appsync.deploy.package",
        description="Build the Lambda deployment zip of appsync.lambda_handler.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zip to write")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64")
    parser.add_argument("--cache-dir", type=Path, help="default: $CG_CACHE_DIR")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="resolve the dependencies afresh instead of pinning this environment's versions",
    )
    parser.add_argument(
        "--no-bytecode", dest="bytecode", action="store_false", help="ship no .pyc files"
    )
    args = parser.parse_args(argv)
    try:
        built = build(
            args.out, arch=args.arch, cache_dir=args.cache_dir, pin=args.pin, bytecode=args.bytecode
        )
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(f"{built.path}: {built.entries} files, {built.size / 1e6:.1f} MB, sha256 {built.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
