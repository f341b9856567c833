"""Stripe webhook deliveries: verified on the raw body first, then de-duplicated by event id in the
same transaction as the state change they cause, which only ever moves forward.

A signature proves that Stripe sent the event, not that our payment is what its snapshot says: the
event only says which objects to look at. Each is fetched from Stripe as it is now (the intent, its
refunds, the dispute), and applied only if it is the payment's own (``transitions``). Duplicate and
out-of-order deliveries therefore change nothing more: each applies the provider's latest state.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, ValidationError

from payments_core import clock
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from payments_core.errors import ApiError
from payments_core.observability import logger, metrics
from payments_core.payments import open_items
from payments_core.payments.gateway import PaymentGateway, ProviderRejected, default_gateway
from payments_core.payments.repository import DuplicateDelivery, PaymentRepository, payment_repository
from payments_core.payments.transitions import NotRecordableYet, ProviderState, provider_state_change

SIGNATURE_TOLERANCE_SECONDS = 300
DEDUP_RETENTION = timedelta(days=30)  # Stripe retries deliveries for up to 3 days

INVALID_SIGNATURE = ApiError(400, "invalid_signature", "The webhook signature is missing or not valid.")
# Any answer but a 2xx makes Stripe deliver the event again, with backoff, for up to 3 days.
DELIVER_AGAIN = ApiError(500, "internal_error", "The event cannot be applied yet; it will be delivered again.")

PAYMENT_INTENT_TYPES = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.canceled",
    }
)
REFUND_TYPES = frozenset(
    {"charge.refunded", "refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
DISPUTE_TYPES = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    }
)
HANDLED_TYPES = PAYMENT_INTENT_TYPES | REFUND_TYPES | DISPUTE_TYPES
# Stripe's "thin" events (API v2) carry no object, only a reference to one.
THIN_EVENT_OBJECT = "v2.core.event"


class _StripeRefund(BaseModel):
    id: str
    payment_intent: str | dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class _StripeRefundList(BaseModel):
    data: list[_StripeRefund] = Field(default_factory=list)


class _StripeObject(BaseModel):
    """The fields of a handled event's object that a Stripe object has as Stripe types them: a body
    where they are otherwise is not from Stripe. Only the ids are used: the rest is fetched."""

    id: str
    object: str | None = None
    status: str | None = None
    metadata: dict[str, str] | None = None
    amount: int | None = None
    amount_received: int | None = None
    amount_refunded: int | None = None
    currency: str | None = None
    payment_intent: str | dict[str, Any] | None = None
    next_action: dict[str, Any] | None = None
    last_payment_error: dict[str, Any] | None = None
    refunds: _StripeRefundList | None = None


def well_formed(event: dict[str, Any]) -> bool:
    """Whether a handled event's object has the shape Stripe sends: a signed body that does not (a
    metadata string, a refund list of numbers) is not a Stripe event, so a 400 rather than a 500."""
    if event["type"] not in HANDLED_TYPES:
        return True
    try:
        _StripeObject.model_validate(event["data"]["object"])
    except ValidationError:
        return False
    return True


def verify(raw_body: str, signature: str | None, secrets: list[str]) -> dict[str, Any]:
    """The event, if ``signature`` is valid for ``raw_body`` under any current secret (rotation)."""
    from stripe import SignatureVerificationError, WebhookSignature

    if not signature:
        raise INVALID_SIGNATURE
    for secret in secrets:
        try:
            WebhookSignature.verify_header(raw_body, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
            break
        except SignatureVerificationError:
            continue
    else:
        raise INVALID_SIGNATURE
    try:
        event = json.loads(raw_body)
    except ValueError:
        raise INVALID_SIGNATURE from None
    if isinstance(event, dict) and event.get("object") == THIN_EVENT_OBJECT and isinstance(event.get("id"), str):
        return event  # no object to check: acknowledged and logged by the processor
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("data"), dict)
        and isinstance(event["data"].get("object"), dict)
        and well_formed(event)
    ):
        raise INVALID_SIGNATURE
    return event


@dataclass
class Subject:
    """What an event is about: the intent to fetch, and what else of it (refunds, a dispute)."""

    intent_id: str
    refunds: bool = False
    dispute_id: str | None = None


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def subject_of(event: dict[str, Any]) -> Subject | None:
    """Which objects a handled event names; None if it names no intent."""
    event_type, obj = event["type"], event["data"]["object"]
    if event_type in PAYMENT_INTENT_TYPES:
        intent_id = _id_of(obj.get("id"))
        return Subject(intent_id) if intent_id else None
    intent_id = _id_of(obj.get("payment_intent"))
    if intent_id is None:
        return None
    if event_type in REFUND_TYPES:
        return Subject(intent_id, refunds=True)
    return Subject(intent_id, dispute_id=_id_of(obj.get("id")))


class WebhookProcessor:
    def __init__(self, repository: PaymentRepository, gateway: PaymentGateway) -> None:
        self.repository = repository
        self.gateway = gateway

    def _dedup_put(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.repository.table_name,
                "Item": to_item(
                    {
                        "PK": f"WEBHOOK#{event['id']}",
                        "SK": "WEBHOOK",
                        "type": event["type"],
                        "ttl": int((clock.now() + DEDUP_RETENTION).timestamp()),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def note_deferred(self, event: dict[str, Any], reason: str) -> None:
        """Counts a delivery answered "deliver again" on the event's ``DEFERRED#`` item, which the
        reconciler's index lists (open_items): one still unapplied when Stripe's retries can have ended
        is counted there (metric ``WebhookDeferredUnapplied``). Bookkeeping never changes the answer."""
        now = clock.now()
        try:
            dynamodb_client().update_item(
                TableName=self.repository.table_name,
                Key=to_item({"PK": f"DEFERRED#{event['id']}", "SK": "DEFERRED"}),
                UpdateExpression="SET event_type = :type, reason = :reason, last_deferred_at = :now, #ttl = :ttl, "
                "recon_pk = :pk, recon_at = if_not_exists(recon_at, :now) ADD deliveries :one",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=to_item(
                    {
                        ":type": event["type"],
                        ":reason": reason,
                        ":now": clock.iso(now),
                        ":ttl": int((now + DEDUP_RETENTION).timestamp()),
                        ":pk": open_items.DEFERRED,
                        ":one": 1,
                    }
                ),
            )
        except ClientError:
            logger.warning("could not count a deferred webhook", extra={"event_id": event["id"]})
        metrics.add_metric(name="WebhookDeferred", unit="Count", value=1)

    def _fetch(self, subject: Subject) -> ProviderState | None:
        """The provider's current state of what the event names; None if it holds no such intent."""
        try:
            intent = self.gateway.retrieve_intent(subject.intent_id)
            refunds = self.gateway.list_refunds(intent.id) if subject.refunds else None
            dispute = self.gateway.retrieve_dispute(subject.dispute_id) if subject.dispute_id else None
        except ProviderRejected:
            return None  # no such object at the provider: a signed event about nothing there
        except ApiError:
            # The provider is unreachable or failing: not a 2xx, so Stripe delivers the event again.
            logger.warning("webhook could not fetch from the provider", extra={"intent_id": subject.intent_id})
            raise DELIVER_AGAIN from None
        return ProviderState(intent, refunds, dispute)

    def _owner(self, state: ProviderState) -> tuple[str, str] | None:
        """The payment the intent belongs to: by the link its create wrote, else by the intent's own
        metadata as the provider holds it (checked against the payment before anything is applied)."""
        linked = self.repository.find_by_provider_id(state.intent.id)
        if linked is not None:
            return linked
        metadata = state.intent.metadata
        if metadata.get("payment_id") and metadata.get("user_id"):
            return metadata["user_id"], metadata["payment_id"]
        return None

    def process(self, event: dict[str, Any]) -> str:
        """Applies one verified event; returns what happened (for the log)."""
        if event.get("object") == THIN_EVENT_OBJECT:
            logger.warning("thin event acknowledged, not applied", extra={"event_id": event["id"]})
            metrics.add_metric(name="WebhookThinEventIgnored", unit="Count", value=1)
            return "ignored"
        event_type = event["type"]
        if event_type not in HANDLED_TYPES:
            return "ignored"
        subject = subject_of(event)
        try:
            state = self._fetch(subject) if subject is not None else None
        except ApiError:
            self.note_deferred(event, "provider unreachable")
            raise
        if state is None:
            logger.error("webhook for an object the provider does not hold", extra={"event_id": event["id"]})
            metrics.add_metric(name="ProviderStateMismatch", unit="Count", value=1)
            return "unknown_payment"
        owner = self._owner(state)
        if owner is None:
            logger.warning("webhook for an unknown payment", extra={"event_id": event["id"], "type": event_type})
            return "unknown_payment"
        try:
            stored = self.repository.update(
                *owner, lambda payment: provider_state_change(payment, state), extra_items=[self._dedup_put(event)]
            )
        except DuplicateDelivery:
            return "duplicate"
        except NotRecordableYet as reason:
            # Not remembered either: the redelivery is applied once the payment can take it.
            logger.warning(
                "webhook deferred", extra={"event_id": event["id"], "type": event_type, "reason": str(reason)}
            )
            self.note_deferred(event, str(reason))
            raise DELIVER_AGAIN from None
        return "applied" if stored is not None else "unknown_payment"


@functools.cache
def webhook_processor() -> WebhookProcessor:
    """The processor on the function's table and Stripe account, once per container (no payment
    service: the webhook neither creates nor refunds, so it loads no idempotency layer)."""
    return WebhookProcessor(payment_repository(), default_gateway())
