"""Stripe webhook deliveries: verified on the raw body first, then de-duplicated by event id in the
same transaction as the state change they cause, which only ever moves forward."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from payments_core import clock
from payments_core.dynamo import to_item
from payments_core.errors import ApiError
from payments_core.observability import logger
from payments_core.payments.gateway import ProviderIntent
from payments_core.payments.models import Payment
from payments_core.payments.repository import Change, DuplicateDelivery, PaymentRepository
from payments_core.payments.service import (
    NotRecordableYet,
    intent_change,
    provider_refund_change,
    refund_change,
    stamped,
)

SIGNATURE_TOLERANCE_SECONDS = 300
DEDUP_RETENTION = timedelta(days=30)  # Stripe retries deliveries for up to 3 days

INVALID_SIGNATURE = ApiError(400, "invalid_signature", "The webhook signature is missing or not valid.")
# Any answer but a 2xx makes Stripe deliver the event again, with backoff, for up to 3 days.
DELIVER_AGAIN = ApiError(500, "internal_error", "The event cannot be applied yet; it will be delivered again.")

HANDLED_TYPES = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.canceled",
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
        "refund.failed",
        "charge.dispute.created",
    }
)


class _StripeRefund(BaseModel):
    id: str
    status: str | None = None
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None
    created: int | None = None
    payment_intent: str | dict[str, Any] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class _StripeRefundList(BaseModel):
    data: list[_StripeRefund] = Field(default_factory=list)


class _StripeObject(BaseModel):
    """The fields of a handled event's object that we read, as Stripe types them; the rest is ignored."""

    id: str
    object: str | None = None
    status: str | None = None
    metadata: dict[str, str] | None = None
    amount: int | None = None
    amount_received: int | None = None
    amount_refunded: int | None = None
    currency: str | None = None
    reason: str | None = None
    created: int | None = None
    payment_intent: str | dict[str, Any] | None = None
    next_action: dict[str, Any] | None = None
    client_secret: str | None = None
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


class WebhookProcessor:
    def __init__(self, repository: PaymentRepository) -> None:
        self.repository = repository

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

    def _locate(self, obj: dict[str, Any]) -> tuple[str, str] | None:
        metadata = obj.get("metadata") or {}
        if metadata.get("payment_id") and metadata.get("user_id"):
            return str(metadata["user_id"]), str(metadata["payment_id"])
        intent_id = obj.get("payment_intent") if obj.get("object") != "payment_intent" else obj.get("id")
        if isinstance(intent_id, dict):
            intent_id = intent_id.get("id")
        return self.repository.find_by_provider_id(str(intent_id)) if intent_id else None

    def process(self, event: dict[str, Any]) -> str:
        """Applies one verified event; returns what happened (for the log)."""
        event_type = event["type"]
        obj = event["data"]["object"]
        if event_type not in HANDLED_TYPES:
            return "ignored"
        owner = self._locate(obj)
        if owner is None:
            logger.warning("webhook for an unknown payment", extra={"event_id": event["id"], "type": event_type})
            return "unknown_payment"
        mutate = self._mutation(event_type, obj)
        try:
            stored = self.repository.update(*owner, mutate, extra_items=[self._dedup_put(event)])
        except DuplicateDelivery:
            return "duplicate"
        except NotRecordableYet as reason:
            # Not remembered either: the redelivery is applied once the payment can take it.
            logger.warning(
                "webhook deferred", extra={"event_id": event["id"], "type": event_type, "reason": str(reason)}
            )
            raise DELIVER_AGAIN from None
        return "applied" if stored is not None else "unknown_payment"

    @staticmethod
    def _mutation(event_type: str, obj: dict[str, Any]) -> Callable[[Payment], Change | None]:
        if event_type.startswith("payment_intent."):
            intent = ProviderIntent(
                id=obj["id"],
                status="requires_payment_method"
                if event_type == "payment_intent.payment_failed"
                else obj.get("status") or "",
                amount=int(obj.get("amount") or 0),
                amount_received=int(obj.get("amount_received") or 0),
                next_action=obj.get("next_action"),
                client_secret=obj.get("client_secret"),
            )
            error = obj.get("last_payment_error") or {}
            decline = error.get("decline_code") or error.get("code")

            def follow_intent(payment: Payment) -> Change | None:
                if payment.provider_payment_id not in (None, intent.id):
                    # Not this payment's intent, whatever its metadata says: its status and amount say
                    # nothing about ours. Remembered (no redelivery) and logged for a person to look at.
                    logger.error(
                        "webhook for another intent",
                        extra={"payment_id": payment.payment_id, "intent_id": intent.id},
                    )
                    return None
                return intent_change(payment, intent, decline_code=decline)

            return follow_intent
        if event_type == "charge.dispute.created":

            def dispute(payment: Payment) -> Change | None:
                if payment.disputed:
                    return None
                return Change(stamped(payment, disputed=True), [("DisputeOpened", None)])

            return dispute
        if event_type == "charge.refunded":
            # The charge's refunds, each of the charge's intent and currency where it does not say.
            of_charge = {"payment_intent": obj.get("payment_intent"), "currency": obj.get("currency")}
            listed = (obj.get("refunds") or {}).get("data") or []
            refunds = [of_charge | {k: v for k, v in refund.items() if v is not None} for refund in listed]
        else:
            refunds = [obj]
        forced_failure = event_type == "refund.failed"

        def apply_refunds(payment: Payment) -> Change | None:
            current = payment
            events: list[Any] = []
            for refund in refunds:
                refund_id = (refund.get("metadata") or {}).get("refund_id") or next(
                    (rid for rid, r in current.refunds.items() if r.provider_refund_id == refund.get("id")), None
                )
                status = "failed" if forced_failure else str(refund.get("status") or "")
                if refund_id is None:
                    # Made at the provider, not through our API (no id of ours in its metadata): the
                    # money moved all the same, so it is recorded, once, if it is of this intent.
                    if not _of_intent(current, refund):
                        continue
                    change = provider_refund_change(current, refund, status)
                elif not _is_ours(current, refund_id, refund):
                    continue
                else:
                    change = refund_change(current, refund_id, status, refund.get("id"))
                if change is not None:
                    current = change.payment
                    events.extend(change.events)
            _check_charge_total(current, obj if event_type == "charge.refunded" else None)
            return Change(current, events) if current is not payment else None

        return apply_refunds


def _check_charge_total(payment: Payment, charge: dict[str, Any] | None) -> None:
    """A charge that says more was refunded than all our refunds not failed: refunds we cannot see.
    On API versions from 2022-11-15 to 2024-10-28 a charge lists no refunds and a dashboard refund
    sends no ``refund.*`` event, so this log line is all there is for a person to reconcile."""
    if charge is None or _intent_of(charge) != payment.provider_payment_id:
        return
    refunded_there = charge.get("amount_refunded")
    if type(refunded_there) is int and refunded_there > payment.amount_reserved:
        logger.error(
            "the provider refunded more than we hold",
            extra={
                "payment_id": payment.payment_id,
                "amount_refunded_at_provider": refunded_there,
                "amount_reserved": payment.amount_reserved,
            },
        )


def _intent_of(refund: dict[str, Any]) -> Any:
    intent = refund.get("payment_intent")
    return intent.get("id") if isinstance(intent, dict) else intent


def _of_intent(payment: Payment, refund: dict[str, Any]) -> bool:
    """Whether a refund made at the provider is of this payment's intent: it must say so."""
    if payment.provider_payment_id is not None and _intent_of(refund) == payment.provider_payment_id:
        return True
    logger.error(
        "webhook for a refund of another intent",
        extra={"payment_id": payment.payment_id, "provider_refund_id": refund.get("id")},
    )
    return False


def _is_ours(payment: Payment, refund_id: str, refund: dict[str, Any]) -> bool:
    """Whether a provider refund is the one we hold as ``refund_id``, of this payment's intent: an
    event about another refund or intent says nothing about ours, whatever its metadata names."""
    stored = payment.refunds.get(refund_id)
    intent_id = _intent_of(refund)
    if stored is None:
        return False
    if stored.provider_refund_id not in (None, refund.get("id")) or intent_id not in (
        None,
        payment.provider_payment_id,
    ):
        logger.error(
            "webhook for another refund",
            extra={"payment_id": payment.payment_id, "refund_id": refund_id, "provider_refund_id": refund.get("id")},
        )
        return False
    return True
