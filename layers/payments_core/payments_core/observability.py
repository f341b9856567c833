"""Powertools Logger, Metrics and Tracer shared by every handler (service name from the environment).

The Powertools Tracer drags in the X-Ray SDK, measured at ~200 ms of every cold start
(docs/configuration.md, DetailedTracing). It is built only when detailed tracing is on
(``POWERTOOLS_TRACE_DISABLED`` is not true; the template's ``DetailedTracing`` parameter); otherwise
handlers get a no-op with the same decorators, and Lambda's own active tracing still records every
invocation in X-Ray.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


class NoopTracer:
    """The decorators of Powertools' Tracer, doing nothing."""

    def capture_lambda_handler(self, handler: Callable[..., Any] | None = None, **_: Any) -> Any:
        return handler if handler is not None else (lambda function: function)

    def capture_method(self, method: Callable[..., Any] | None = None, **_: Any) -> Any:
        return method if method is not None else (lambda function: function)


def _tracer() -> Any:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true"):
        return NoopTracer()
    from aws_lambda_powertools import Tracer

    return Tracer()


logger = Logger()
metrics = Metrics()
tracer = cast("Tracer", _tracer())  # the no-op has the same decorators
