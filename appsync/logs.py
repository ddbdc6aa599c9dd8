"""Logging of field errors: one line for what the graph expects, a traceback for the rest.

Strawberry logs every field error with its traceback. A source that is down or slow
(`SourceError`: the breaker, a timeout) or an argument the domain refuses (`error_type` on
the exception, no bug involved) is expected: under an ERP outage that is several records per
request, and formatting their tracebacks costs CPU exactly when the process is degraded
(bench/faults.py counted ~2,500 records in 15 s). Those become one WARNING line with the
errorType and the path; anything else keeps its traceback at ERROR.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError

STRAWBERRY_LOGGER = "strawberry.execution"


class ExpectedErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if not isinstance(error, GraphQLError) or error.original_error is None:
            return True
        error_type = getattr(error.original_error, "error_type", None)
        if not isinstance(error_type, str):
            return True
        path = ".".join(str(p) for p in error.path or ())
        record.msg = "%s at %s: %s"
        record.args = (error_type, path or "-", error.message)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = None
        record.exc_text = None
        return True


def quiet_expected_errors() -> None:
    """Install the filter once per process (several apps in one process share the logger)."""
    logger = logging.getLogger(STRAWBERRY_LOGGER)
    if not any(isinstance(f, ExpectedErrorFilter) for f in logger.filters):
        logger.addFilter(ExpectedErrorFilter())
