"""At most once per event, with the Powertools Idempotency utility on its own DynamoDB table: what a
queue consumer does for an event delivered more than once (the receipt's email).

The API routes write no record here: a payment, a refund, a capture's or a cancel's payment is its own
key's record (``PaymentService.create_once``, ``refund_once``, ``capture_once``, ``cancel_once``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from payments_core.aws import dynamodb_client
from payments_core.config import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


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
