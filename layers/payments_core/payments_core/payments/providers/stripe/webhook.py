"""Stripe's webhook deliveries: verified on the raw body with the SDK (any current secret, while one
is being rotated), checked to have the shape Stripe sends, and read as a ``Notice``: which objects
the event names. Nothing else of the event is believed: the domain fetches those objects."""

import json
import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from payments_core.errors import BadRequest
from payments_core.payments.provider import Notice

SIGNATURE_TOLERANCE_SECONDS = 300
INVALID_SIGNATURE = BadRequest("invalid_signature", "The webhook signature is missing or not valid.")

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


# A Stripe object id: its prefix, an underscore, letters and digits. Anything else in an id the
# processor fetches by (a path, 10,000 characters) is not Stripe's.
STRIPE_ID = re.compile(r"^[a-z]{2,5}_[A-Za-z0-9]{1,250}$")


def well_formed(event: dict[str, Any]) -> bool:
    """Whether a handled event's object has the shape Stripe sends: a signed body that does not (a
    metadata string, a refund list of numbers, an id that is not a Stripe id) is not a Stripe event, so
    a 400 ``invalid_signature``, and nothing is fetched by what it names (an id that is a path would
    name another resource; one of 10,000 characters made a 500)."""
    if event["type"] not in HANDLED_TYPES:
        return True
    try:
        _StripeObject.model_validate(event["data"]["object"])
    except ValidationError:
        return False
    obj = event["data"]["object"]
    named = [obj.get("id")] if event["type"] in PAYMENT_INTENT_TYPES else [obj.get("payment_intent")]
    if event["type"] in DISPUTE_TYPES:
        named.append(obj.get("id"))
    return all(_id_of(value) is None or STRIPE_ID.match(_id_of(value) or "") for value in named)


def verify(raw_body: str, signature: str | None, secrets: list[str]) -> dict[str, Any]:
    """The event, if ``signature`` is valid for ``raw_body`` under any current secret (rotation)."""
    from payments_core.payments.providers.stripe.sdk import stripe_sdk

    stripe = stripe_sdk()

    if not signature:
        raise INVALID_SIGNATURE
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(raw_body, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise INVALID_SIGNATURE
    try:
        event = json.loads(raw_body)
    except (ValueError, RecursionError):  # thousands of nested brackets: no Stripe event, not our fault
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


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def notice_of(event: dict[str, Any]) -> Notice:
    """What a verified event names, in our words."""
    created = event.get("created") if isinstance(event.get("created"), int) else None
    if event.get("object") == THIN_EVENT_OBJECT:
        return Notice(event["id"], str(event.get("type") or ""), thin=True, created=created)
    event_type, obj = event["type"], event["data"]["object"]
    if event_type not in HANDLED_TYPES:
        return Notice(event["id"], event_type, handled=False, created=created)
    if event_type in PAYMENT_INTENT_TYPES:
        metadata = obj.get("metadata") or {}  # a dict of strings (``well_formed``)
        user_id, payment_id = metadata.get("user_id"), metadata.get("payment_id")
        named = (user_id, payment_id) if user_id and payment_id else None
        return Notice(event["id"], event_type, intent_id=_id_of(obj.get("id")), created=created, named_payment=named)
    intent_id = _id_of(obj.get("payment_intent"))
    if event_type in REFUND_TYPES:
        return Notice(event["id"], event_type, intent_id=intent_id, refunds=True, created=created)
    return Notice(event["id"], event_type, intent_id=intent_id, dispute_id=_id_of(obj.get("id")), created=created)


def verified_notice(raw_body: str, signature: str | None, secrets: list[str]) -> Notice:
    """The notice of a delivery whose signature is valid under any of ``secrets``; else a 400."""
    return notice_of(verify(raw_body, signature, secrets))
