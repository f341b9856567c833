"""What the provider's state of a payment changes in ours: pure functions from a stored payment and
what the provider holds now to a new payment and the events it causes (``Change``), or None.

Every path that learns something from the provider goes through here: the create, capture, cancel
and refund calls' answers, and the webhook, which fetches the provider's current objects rather than
trusting an event's snapshot (``provider_state_change``). An object that is not the payment's own is
never applied: it is logged as an error and counted (metric ``ProviderStateMismatch``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

from payments_core import clock
from payments_core.observability import logger, metrics
from payments_core.payments import lifecycle
from payments_core.payments.models import (
    DISPUTE_APPEAL_STATUSES,
    DISPUTE_CHARGEBACK_STATUSES,
    Change,
    Dispute,
    Payment,
    Refund,
    RefundReason,
)
from payments_core.payments.outbox import EVENT_FOR_STATUS

if TYPE_CHECKING:  # annotations only: a function that never talks to a provider (OTP send) builds none of its models
    from payments_core.payments.provider import ProviderIntent
    from payments_core.payments.provider_records import ProviderDispute, ProviderRefund

# A payment's refunds live in its item (one conditional write keeps them within the captured amount),
# and a DynamoDB item holds at most 400 KB: about 1,000 refunds. The cap keeps the largest payment
# (tests/unit/test_item_size.py) far below that, and its bus events below EventBridge's 256 KB.
MAX_REFUNDS_PER_PAYMENT = 100

_REFUND_REASONS: frozenset[str] = frozenset(get_args(RefundReason))
# A provider refund's status (each provider maps its own onto these) as a refund's of ours.
_REFUND_STATUS = {"pending": "pending", "succeeded": "succeeded", "failed": "failed"}


def operation_id(prefix: str, *parts: str) -> str:
    """A stable id for one client operation, so a retry after a crash finds what the first try did."""
    return f"{prefix}_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def stamped(payment: Payment, **changes: Any) -> Payment:
    return payment.model_copy(update={**changes, "updated_at": clock.iso(clock.now())}, deep=True)


def mismatch(payment_id: str, problem: str, **fields: Any) -> None:
    """An object the provider holds that is not what our payment is: never applied, always seen."""
    logger.error(problem, extra={"payment_id": payment_id, **fields})
    metrics.add_metric(name="ProviderStateMismatch", unit="Count", value=1)


# --- the intent ------------------------------------------------------------------------------------
def intent_change(payment: Payment, intent: ProviderIntent, *, decline_code: str | None = None) -> Change | None:
    """What the provider's view of the intent changes in ours; None when nothing moves forward."""
    new_status = None if intent.status == "pending" else intent.status
    updates: dict[str, Any] = {}
    if payment.provider_payment_id is None:
        updates["provider_payment_id"] = intent.id
    if new_status is None or not lifecycle.can_move(payment.status, new_status):
        return Change(stamped(payment, **updates)) if updates else None
    updates |= {
        "status": new_status,
        "next_action": intent.next_action if new_status == "requires_action" else None,
        "client_secret": intent.client_secret if new_status == "requires_action" else None,
    }
    if new_status == "succeeded":
        received = intent.amount_received or intent.amount
        if received > payment.amount:
            mismatch(
                payment.payment_id,
                "the provider reports more received than the payment's amount",
                intent_id=intent.id,
                amount_received=received,
                amount=payment.amount,
            )
        # Never more than the payment asked for, whatever the provider reports.
        updates["amount_captured"] = min(received, payment.amount)
    if new_status == "failed":
        updates["decline_code"] = decline_code or intent.decline_code or payment.decline_code or "payment_failed"
    kind = EVENT_FOR_STATUS.get(new_status)
    return Change(stamped(payment, **updates), [(kind, None)] if kind else [])


def intent_problem(payment: Payment, intent: ProviderIntent) -> str | None:
    """Why ``intent`` is not this payment's own, or None. A payment with an intent id takes news of that
    intent only; one without takes an intent made for it (its metadata names this payment and user, with
    its amount and currency), and never while it waits for its one-time code (only the confirmation
    after a verified code makes its intent)."""
    if payment.provider_payment_id is not None:
        return None if payment.provider_payment_id == intent.id else "webhook for another intent"
    if payment.status == "requires_otp":
        return "webhook for a payment still waiting for its one-time code"
    if intent.metadata.get("payment_id") != payment.payment_id or intent.metadata.get("user_id") != payment.user_id:
        return "webhook for an intent made for another payment"
    if intent.amount != payment.amount or (intent.currency or "").lower() != payment.currency:
        return "webhook for an intent of another amount or currency"
    return None


# --- refunds ---------------------------------------------------------------------------------------
def reserving(payment: Payment, refund: Refund) -> Payment:
    """The payment holding a new pending refund, its amount reserved against the captured amount."""
    updated = stamped(payment, amount_reserved=payment.amount_reserved + refund.amount)
    updated.refunds[refund.refund_id] = refund
    return updated


# The failure of a refund the reconciler found the provider never received (``reconciler``).
NOT_SENT = "not_sent"


class NotRecordableYet(Exception):
    """A refund the provider made that our store cannot take yet: the payment has not moved money in
    our view, or our own pending refunds still reserve what it refunded. Nothing is written; the
    webhook answers non-2xx so Stripe delivers it again later."""


def refund_change(
    payment: Payment,
    refund_id: str,
    provider_status: str,
    provider_refund_id: str | None,
    *,
    failure_reason: str | None = None,
) -> Change | None:
    """A refund's status as the provider reports it: pending -> succeeded | failed, and succeeded ->
    failed when the provider reverses a refund that had gone through (the money came back)."""
    refund = payment.refunds.get(refund_id)
    if refund is None:
        return None
    new_status = _REFUND_STATUS.get(provider_status)
    updated = stamped(payment)
    stored = updated.refunds[refund_id]
    # Whatever the provider's answer changes, nothing is left to send: the refund's lease ends with it.
    stored.lease_holder = stored.lease_until = None
    changed = False
    if provider_refund_id and stored.provider_refund_id is None:
        stored.provider_refund_id = provider_refund_id
        changed = True
    if refund.status == "succeeded" and new_status == "failed":
        stored.status = "failed"
        stored.failed_after_success = True
        stored.failure_reason = failure_reason
        updated.amount_refunded -= refund.amount
        updated.amount_reserved -= refund.amount
        # The one way back: what the reversed refund had taken is captured money again.
        updated.status = lifecycle.status_after_refunds(  # type: ignore[assignment]
            "succeeded", updated.amount_captured, updated.amount_refunded
        )
        return Change(updated, [("RefundFailed", stored)])
    if refund.status == "failed" and refund.failure_reason == NOT_SENT and new_status in ("pending", "succeeded"):
        return _made_after_all(updated, stored, new_status)
    if refund.status != "pending" or new_status in (None, "pending"):
        return Change(updated) if changed else None
    stored.status = new_status  # type: ignore[assignment]
    if new_status == "succeeded":
        updated.amount_refunded += refund.amount
        updated.status = lifecycle.status_after_refunds(  # type: ignore[assignment]
            updated.status, updated.amount_captured, updated.amount_refunded
        )
        return Change(updated, [("RefundSucceeded", stored)])
    stored.failure_reason = failure_reason
    updated.amount_reserved -= refund.amount
    return Change(updated, [("RefundFailed", stored)])


def _made_after_all(updated: Payment, stored: Refund, new_status: str) -> Change:
    """A refund failed as never sent that the provider shows made after all (an answer later than the
    reconciler's wait): the money moved, so it is reserved and counted again, and announced."""
    mismatch(updated.payment_id, "a refund failed as never sent reached the provider", refund_id=stored.refund_id)
    stored.status = "pending"
    stored.failure_reason = None
    updated.amount_reserved += stored.amount
    if updated.amount_reserved > updated.amount_captured:
        mismatch(updated.payment_id, "refunds reserve more than was captured", refund_id=stored.refund_id)
    if new_status != "succeeded":
        return Change(updated)
    stored.status = "succeeded"
    updated.amount_refunded += stored.amount
    updated.status = lifecycle.status_after_refunds(  # type: ignore[assignment]
        updated.status, updated.amount_captured, updated.amount_refunded
    )
    return Change(updated, [("RefundSucceeded", stored)])


def provider_refund_change(payment: Payment, provider_refund: ProviderRefund) -> Change | None:
    """A refund made at the provider but not through our API (Stripe's dashboard, its API directly):
    the money moved, so it is recorded like one of ours, under an id derived from the provider's, and
    goes to the bus, the ledger and the receipts. None when there is nothing to record (a refund that
    failed, of another currency, of no amount)."""
    status = _REFUND_STATUS.get(provider_refund.status)
    amount = provider_refund.amount
    if not provider_refund.id or status in (None, "failed") or amount <= 0:
        return None
    if (provider_refund.currency or payment.currency).lower() != payment.currency:
        mismatch(payment.payment_id, "provider refund in another currency", provider_refund_id=provider_refund.id)
        return None
    refund_id = operation_id("ref", payment.user_id, payment.payment_id, "provider", provider_refund.id)
    if refund_id in payment.refunds:
        return None  # recorded already (found by its provider id first)
    if payment.status not in lifecycle.MONEY_MOVED:
        raise NotRecordableYet("the payment has not succeeded here yet")
    if payment.amount_reserved + amount > payment.amount_captured:
        raise NotRecordableYet("our pending refunds still reserve what it refunded")
    if len(payment.refunds) >= MAX_REFUNDS_PER_PAYMENT:
        logger.error(
            "provider refund not recorded: the payment has the most refunds it can hold",
            extra={"payment_id": payment.payment_id, "provider_refund_id": provider_refund.id},
        )
        return None
    created = provider_refund.created
    reason = provider_refund.reason
    refund = Refund(
        refund_id=refund_id,
        payment_id=payment.payment_id,
        amount=amount,
        currency=payment.currency,
        status="pending",
        reason=reason if reason in _REFUND_REASONS else None,
        created_at=clock.iso(clock.from_epoch(created) if created is not None else clock.now()),
        provider_refund_id=provider_refund.id,
    )
    updated = reserving(payment, refund)
    if status == "pending":
        return Change(updated, [("RefundCreated", refund)])
    succeeded = refund_change(updated, refund.refund_id, "succeeded", provider_refund.id)
    assert succeeded is not None  # a pending refund always moves to succeeded
    return Change(succeeded.payment, [("RefundCreated", refund), *succeeded.events])


def provider_refund_state_change(payment: Payment, provider_refund: ProviderRefund) -> Change | None:
    """One refund of the payment's intent, as the provider holds it now, applied to ours."""
    if provider_refund.payment_intent not in (None, payment.provider_payment_id):
        mismatch(payment.payment_id, "webhook for a refund of another intent", provider_refund_id=provider_refund.id)
        return None
    ours = provider_refund.metadata.get("refund_id")
    by_provider_id = next(
        (rid for rid, r in payment.refunds.items() if r.provider_refund_id == provider_refund.id), None
    )
    refund_id = by_provider_id or (ours if ours in payment.refunds else None)
    if refund_id is None:
        if ours:
            mismatch(payment.payment_id, "webhook for a refund we do not hold", provider_refund_id=provider_refund.id)
            return None
        return provider_refund_change(payment, provider_refund)
    stored = payment.refunds[refund_id]
    if stored.provider_refund_id not in (None, provider_refund.id):
        mismatch(
            payment.payment_id,
            "webhook for another refund",
            refund_id=refund_id,
            provider_refund_id=provider_refund.id,
        )
        return None
    return refund_change(
        payment, refund_id, provider_refund.status, provider_refund.id, failure_reason=provider_refund.failure_reason
    )


# --- disputes --------------------------------------------------------------------------------------
def dispute_change(payment: Payment, provider_dispute: ProviderDispute) -> Change | None:
    """A dispute of the payment's charge, as the provider holds it now: opened, funds withdrawn, funds
    reinstated and closed are each announced once, in that order, however the provider's events come."""
    if provider_dispute.payment_intent != payment.provider_payment_id:
        mismatch(payment.payment_id, "webhook for a dispute of another intent", dispute_id=provider_dispute.id)
        return None
    stored = payment.dispute
    if stored is not None and stored.dispute_id != provider_dispute.id:
        mismatch(payment.payment_id, "webhook for another dispute", dispute_id=provider_dispute.id)
        return None
    if payment.status not in lifecycle.MONEY_MOVED:
        raise NotRecordableYet("the payment has not succeeded here yet")
    if stored is not None and stored.read_at and provider_dispute.read_at and provider_dispute.read_at < stored.read_at:
        # Read before what is stored was: it may say what the dispute no longer is (lost, read before a
        # concurrent delivery wrote its appeal), and has nothing the later read did not (amounts only grow).
        return None
    ceiling = payment.amount_captured
    if max(provider_dispute.amount, provider_dispute.withdrawn) > ceiling:
        mismatch(payment.payment_id, "the provider disputes more than was captured", dispute_id=provider_dispute.id)
    withdrawn = max(min(provider_dispute.withdrawn, ceiling), stored.amount_withdrawn if stored else 0)
    reinstated = max(min(provider_dispute.reinstated, withdrawn), stored.amount_reinstated if stored else 0)
    if stored is not None and 0 < stored.amount_reinstated < reinstated:
        # The ledger keeps one reversal per dispute (``events.movement_of``): a second step (the rest
        # of a dispute partly reinstated when lost, won on appeal) is for on-call to book by hand.
        mismatch(payment.payment_id, "a dispute reinstated in a second step", dispute_id=provider_dispute.id)
    status, appealed = dispute_status(stored, provider_dispute.status)
    dispute = Dispute(
        dispute_id=provider_dispute.id,
        status=status,
        amount=min(provider_dispute.amount, ceiling),
        currency=payment.currency,
        reason=provider_dispute.reason,
        amount_withdrawn=withdrawn,
        amount_reinstated=reinstated,
        charge_refundable=provider_dispute.charge_refundable,
        appealed=appealed,
        read_at=max(provider_dispute.read_at or 0, (stored.read_at if stored else None) or 0) or None,
        created_at=stored.created_at
        if stored
        else clock.iso(clock.from_epoch(provider_dispute.created) if provider_dispute.created else clock.now()),
    )
    if dispute == stored:
        return None
    if stored is not None and dispute.model_copy(update={"read_at": stored.read_at}) == stored:
        # Only the read is later: its time is kept (no event, ``updated_at`` unmoved), so a slower read
        # that began before it and saw the dispute as it was in between (appealed, since lost again)
        # is not applied after it.
        return Change(payment.model_copy(update={"dispute": dispute}), [])
    events: list[tuple[str, Refund | None]] = []
    if stored is None:
        events.append(("DisputeOpened", None))
    if withdrawn > (stored.amount_withdrawn if stored else 0):
        events.append(("DisputeFundsWithdrawn", None))
    if reinstated > (stored.amount_reinstated if stored else 0):
        events.append(("DisputeFundsReinstated", None))
    if dispute.closed and not (stored and stored.closed and stored.status == dispute.status):
        events.append(("DisputeClosed", None))  # again when an appeal closes it with another outcome
    return Change(stamped(payment, dispute=dispute), events)


def dispute_status(stored: Dispute | None, provider_status: str) -> tuple[str, bool]:
    """The dispute's status to keep, and whether it was appealed: the provider's, unless a read that
    would move it back (a closed dispute stays closed), except the ways Stripe reopens one: a lost
    dispute appealed (``appeal_*``, then won or lost) and an inquiry closed without a chargeback that
    becomes one after all."""
    if stored is None:
        return provider_status, provider_status in DISPUTE_APPEAL_STATUSES
    appealing = provider_status in DISPUTE_APPEAL_STATUSES
    if stored.status in DISPUTE_APPEAL_STATUSES:
        # Needing a response, then under review, then decided: never back
        moves_on = provider_status in ("won", "lost", "appeal_under_review")
        return (provider_status if moves_on else stored.status), True
    if not stored.closed:
        return provider_status, appealing
    if stored.status == "lost" and not stored.appealed and (appealing or provider_status == "won"):
        return provider_status, True  # the appeal, or its outcome when its own statuses went unseen
    if stored.status == "warning_closed" and provider_status in DISPUTE_CHARGEBACK_STATUSES:
        return provider_status, stored.appealed
    return stored.status, stored.appealed


# --- everything the provider holds about a payment -------------------------------------------------
class ProviderState(NamedTuple):  # not a dataclass: cheaper to create in init
    """What the provider holds now about one payment: its intent and, when fetched, the intent's
    refunds and a dispute of its charge. Fetched from the provider, never taken from an event."""

    intent: ProviderIntent
    refunds: list[ProviderRefund] | None = None
    dispute: ProviderDispute | None = None


def provider_state_change(
    payment: Payment, state: ProviderState, *, held_back: list[str] | None = None
) -> Change | None:
    """Ours brought to the provider's state: the intent first (a capture before its refunds), then
    refunds that failed (releasing what they reserved), the others, and the dispute. None when the
    intent is not the payment's own (logged and counted) or nothing changes.

    A refund of the provider's that ours cannot take yet (``NotRecordableYet``) stops the whole change,
    unless the caller passes ``held_back``: then that refund is left out, why is appended there, and
    the rest is applied (the refunds of ours it would otherwise hold up among them); if nothing else
    changes, ``NotRecordableYet`` is raised all the same."""
    problem = intent_problem(payment, state.intent)
    if problem is not None:
        mismatch(payment.payment_id, problem, intent_id=state.intent.id)
        return None
    current = payment
    events: list[tuple[str, Refund | None]] = []

    def step(change: Change | None) -> None:
        nonlocal current
        if change is not None:
            current = change.payment
            events.extend(change.events)

    step(intent_change(current, state.intent))
    failed_first = sorted(state.refunds or [], key=lambda r: (_REFUND_STATUS.get(r.status) != "failed", r.created or 0))
    for provider_refund in failed_first:
        try:
            step(provider_refund_state_change(current, provider_refund))
        except NotRecordableYet as reason:
            if held_back is None:
                raise
            held_back.append(str(reason))
    if state.dispute is not None:
        step(dispute_change(current, state.dispute))
    if current is payment:
        if held_back:
            raise NotRecordableYet(held_back[0])
        return None
    return Change(current, events)


# --- local decisions -------------------------------------------------------------------------------
def capturable(payment: Payment) -> bool:
    return payment.status == "requires_capture" and payment.provider_payment_id is not None


def cancelable(payment: Payment) -> bool:
    return payment.status in lifecycle.CANCELABLE


def cancel_locally(payment: Payment) -> Change | None:
    """Cancels a payment the provider never saw (one still waiting for its one-time code); nothing
    once a verified code has moved it on (its confirmation may already be talking to the provider)."""
    if payment.status != "requires_otp":
        return None
    canceled = stamped(payment, status="canceled", next_action=None, client_secret=None)
    return Change(canceled, [("PaymentCanceled", None)])


# --- the reconciler's own decisions ----------------------------------------------------------------
# Why a payment failed when its attempt to create the intent never reached the provider.
NEVER_REACHED_PROVIDER = "provider_not_reached"


def never_reached(payment: Payment, lease: str) -> Change | None:
    """Fails a payment whose attempt to create its intent never reached the provider: the reconciler
    holds its lease (so no retry is creating one meanwhile) and the provider holds no intent made for
    it. ``PaymentFailed`` tells the customer; nothing moved, so the ledger has nothing to write."""
    if payment.status != "processing" or payment.provider_payment_id is not None or payment.lease_holder != lease:
        return None
    failed = stamped(payment, status="failed", decline_code=NEVER_REACHED_PROVIDER, lease_holder=None, lease_until=None)
    return Change(failed, [("PaymentFailed", None)])


def code_expired(payment: Payment) -> Change | None:
    """Cancels a payment still waiting for a one-time code after its code expired (plus a grace
    period, the reconciler's): no payment waits for a code forever. ``PaymentCanceled``."""
    return cancel_locally(payment)


def looked(payment: Payment, until: int) -> Change:
    """A reconciler's look that changed nothing: not again before ``until`` (epoch seconds). No event,
    and ``updated_at`` stays: nothing about the payment changed for its owner."""
    later = payment.model_copy(
        update={
            "reconcile_after": until,
            "reconcile_looks": payment.looks_since_change() + 1,
            "reconcile_seen": payment.updated_at,
        }
    )
    return Change(later)
