"""The API edge of the payment operations: what each one returns, as the outcome the client is
answered (a retry with the same ``Idempotency-Key`` is answered the payment or refund as it is now).
The domain returns payments and refunds and raises domain errors; only here do they become statuses
and bodies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from payments_core.api import error_outcome
from payments_core.errors import Conflict
from payments_core.idempotency_keys import Outcome, in_progress_deadline
from payments_core.payments.leases import PROVIDER_CALL_IN_PROGRESS
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


def patiently[T](call: Callable[[], T], context: Any = None, *, waits_for: Conflict = PROVIDER_CALL_IN_PROGRESS) -> T:
    """``call``, tried again while an earlier request with the same key still holds the provider-call
    lease (``waits_for``: a payment's creation meets its own key's lease only; a capture, cancel or
    refund waits for its key's, ``KEY_IN_PROGRESS``, not another key's): for up to 8 s, within the
    Lambda's remaining time; then the conflict stands."""
    deadline = in_progress_deadline(context)
    while True:
        try:
            return call()
        except Conflict as conflict:
            if conflict is not waits_for or time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
