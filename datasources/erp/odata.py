"""A small OData v4 JSON client on aiohttp: the one place ERP failures are translated.

    ODataClient(session, resilience).read(root, "MaterialStock", filter=..., select=...)
      └── one GET per page, each a `Resilience.call(idempotent=True)`:
            timeout, breaker, bulkhead, retries with backoff; `requests` counts them
          `@odata.nextLink` is followed (server-driven paging) up to `max_pages`

OData has no multi-get, so a batch read is one `$filter=Key in ('a','b',...)` GET; the
`$filter` builders below escape string literals the OData way (a quote is doubled). Every
HTTP status, OData error body and aiohttp exception becomes a `SourceError` of source "ERP":

    429                      ERP:Throttled      (Unavailable, retried, `retry_after` set)
    503                      ERP:Unavailable    (retried, `retry_after` set when sent)
    500, 502, other 5xx      ERP:Unavailable    (retried)
    401, 403, 407            ERP:Unavailable    (our credentials: every call will fail alike)
    408, 504                 ERP:Timeout
    other 4xx                ERP:Rejected       (the query itself is wrong: never retried)
    refused, reset, DNS      ERP:Unavailable
    slower than the policy   ERP:Timeout        (raised by Resilience)
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urljoin

import aiohttp
from yarl import URL

from datasources.errors import (
    SourceError,
    SourceRejectedError,
    SourceTimeoutError,
    SourceUnavailableError,
)
from datasources.resilience import Resilience

SOURCE = "ERP"
Row = dict[str, Any]

# Characters kept as they are in the query string: OData's own syntax reads better in logs
# and every server accepts them; spaces become %20, never `+` (SAP Gateway reads `+` as `+`).
_QUERY_SAFE = "'(),/$:"
_ERROR_TEXT_LIMIT = 300


# --- $filter builders ---------------------------------------------------------------------


def literal(value: str) -> str:
    """An OData string literal: quoted, with every single quote doubled."""
    return "'" + value.replace("'", "''") + "'"


def date_literal(value: date) -> str:
    """An Edm.Date literal (unquoted in OData v4)."""
    return value.isoformat()


def eq(prop: str, value: str) -> str:
    return f"{prop} eq {literal(value)}"


def is_in(prop: str, values: Iterable[str]) -> str:
    """`prop in ('a','b')`, OData 4.01's membership test (CAP and S/4 accept it in v4)."""
    return f"{prop} in ({','.join(literal(v) for v in values)})"


def all_of(*clauses: str) -> str:
    return " and ".join(f"({c})" if " or " in c else c for c in clauses)


def chunks(keys: Sequence[str], size: int) -> list[Sequence[str]]:
    """Distinct keys, in first-seen order, in slices of at most `size`."""
    unique = list(dict.fromkeys(keys))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


# --- the client ---------------------------------------------------------------------------


class ODataClient:
    """Reads entity sets of OData v4 services with one shared aiohttp session.

    The session (opened once per process by `datasources.erp.build.open_erp`) carries the
    credentials; this class owns nothing that needs closing.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        resilience: Resilience,
        *,
        max_page_size: int | None = None,
        max_pages: int = 50,
    ) -> None:
        self._session = session
        self.resilience = resilience
        self._max_page_size = max_page_size
        self._max_pages = max_pages
        # HTTP requests sent, by entity set: pages and retries each count.
        self.requests: Counter[str] = Counter()

    async def read(
        self, service_root: str, entity_set: str, *, filter: str, select: Sequence[str]
    ) -> list[Row]:
        """Every row of `entity_set` matching `filter`, following the server's nextLinks."""
        query = f"$filter={_encode(filter)}&$select={_encode(','.join(select))}"
        url = f"{service_root.rstrip('/')}/{entity_set}?{query}"
        rows: list[Row] = []
        for _ in range(self._max_pages):
            body = await self.resilience.call(
                functools.partial(self._get, entity_set, url), idempotent=True
            )
            value = body.get("value")
            if not isinstance(value, list):
                raise SourceUnavailableError(SOURCE, f"ERP {entity_set}: no `value` array.")
            rows.extend(value)
            next_link = body.get("@odata.nextLink")
            if not next_link:
                return rows
            # Relative nextLinks (CAP sends `MaterialStock?...&$skiptoken=N`) resolve
            # against the request URL, which the service root + entity set is.
            url = urljoin(url, str(next_link))
        raise SourceUnavailableError(
            SOURCE, f"ERP {entity_set}: still paging after {self._max_pages} pages."
        )

    async def _get(self, entity_set: str, url: str) -> dict[str, Any]:
        self.requests[entity_set] += 1
        headers = {"Accept": "application/json", "OData-MaxVersion": "4.0"}
        if self._max_page_size is not None:
            headers["Prefer"] = f"odata.maxpagesize={self._max_page_size}"
        try:
            # encoded=True: the query is already percent-encoded the OData way; yarl must
            # not re-encode it (or turn %20 into `+`).
            async with self._session.get(URL(url, encoded=True), headers=headers) as response:
                payload = await response.read()
                if response.status >= 400:
                    raise http_error(response.status, response.headers, payload, entity_set)
        except SourceError:
            raise
        except TimeoutError as exc:  # aiohttp's own backstop timeouts (ServerTimeoutError)
            raise SourceTimeoutError(SOURCE, f"ERP {entity_set} did not answer.") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise SourceUnavailableError(
                SOURCE, f"ERP cannot be reached: {type(exc).__name__}"
            ) from exc
        try:
            # Decimals stay exact: quantities are Edm.Decimal(13,3), amounts (15,2).
            body = json.loads(payload, parse_float=Decimal)
        except ValueError as exc:
            raise SourceUnavailableError(SOURCE, f"ERP {entity_set}: not JSON.") from exc
        if not isinstance(body, dict):
            raise SourceUnavailableError(SOURCE, f"ERP {entity_set}: not a JSON object.")
        return body


def http_error(
    status: int, headers: Mapping[str, str], payload: bytes, entity_set: str
) -> SourceError:
    """Map an HTTP error status (and its OData error body) to our tree."""
    detail = f"{status} {error_message(payload)}".strip()
    message = f"ERP {entity_set}: {detail}"
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status == 429:
        return SourceUnavailableError(SOURCE, message, reason="Throttled", retry_after=retry_after)
    if status in (408, 504):
        return SourceTimeoutError(SOURCE, message)
    if status in (401, 403, 407):
        return SourceUnavailableError(SOURCE, f"ERP refused our credentials: {detail}")
    if status >= 500:
        return SourceUnavailableError(SOURCE, message, retry_after=retry_after)
    return SourceRejectedError(SOURCE, message)


def error_message(payload: bytes) -> str:
    """The message of an OData error body (v4 `{"error": {"code", "message"}}`; v2 nests
    `message.value`); else the start of the body as text."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:_ERROR_TEXT_LIMIT].decode(errors="replace")
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:_ERROR_TEXT_LIMIT]
    message = error.get("message")
    if isinstance(message, dict):  # OData v2 (SAP Gateway): {"lang": "en", "value": "..."}
        message = message.get("value")
    code = error.get("code")
    text = str(message or "")
    return f"{text} (code {code})" if code and str(code) not in text else text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _encode(text: str) -> str:
    return quote(text, safe=_QUERY_SAFE)


async def read_chunks(
    client: ODataClient,
    service_root: str,
    entity_set: str,
    *,
    filters: Sequence[str],
    select: Sequence[str],
) -> list[Row]:
    """One `read` per filter, concurrently; the rows of all of them, or the first failure.

    A TaskGroup cancels the other reads as soon as one fails: the caller gets one error,
    and no request is left running for nobody.
    """
    if len(filters) == 1:
        return await client.read(service_root, entity_set, filter=filters[0], select=select)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(client.read(service_root, entity_set, filter=f, select=select))
                for f in filters
            ]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [row for task in tasks for row in task.result()]
