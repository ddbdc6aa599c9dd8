"""Opaque, tamper-proof `nextToken`s that map 1:1 to a backend's continuation key.

A token is `base64url(json(key)).base64url(hmac)`, and the MAC also covers the *scope* (which
list it continues: table, index, partition), so a token cannot be forged, altered, or replayed
against another list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from datasources.errors import SourceRejectedError


class InvalidNextTokenError(SourceRejectedError):
    reason = "InvalidNextToken"

    def __init__(self, source: str) -> None:
        super().__init__(source, "The nextToken is invalid or does not belong to this list.")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenCodec:
    def __init__(self, secret: bytes, *, source: str) -> None:
        self._secret = secret
        self._source = source

    def _mac(self, scope: str, body: str) -> str:
        digest = hmac.new(self._secret, f"{scope}\n{body}".encode(), hashlib.sha256).digest()
        return _b64(digest[:18])

    def encode(self, scope: str, key: dict[str, Any] | None) -> str | None:
        if not key:
            return None
        body = _b64(orjson.dumps(key, option=orjson.OPT_SORT_KEYS))
        return f"{body}.{self._mac(scope, body)}"

    def decode(self, scope: str, token: str | None) -> dict[str, Any] | None:
        if token is None:
            return None
        body, _, mac = token.partition(".")
        if not body or not mac or not hmac.compare_digest(mac, self._mac(scope, body)):
            raise InvalidNextTokenError(self._source)
        try:
            key = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidNextTokenError(self._source) from exc
        if not isinstance(key, dict):
            raise InvalidNextTokenError(self._source)
        return key
