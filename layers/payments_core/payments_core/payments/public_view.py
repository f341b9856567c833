"""The contract's payment object from a stored payment document, as plain dicts: the document as the
payment item's ``doc`` holds it (JSON, the models' defaults left out). The outbox relay renders every bus
event with it, so it loads no pydantic model (its cold start stays at Logger's). ``Payment.public()`` is
the reference shape; tests hold the two equal for payments in every state, and these defaults equal the
models' own."""

from __future__ import annotations

from typing import Any

# The models' defaults for the fields a client sees (models.Payment, models.Refund, models.Dispute).
PAYMENT_DEFAULTS: dict[str, Any] = {
    "amount_captured": 0,
    "amount_refunded": 0,
    "description": None,
    "metadata": {},
    "provider": "stripe",
    "provider_payment_id": None,
    "next_action": None,
    "client_secret": None,
    "dispute": None,
    "refunds": {},
}
REFUND_DEFAULTS: dict[str, Any] = {"reason": None, "failure_reason": None, "failed_after_success": False}
DISPUTE_DEFAULTS: dict[str, Any] = {"reason": None, "amount_withdrawn": 0, "amount_reinstated": 0}

PAYMENT_FIELDS = (
    "payment_id", "status", "amount", "currency", "amount_captured", "amount_refunded", "description",
    "metadata", "provider", "provider_payment_id", "next_action", "client_secret", "refunds", "dispute",
    "created_at", "updated_at",
)  # fmt: skip
REFUND_FIELDS = (
    "refund_id", "payment_id", "amount", "currency", "status", "reason", "failure_reason",
    "failed_after_success", "created_at",
)  # fmt: skip
DISPUTE_FIELDS = (
    "dispute_id", "status", "amount", "currency", "reason", "amount_withdrawn", "amount_reinstated", "created_at",
)  # fmt: skip


def public_refund(doc: dict[str, Any]) -> dict[str, Any]:
    full = {**REFUND_DEFAULTS, **doc}
    return {name: full[name] for name in REFUND_FIELDS}


def public_dispute(doc: dict[str, Any]) -> dict[str, Any]:
    full = {**DISPUTE_DEFAULTS, **doc}
    return {name: full[name] for name in DISPUTE_FIELDS}


def public_payment(doc: dict[str, Any], *, with_secret: bool = True) -> dict[str, Any]:
    """What ``Payment.public(with_secret=...)`` answers for the payment this document holds."""
    full = {**PAYMENT_DEFAULTS, **doc}
    out = {name: full[name] for name in PAYMENT_FIELDS}
    out["metadata"] = dict(out["metadata"])
    out["client_secret"] = full["client_secret"] if full["status"] == "requires_action" else None
    refunds = sorted(dict(full["refunds"]).values(), key=lambda refund: str(refund["created_at"]))
    out["refunds"] = [public_refund(refund) for refund in refunds]
    out["dispute"] = public_dispute(full["dispute"]) if full["dispute"] else None
    if not with_secret:
        del out["client_secret"]
    return out
