"""Strawberry's bundled GraphiQL page, with request headers pre-filled (e.g. `x-api-key`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from strawberry.http.ides import get_graphql_ide_html

__all__ = ["graphiql_html"]

logger = logging.getLogger(__name__)

# The template's headers editor starts from `parameters.headers` (the URL) and its fetcher
# from `defaultHeaders`; the first anchor shows the headers, the second only sends them.
_EDITOR_ANCHOR = "React.useState(parameters.headers)"
_FETCHER_ANCHOR = "const defaultHeaders = {};"


def graphiql_html(headers: Mapping[str, str] | None = None) -> str:
    """The GraphiQL page; `headers` appear in its headers editor, so requests carry them."""
    html = get_graphql_ide_html("graphiql")
    if not headers:
        return html
    as_json = json.dumps(dict(headers), indent=2)
    if _EDITOR_ANCHOR in html:
        return html.replace(
            _EDITOR_ANCHOR, f"React.useState(parameters.headers || {_js_literal(as_json)})", 1
        )
    if _FETCHER_ANCHOR in html:
        return html.replace(
            _FETCHER_ANCHOR, f"const defaultHeaders = {_js_literal(dict(headers))};", 1
        )
    logger.warning("Strawberry's GraphiQL template changed: headers are not pre-filled")
    return html


def _js_literal(value: object) -> str:
    """A JSON value that is safe inside an inline <script> (no `</script>` breakout)."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
