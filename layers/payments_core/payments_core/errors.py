"""The errors a client sees, as plain exceptions: ``payments_core.api`` renders them in the contract's
envelope. Kept free of Event Handler and pydantic so code that only raises them (the queue consumers,
the repositories) does not load the HTTP side at cold start.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the client should see, rendered in the contract's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}


class RequestValidationError(ApiError):
    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__(422, "validation_error", "The request is not valid.", extra={"details": details})


NOT_FOUND = ApiError(404, "not_found", "Not found.")
