"""What a payment event on the bus says (its ``detail``), and which money movement it reports."""

from typing import Any

from pydantic import BaseModel


class PaymentEventDetail(BaseModel):
    event_id: str
    event_version: int
    occurred_at: str
    user_id: str
    payment: dict[str, Any]
    refund: dict[str, Any] | None = None


def movement_of(detail_type: str, detail: PaymentEventDetail) -> str | None:
    """What an event reports, named once: a payment's charge or its failure, one refund (made, or
    reversed by the provider after it succeeded), or the money a dispute withdrew or reinstated.

    Consumers key their effects on it rather than on ``event_id``: two events about one movement
    (an outbox item written twice, say) must still make one ledger entry and one email."""
    payment_id = detail.payment["payment_id"]
    if detail_type == "PaymentSucceeded":
        return f"charge:{payment_id}"
    if detail_type == "PaymentFailed":
        return f"failed:{payment_id}"
    if detail_type == "RefundSucceeded" and detail.refund is not None:
        return f"refund:{detail.refund['refund_id']}"
    if detail_type == "RefundFailed" and detail.refund is not None:
        # A refund reversed after it succeeded moved money back; one that never went through did not.
        kind = "refund_failure" if detail.refund.get("failed_after_success") else "refund_not_made"
        return f"{kind}:{detail.refund['refund_id']}"
    dispute = detail.payment.get("dispute") or {}
    if detail_type == "DisputeFundsWithdrawn" and dispute:
        return f"dispute:{dispute['dispute_id']}"
    if detail_type == "DisputeFundsReinstated" and dispute:
        return f"dispute_reversal:{dispute['dispute_id']}"
    return None


def moved_amount(kind: str, detail: PaymentEventDetail) -> int:
    """How much a movement of ``kind`` (see ``movement_of``) moved."""
    if kind == "charge":
        return charged_amount(detail.payment)
    if kind in ("refund", "refund_failure"):
        return int((detail.refund or {})["amount"])
    dispute = detail.payment["dispute"]
    return int(dispute["amount_withdrawn"] if kind == "dispute" else dispute["amount_reinstated"])


def charged_amount(payment: dict[str, Any]) -> int:
    """What a succeeded payment moved: a hold captured in part charges the part. Events published
    before the payment object carried ``amount_captured`` charge the whole amount, as they did."""
    return int(payment.get("amount_captured") or payment["amount"])
