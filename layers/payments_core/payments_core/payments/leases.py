"""The provider-call lease: one request at a time talks to the provider about a payment. A request
takes it with a conditional write before its call and ends it with the write of the call's answer;
it lapses on its own after ``LEASE_SECONDS``, past the timeout of every function that calls the
provider, so a request that died holding it cannot block the payment for longer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from payments_core import clock
from payments_core.errors import Conflict
from payments_core.payments.models import Change, Payment
from payments_core.payments.transitions import stamped

# Past the 20 s timeout of every function that calls the provider (create, OTP verify, capture, cancel).
LEASE_SECONDS = 30
PROVIDER_CALL_IN_PROGRESS = Conflict(
    "request_in_progress", "Another request is changing this payment at the provider. Retry shortly.", retry_after=1
)
# An earlier request with the same Idempotency-Key holds the lease: a retry waits for it (payment_outcomes.patiently).
KEY_IN_PROGRESS = Conflict(
    "request_in_progress", "A request with this Idempotency-Key is still in progress.", retry_after=1
)


def new_lease() -> str:
    """The id of one request's provider call (made at request time, never before a snapshot)."""
    return uuid.uuid4().hex


def leased(lease: str) -> dict[str, Any]:
    return {"lease_holder": lease, "lease_until": clock.epoch_seconds() + LEASE_SECONDS}


def live(lease_until: int | None) -> bool:
    """Whether a lease ending at ``lease_until`` may still be held by a running request."""
    return lease_until is not None and clock.epoch_seconds() < lease_until


def take_lease(payment: Payment, lease: str, *, count_attempt: bool = False, **record: Any) -> Change | None:
    """The provider-call lease for ``lease``, written with ``record`` (what the call is for: a capture's
    or cancel's ``settled_by``). Nothing to change if it is already ours (a write whose answer was lost
    and retried); a conflict while another request may still be talking to the provider."""
    if payment.lease_holder == lease:
        return None
    if live(payment.lease_until):
        raise PROVIDER_CALL_IN_PROGRESS
    attempts = payment.provider_attempts + (1 if count_attempt else 0)
    return Change(stamped(payment, provider_attempts=attempts, **leased(lease), **record))


def claim_confirmation(lease: str) -> Callable[[Payment], Change | None]:
    """Counts one attempt to create the intent and takes the lease for it; nothing when there is
    nothing to confirm (the payment moved on, or an intent is already linked)."""

    def claim(payment: Payment) -> Change | None:
        if payment.status != "processing" or payment.provider_payment_id is not None:
            return None
        return take_lease(payment, lease, count_attempt=True)

    return claim


def unleased(change: Change | None, current: Payment, lease: str) -> Change | None:
    """``change`` with the lease ended (or, with no change, just the lease ended if still ours)."""
    if change is None:
        return release_lease(lease)(current)
    if change.payment.lease_holder == lease:
        change.payment.lease_holder = change.payment.lease_until = None
    return change


def release_lease(lease: str, *, forget: bool = False) -> Callable[[Payment], Change | None]:
    """Ends the lease if it is still this request's; ``forget``: and the capture or cancel it was
    taken for (``settled_by``), which changed nothing at the provider, so its key may start afresh."""

    def release(payment: Payment) -> Change | None:
        if payment.lease_holder != lease:
            return None
        forgotten = {"settled_by": None, "settled_fingerprint": None} if forget else {}
        return Change(stamped(payment, lease_holder=None, lease_until=None, **forgotten))

    return release


# --- a refund's own lease: one request at a time sends a refund to the provider ----------------------
def take_refund_lease(payment: Payment, refund_id: str, lease: str, *, attempt: bool = True) -> Change | None:
    """The refund's provider-call lease for ``lease``, one more attempt counted with it (``attempt``: a
    request that will send it; the reconciler, which never does, only looks): nothing to change if it
    is already ours; ``in_progress`` while another request with the refund's key may be sending it."""
    refund = payment.refunds[refund_id]
    if refund.lease_holder == lease:
        return None
    if live(refund.lease_until):
        raise KEY_IN_PROGRESS
    updated = stamped(payment)
    taken = updated.refunds[refund_id]
    if attempt:
        taken.provider_attempts += 1
        taken.last_attempt_at = clock.epoch_seconds()
    taken.lease_holder, taken.lease_until = lease, clock.epoch_seconds() + LEASE_SECONDS
    return Change(updated)


def release_refund_lease(refund_id: str, lease: str) -> Callable[[Payment], Change | None]:
    """Ends the refund's lease if it is still this request's."""

    def release(payment: Payment) -> Change | None:
        refund = payment.refunds.get(refund_id)
        if refund is None or refund.lease_holder != lease:
            return None
        updated = stamped(payment)
        updated.refunds[refund_id].lease_holder = updated.refunds[refund_id].lease_until = None
        return Change(updated)

    return release
