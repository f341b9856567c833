"""The transactional outbox: an event is an item written in the same DynamoDB transaction as the
state change it reports. The outbox relay (DynamoDB stream -> EventBridge) publishes it."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from payments_core import clock, keys
from payments_core.dynamo import to_item

if TYPE_CHECKING:
    from payments_core.payments.models import Payment, Refund

DetailType = Literal[
    "PaymentCreated",
    "PaymentSucceeded",
    "PaymentFailed",
    "PaymentRequiresAction",
    "PaymentCanceled",
    "RefundCreated",
    "RefundSucceeded",
    "RefundFailed",
    "DisputeOpened",
    "DisputeFundsWithdrawn",
    "DisputeFundsReinstated",
    "DisputeClosed",
]
EVENT_SOURCE = "payments"
EVENT_VERSION = 1
OUTBOX_RETENTION = timedelta(days=7)

EVENT_FOR_STATUS: dict[str, DetailType] = {
    "succeeded": "PaymentSucceeded",
    "failed": "PaymentFailed",
    "canceled": "PaymentCanceled",
    "requires_action": "PaymentRequiresAction",
}


def event_detail(payment: Payment, refund: Refund | None, occurred_at: datetime) -> dict[str, Any]:
    """The bus event's ``detail``: never a client secret, OTP, token or card data."""
    return {
        "event_id": "evt_" + secrets.token_hex(12),
        "event_version": EVENT_VERSION,
        "occurred_at": clock.iso(occurred_at),
        "user_id": payment.user_id,
        "payment": payment.public(with_secret=False),
        "refund": refund.public() if refund else None,
    }


def outbox_put(table_name: str, detail_type: str, payment: Payment, refund: Refund | None = None) -> dict[str, Any]:
    """A TransactWriteItems ``Put`` of one outbox item."""
    now = clock.now()
    detail = event_detail(payment, refund, now)
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_item(
                {
                    **keys.outbox(detail["event_id"]),
                    "detail_type": detail_type,
                    "detail": json.dumps(detail, separators=(",", ":")),
                    "ttl": int((now + OUTBOX_RETENTION).timestamp()),
                }
            ),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }
