"""Field errors in the log: expected ones (a source down, a refused argument) in one line,
bugs with their traceback."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from appsync.logs import STRAWBERRY_LOGGER, ExpectedErrorFilter
from conftest import Graph
from datasources.errors import SourceTimeoutError


def _record(original: Exception) -> logging.LogRecord:
    error = GraphQLError(str(original), path=["product", "variants", 0, "stock"])
    error.original_error = original
    return logging.LogRecord(
        STRAWBERRY_LOGGER, logging.ERROR, __file__, 1, error, None, (type(original), original, None)
    )


def test_an_expected_error_becomes_one_warning_line() -> None:
    record = _record(SourceTimeoutError("ERP", "ERP did not answer within 500 ms."))
    assert ExpectedErrorFilter().filter(record)
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert record.getMessage() == (
        "ERP:Timeout at product.variants.0.stock: ERP did not answer within 500 ms."
    )


def test_a_bug_keeps_its_traceback() -> None:
    record = _record(KeyError("variant"))
    assert ExpectedErrorFilter().filter(record)
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


async def test_the_app_logs_a_not_found_without_a_traceback(
    graph: Graph, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=STRAWBERRY_LOGGER):
        body = await graph.post('{ product(id: "prd_nope") { id } }')
    assert body["errors"][0]["errorType"] == "NotFound"
    (record,) = [r for r in caplog.records if r.name == STRAWBERRY_LOGGER]
    assert record.levelname == "WARNING"
    assert record.exc_info is None
    assert record.getMessage().startswith("NotFound at product: ")
