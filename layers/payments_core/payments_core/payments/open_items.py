"""Open items: what the reconciler must look at, listed without scanning the table.

One sparse global secondary index, ``Reconciliation`` (hash ``recon_pk``, range ``recon_at``, both
strings), holds only items that carry ``recon_pk``:

- a payment while it is *open*: not in a final state and not settled (``requires_otp``,
  ``processing``, ``requires_action``, ``requires_capture``), or one that moved money and still has a
  pending refund. ``recon_pk`` is ``OPEN#<shard>`` (the payment id hashed into ``OPEN_SHARDS``
  partitions, so no one index partition takes every payment's writes) and ``recon_at`` is when it
  becomes worth a look (ISO 8601 UTC, so string order is time order): when it last changed, or when
  its one-time code expires, or when Stripe releases its hold (7 days), or when its oldest pending
  refund was made; never before the reconciler's own ``reconcile_after`` (its backoff after a look
  that found nothing to change). The reconciler queries ``recon_at <= now - its minimum age``: one
  Query per shard and page, reading only what is due. The attribute is written with every payment
  write (``PaymentRepository._item``) and dropped by the write that settles it, so the index holds
  the open payments and nothing else, whatever path settled them (API, webhook, reconciler).
- a ledger entry: ``LEDGER#<day>`` with its ``created_at`` (``payments_core.ledger``), so the daily
  report reads one day's entries with one paginated Query.
- a webhook event deferred with a non-2xx answer: ``DEFERRED`` with when it was first deferred
  (``payments_core.payments.webhook``), so events still unapplied after Stripe's retries can end are
  counted.

One index rather than three because a DynamoDB table update may add only one global secondary index
at a time (CloudFormation fails an update that adds two), and the three uses never share a
partition key. The index projects the table's keys and a few small attributes (never the payment
document): the reconciler reads each payment again, consistently, before it acts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from payments_core import clock

if TYPE_CHECKING:  # the ledger consumer uses this module without loading the payment models
    from payments_core.payments.models import Payment

INDEX = "Reconciliation"
PK = "recon_pk"
AT = "recon_at"
OPEN_PREFIX = "OPEN#"
OPEN_SHARDS = 4
LEDGER_PREFIX = "LEDGER#"
DEFERRED = "DEFERRED"

# Stripe releases an uncaptured card authorisation after 7 days (the PaymentIntent is canceled,
# cancellation_reason "expired", "automatic" before API version 2025-03-31.basil).
HOLD_DAYS = 7
# A one-time code lives 5 minutes (payments_core.otp.CODE_TTL_SECONDS, which a unit test keeps equal).
CODE_TTL_SECONDS = 5 * 60
UNSETTLED: frozenset[str] = frozenset({"requires_otp", "processing", "requires_action", "requires_capture"})


def parse(iso: str) -> datetime:
    return clock.parse(iso)


def open_at(payment: Payment) -> datetime | None:
    """When ``payment`` is worth a reconciler's look; None when nothing about it is open."""
    from payments_core.payments import lifecycle

    if payment.status in ("processing", "requires_action"):
        at = parse(payment.updated_at)
        if payment.lease_until is not None:
            at = max(at, clock.from_epoch(payment.lease_until))  # a live provider call is not ours to judge
    elif payment.status == "requires_otp":
        at = parse(payment.updated_at) + timedelta(seconds=CODE_TTL_SECONDS)
    elif payment.status == "requires_capture":
        at = parse(payment.created_at) + timedelta(days=HOLD_DAYS)
    elif payment.status in lifecycle.MONEY_MOVED:
        pending = [parse(r.created_at) for r in payment.refunds.values() if r.status == "pending"]
        if not pending:
            return None
        at = min(pending)
    else:
        return None
    if payment.reconcile_after is not None and payment.reconcile_seen == payment.updated_at:
        at = max(at, clock.from_epoch(payment.reconcile_after))  # nothing changed since its last look
    return at


def shard_of(payment_id: str) -> str:
    return f"{OPEN_PREFIX}{int(hashlib.sha256(payment_id.encode()).hexdigest()[:8], 16) % OPEN_SHARDS}"


def index_attributes(payment: Payment) -> dict[str, Any]:
    """The index's attributes for a payment item: present only while it is open."""
    at = open_at(payment)
    if at is None:
        return {}
    return {PK: shard_of(payment.payment_id), AT: clock.iso(at)}


def ledger_attributes(created_at: str) -> dict[str, str]:
    """The index's attributes for a ledger entry: its UTC day."""
    return {PK: LEDGER_PREFIX + created_at[:10], AT: created_at}
