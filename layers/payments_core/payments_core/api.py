"""The HTTP side shared by every API function: the error envelope, body parsing, the resolver.

Error mapping lives here, in exception handlers, so route functions only raise.

It names pydantic for types only: a function's models load pydantic, and one with none (the health
check) starts without it (about 20 ms of its cold start, benchmarks/results.md).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from payments_core import clock, errors
from payments_core.card_numbers import holds_card_number
from payments_core.errors import DomainError, RequestValidationError
from payments_core.event_handler import APIGatewayHttpResolver, Response, content_types
from payments_core.observability import logger

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

# The one place a domain error gets its HTTP status (the most specific kind wins).
STATUS: dict[type[DomainError], int] = {
    errors.BadRequest: 400,
    errors.Unauthenticated: 401,
    errors.Declined: 402,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.Invalid: 422,
    errors.TooManyRequests: 429,
    errors.NotYet: 500,
    errors.ProviderError: 502,
    errors.ProviderUnavailable: 503,
    errors.Unavailable: 503,
}

UNAUTHORIZED = errors.Unauthenticated("unauthorized", "A valid bearer token is required.")
TOKEN_EXPIRED = errors.Unauthenticated("unauthorized", "The bearer token has expired: sign in again.")


def validation_details(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Field paths and messages only: pydantic's ``input`` is dropped so values are never echoed, and a
    path part that is itself client text (a metadata key) holding a card number is masked."""
    details = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        parts = (masked(str(part)) for part in item["loc"])
        field = ".".join(parts) or "body"
        details.append({"field": f"{prefix}{field}", "message": item["msg"]})
    return details


ECHO_LIMIT = 100


def masked(client_text: str) -> str:
    """Client text we echo in an error (a metadata key), unless it holds a card number; past
    ``ECHO_LIMIT`` characters, its first ones with every digit hidden (what follows is not read: a
    card number running past them, or spread out by invisible characters, shows no digit)."""
    if len(client_text) > ECHO_LIMIT:
        return re.sub(r"\d", "#", client_text[:ECHO_LIMIT]) + "…"
    return "<card number>" if holds_card_number(client_text) else client_text


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":"), sort_keys=True),  # replays are byte-identical
        headers=headers or {},
    )


def error_body(code: str, message: str, request_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "request_id": request_id, **(extra or {})}}


def status_of(error: DomainError) -> int:
    """The HTTP status of a domain error: its kind's, the nearest kind up its class tree."""
    return next((STATUS[kind] for kind in type(error).__mro__ if kind in STATUS), 500)


def error_envelope(error: DomainError, request_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A domain error's body (the contract's envelope) and headers."""
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    return error_body(error.code, error.message, request_id, error.extra), headers


def error_outcome(error: DomainError, request_id: str) -> dict[str, Any]:
    """A domain error as a stored outcome (replayed as it was first answered)."""
    body, _ = error_envelope(error, request_id)
    return {"status": status_of(error), "body": body}


def build_resolver() -> APIGatewayHttpResolver:
    """An HTTP API (payload 2.0) resolver whose every failure is rendered in the error envelope."""
    app = APIGatewayHttpResolver()

    @app.exception_handler(DomainError)  # type: ignore[untyped-decorator]
    def handle_domain_error(error: DomainError) -> Response[str]:
        status = status_of(error)
        logger.info("request rejected", extra={"error_code": error.code, "status": status})
        return json_response(status, *error_envelope(error, request_id(app)))

    @app.not_found
    def handle_not_found(_: Exception) -> Response[str]:
        return json_response(404, error_body("not_found", "Not found.", request_id(app)))

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def handle_unexpected(error: Exception) -> Response[str]:
        # The stack trace goes to the log line carrying this request id, never to the client.
        logger.exception("unhandled error", extra={"error_type": type(error).__name__})
        return json_response(500, error_body("internal_error", "Something went wrong.", request_id(app)))

    return app


def parse_body[ModelT: BaseModel](
    app: APIGatewayHttpResolver, model: type[ModelT], *, optional: bool = False
) -> ModelT:
    """The JSON body as ``model``; anything else is a 422 in the envelope."""
    raw = raw_body(app)
    if raw is None:
        raise RequestValidationError([{"field": "body", "message": "Body must be UTF-8 JSON."}])
    if optional and not raw.strip():
        raw = "{}"
    if not raw.strip():
        raise RequestValidationError([{"field": "body", "message": "Body must be a JSON object; it is empty."}])
    try:
        data = json.loads(raw or "", object_pairs_hook=object_without_repeated_keys)
    except RepeatedKeyError as error:
        raise RequestValidationError([{"field": "body", "message": str(error)}]) from None
    except RecursionError:  # thousands of nested brackets: bad input, not our fault
        raise RequestValidationError([{"field": "body", "message": "Body is nested too deeply."}]) from None
    except (TypeError, ValueError):
        raise RequestValidationError([{"field": "body", "message": "Body must be valid JSON."}]) from None
    if not isinstance(data, dict):
        raise RequestValidationError([{"field": "body", "message": "Body must be a JSON object."}])
    from pydantic import ValidationError  # loaded already: by the module that defines ``model``

    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(validation_details(error)) from None


class RepeatedKeyError(ValueError):
    pass


def object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refused if a key repeats: ``{"amount": 2500, "amount": 1}`` means one amount to one
    reader and another to the next (json keeps the last), and a payment must not be ambiguous."""
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise RepeatedKeyError(f"Key {json.dumps(masked(key))} appears more than once.")
        data[key] = value
    return data


def raw_body(app: APIGatewayHttpResolver) -> str | None:
    """The request body as text ("" when empty); None when it is not UTF-8."""
    try:
        return app.current_event.decoded_body or ""
    except UnicodeDecodeError:
        return None


def authenticated_user_id(app: APIGatewayHttpResolver) -> str:
    """The user id the Lambda authorizer put in the request context, while its token is current: API
    Gateway reuses a verdict for up to 60 s (``ReauthorizeEvery``), which may be past the token's expiry."""
    context = app.current_event.request_context.authorizer.get_lambda or {}
    user_id = context.get("user_id")
    expires_at = context.get("expires_at")
    if not user_id:
        # A bad or missing token (the authorizer lets it through as anonymous), or a route without it.
        # An expired one says so: the authorizer checked its signature before its expiry.
        raise TOKEN_EXPIRED if context.get("token") == "expired" else UNAUTHORIZED
    if expires_at is not None and clock.epoch_seconds() >= int(expires_at):
        raise TOKEN_EXPIRED
    return str(user_id)


def outcome_response(outcome: dict[str, Any], replayed: bool) -> Response[str]:
    """An operation's stored outcome as the response; a replay says so in ``Idempotent-Replayed``."""
    return json_response(int(outcome["status"]), outcome["body"], {"Idempotent-Replayed": "true"} if replayed else None)


def request_id(app: APIGatewayHttpResolver) -> str:
    return str(app.current_event.request_context.request_id or "")
