"""The outbox, carried on the payment item itself: a write that changes a payment also stores the events
the change causes (``outbox``: each event's id, type, refund and time), in the same conditional put. The
table's stream gives every write's new image to the outbox relay, which renders each event from the
payment as that write stored it and publishes it. No separate outbox items, no transaction: the state
change and its events are one item, so they are written together or not at all. The next write replaces
the list (its own events, or none), so an event is in exactly one write's image."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from payments_core import clock, keys
from payments_core.dynamo import from_item
from payments_core.payments import public_view

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

EVENT_FOR_STATUS: dict[str, DetailType] = {
    "succeeded": "PaymentSucceeded",
    "failed": "PaymentFailed",
    "canceled": "PaymentCanceled",
    "requires_action": "PaymentRequiresAction",
}


def event_detail(
    payment: Payment, refund: Refund | None, occurred_at: datetime | str, event_id: str | None = None
) -> dict[str, Any]:
    """The bus event's ``detail``: never a client secret, OTP, token or card data."""
    public_refund = refund.public() if refund else None
    return _detail(payment.user_id, payment.public(with_secret=False), public_refund, occurred_at, event_id)


def _detail(
    user_id: str,
    payment: dict[str, Any],
    refund: dict[str, Any] | None,
    occurred_at: datetime | str,
    event_id: str | None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or new_event_id(),
        "event_version": EVENT_VERSION,
        "occurred_at": occurred_at if isinstance(occurred_at, str) else clock.iso(occurred_at),
        "user_id": user_id,
        "payment": payment,
        "refund": refund,
    }


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(12)


def outbox_refs(events: Sequence[tuple[str, Refund | None]]) -> str | None:
    """The events of one change as the payment item carries them (a compact JSON list), or None."""
    if not events:
        return None
    at = clock.iso(clock.now())
    refs = [
        {"id": new_event_id(), "type": kind, "at": at, **({"refund": refund.refund_id} if refund else {})}
        for kind, refund in events
    ]
    return json.dumps(refs, separators=(",", ":"))


def rendered_events(doc: dict[str, Any], refs: str) -> list[tuple[str, dict[str, Any]]]:
    """The bus events a write carried: (detail type, detail), rendered from the payment document that
    write stored (plain dicts, public_view: the relay loads no model)."""
    events = []
    refunds = doc.get("refunds") or {}
    for ref in json.loads(refs):
        stored_refund = refunds.get(ref["refund"]) if "refund" in ref else None
        refund = public_view.public_refund(stored_refund) if stored_refund else None
        payment = public_view.public_payment(doc, with_secret=False)
        events.append((str(ref["type"]), _detail(str(doc["user_id"]), payment, refund, str(ref["at"]), str(ref["id"]))))
    return events


def events_written(image: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """What a write of the table carried for the relay, from its stream image (DynamoDB-typed): the
    payment document as it stored it (plain JSON, see repository.document) and its events' references
    (``outbox``); None when the write is not a payment's, or caused no event. No model is loaded."""
    item = from_item(image) if image else {}
    if not str(item.get("SK", "")).startswith(keys.PAYMENT) or not item.get("outbox"):
        return None
    return json.loads(str(item["doc"])), str(item["outbox"])
