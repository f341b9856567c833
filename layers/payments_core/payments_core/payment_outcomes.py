"""The API edge of the payment operations: what each one returns, as the outcome the client is
answered (and that a retry with the same ``Idempotency-Key`` is replayed). The domain returns payments
and refunds and raises domain errors; only here do they become statuses and bodies."""

from __future__ import annotations

from payments_core.api import error_outcome
from payments_core.idempotency_keys import Outcome
from payments_core.payments.models import Payment, Refund
from payments_core.payments.service import failure_of


def payment_outcome(payment: Payment, status: int, request_id: str) -> Outcome:
    """A payment as answered: ``status`` with its public view, or why it failed (402, 422 or 502)."""
    failure = failure_of(payment)
    if failure is not None:
        return error_outcome(failure, request_id)
    return {"status": status, "body": payment.public()}


def refund_outcome(refund: Refund) -> Outcome:
    return {"status": 201, "body": refund.public()}
