"""Receipt emails for succeeded, failed and refunded payments, sent with SES."""

from __future__ import annotations

from typing import Any

from payments_core.auth.repository import AccountStore
from payments_core.currencies import format_amount
from payments_core.events import PaymentEventDetail, charged_amount
from payments_core.mailer import send_email

RECEIPT_EVENTS = {"PaymentSucceeded", "PaymentFailed", "RefundSucceeded", "RefundFailed"}


def receipt(detail_type: str, detail: PaymentEventDetail) -> tuple[str, str]:
    payment = detail.payment
    # A receipt states what was charged (a hold captured in part: the part); a failure what was tried.
    amount = charged_amount(payment) if detail_type == "PaymentSucceeded" else int(payment["amount"])
    total = format_amount(amount, str(payment["currency"]))
    reference = f"Payment {payment['payment_id']}"
    if payment.get("description"):
        reference += f" ({payment['description']})"
    if detail_type == "PaymentSucceeded":
        return f"Receipt: {total} paid", f"{reference}: {total} was paid on {detail.occurred_at}."
    if detail_type == "PaymentFailed":
        return f"Payment of {total} failed", f"{reference}: the payment of {total} did not go through."
    refund = detail.refund or {}
    refunded = format_amount(int(refund.get("amount", 0)), str(payment["currency"]))
    if detail_type == "RefundFailed":
        return (
            f"Refund of {refunded} did not go through",
            f"{reference}: the refund of {refunded} did not go through, and the money was not returned to you. "
            "Contact us to be refunded another way.",
        )
    return f"Refund: {refunded}", f"{reference}: {refunded} was refunded to you on {detail.occurred_at}."


def send_receipt(
    *,
    table_name: str,
    sender: str,
    detail_type: str,
    detail: PaymentEventDetail,
    accounts: AccountStore | None = None,
) -> dict[str, Any]:
    """Sends the receipt for one event; returns what was sent (never secrets: none are in events)."""
    if detail_type not in RECEIPT_EVENTS:
        return {"sent": False}
    if detail_type == "RefundFailed" and not (detail.refund or {}).get("failed_after_success"):
        return {"sent": False}  # it never went through: the customer was told nothing was refunded yet
    subject, body = receipt(detail_type, detail)
    sent = send_email(
        table_name=table_name, sender=sender, user_id=detail.user_id, subject=subject, body=body, accounts=accounts
    )
    return {"sent": sent, "subject": subject}
