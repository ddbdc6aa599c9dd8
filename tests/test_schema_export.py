"""The committed SDL is a reviewed artifact: it must equal what the code prints."""

from __future__ import annotations

from pathlib import Path

from schema import build_schema
from schema.sdl import export_sdl, validate_with_appsync_base
from server import main

COMMITTED = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    printed = export_sdl(build_schema())
    assert COMMITTED.read_text() == printed, "schema.graphql drifted: run `make schema`"


def test_exported_sdl_is_valid_under_appsyncs_base_definitions() -> None:
    validate_with_appsync_base(COMMITTED.read_text())


def test_exported_sdl_defines_no_scalar_and_no_directive() -> None:
    sdl = COMMITTED.read_text()
    assert "scalar " not in sdl
    assert "directive @" not in sdl
    assert "AWSDateTime" in sdl
    assert "AWSJSON" in sdl


def test_cli_prints_the_same_sdl(capsys: object) -> None:
    assert main(["schema", "export"]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out == COMMITTED.read_text()
