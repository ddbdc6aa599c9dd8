"""Settings come from the environment: `CG_` prefix, and boto3's standard endpoint variable."""

from __future__ import annotations

import pytest

from datasources.settings import Settings


def test_cg_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_TABLE_PREFIX", "prod-")
    monkeypatch.setenv("CG_MAX_BODY_BYTES", "2048")
    settings = Settings()
    assert settings.table_prefix == "prod-"
    assert settings.max_body_bytes == 2048


def test_boto3_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CG_DYNAMODB_ENDPOINT", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8001")
    assert Settings().dynamodb_endpoint == "http://127.0.0.1:8001"


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_MAX_BODY_BYTES", "12")
    with pytest.raises(ValueError, match="max_body_bytes"):
        Settings()
