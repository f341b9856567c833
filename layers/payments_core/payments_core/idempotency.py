"""API idempotency with the Powertools Idempotency utility on its own DynamoDB table.

Key: user + route + ``Idempotency-Key``; the body's fingerprint is validated, so the same key with
another body is ``409 idempotency_key_reused``. A completed request is replayed (same status, same
body, ``Idempotent-Replayed: true``) for two days, past Stripe's own 24 h. A request that arrives
while the first is still running waits for it briefly and is then replayed; only if the first is
still running after that does it get ``409 request_in_progress``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from payments_core.aws import dynamodb_client
from payments_core.config import get_settings
from payments_core.errors import Conflict
from payments_core.idempotency_keys import KEY_REUSED, Outcome, fingerprint, in_progress_deadline

KEY_RETENTION_SECONDS = 2 * 24 * 60 * 60


def _mark_replayed(response: Any, _record: Any) -> Any:
    return {**response, "replayed": True}


@functools.cache
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[user_id, route, key]",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=KEY_RETENTION_SECONDS,
        response_hook=_mark_replayed,  # type: ignore[arg-type]
    )


@functools.cache
def _runner() -> Callable[..., Outcome]:
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=dynamodb_client()
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=persistence, config=_config()
    )
    def run(*, request: dict[str, str], operation: Callable[[], Outcome]) -> Outcome:  # noqa: ARG001 - hashed by the decorator
        return operation()

    return run  # type: ignore[no-any-return]


def run_once(
    *,
    user_id: str,
    route: str,
    key: str,
    body: Any,
    operation: Callable[[], Outcome],
    context: LambdaContext | None,
) -> tuple[Outcome, bool]:
    """Runs ``operation`` at most once per (user, route, key); returns its outcome and whether replayed."""
    if context is not None:
        _config().register_lambda_context(context)  # an in-progress record expires with this invocation
    request = {"user_id": user_id, "route": route, "key": key, "fingerprint": fingerprint(body)}
    deadline = in_progress_deadline(context)
    while True:
        try:
            outcome = _runner()(request=request, operation=operation)
        except IdempotencyValidationError:
            raise KEY_REUSED from None
        except IdempotencyAlreadyInProgressError:
            if time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise Conflict(
                "request_in_progress",
                "A request with this Idempotency-Key is still in progress.",
                retry_after=1,
            ) from None
        replayed = bool(outcome.pop("replayed", False))
        return outcome, replayed


@functools.cache
def _event_config() -> IdempotencyConfig:
    return IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=EVENT_KEY_RETENTION_SECONDS)


@functools.cache
def _event_runner() -> Callable[..., Any]:
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table_name, boto3_client=dynamodb_client()
    )
    config = _event_config()

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="event", persistence_store=persistence, config=config
    )
    def run(*, event: dict[str, str], operation: Callable[[], Any]) -> Any:  # noqa: ARG001 - hashed by the decorator
        return operation()

    return run  # type: ignore[no-any-return]


EVENT_KEY_RETENTION_SECONDS = 7 * 24 * 60 * 60  # longer than a message can live in a queue and its DLQ


def once_per_event(key: str, operation: Callable[[], Any], context: LambdaContext | None) -> Any:
    """Runs a consumer's side effect at most once per ``key`` (delivery is at least once): the
    movement an event reports (``events.movement_of``), else its ``event_id``."""
    if context is not None:
        _event_config().register_lambda_context(context)
    return _event_runner()(event={"event_id": key}, operation=operation)
