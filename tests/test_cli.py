"""The `commerce-graph` command against a real engine."""

from __future__ import annotations

import re

import pytest
import redis

from engines.redis_server import start_redis_server
from server import main


@pytest.fixture
def on_moto(engine_endpoints: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_DYNAMODB_ENDPOINT", engine_endpoints["moto"])
    monkeypatch.setenv("CG_TABLE_PREFIX", "cg-cli-")


@pytest.mark.usefixtures("on_moto")
def test_apikey_create_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    # when
    assert main(["apikey", "create", "--description", "pos", "--days", "30"]) == 0
    key = capsys.readouterr().out.strip()
    assert main(["apikey", "list"]) == 0
    listed = capsys.readouterr().out
    assert main(["apikey", "revoke", key]) == 0
    revoked = capsys.readouterr().out
    # then
    assert re.fullmatch(r"da2-[a-z0-9]{26}", key)
    assert "pos" in listed
    assert key not in listed  # only a hint of the key is ever shown again
    assert "revoked" in revoked.lower()


def test_cache_flush_empties_the_shared_cache(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a real redis-server holding one cache entry and one unrelated key
    with start_redis_server() as url:
        client = redis.Redis.from_url(url)
        client.set("cg:cache:Query.product:abc", b"cached")
        client.set("unrelated", b"kept")
        monkeypatch.setenv("CG_REDIS_URL", url)
        # when
        assert main(["cache", "flush"]) == 0
        # then
        assert client.get("cg:cache:Query.product:abc") is None
        assert client.get("unrelated") == b"kept"
        client.close()
    assert "flushed" in capsys.readouterr().out
