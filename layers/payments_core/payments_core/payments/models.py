"""Storage models of payments and refunds, and what clients see of them (``public()``: the API reference's
models, ``payments.reference_models``); their request models: ``payments.capture_request``,
``payments.refund_request``."""

import copy
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    Field,
)

from payments_core import clock

PaymentStatus = Literal[
    "requires_otp",
    "requires_action",
    "requires_capture",
    "processing",
    "succeeded",
    "failed",
    "canceled",
    "refunded",
    "partially_refunded",
]
RefundStatus = Literal["pending", "succeeded", "failed"]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]


class Refund(BaseModel):
    """A refund as stored inside its payment's item and as returned to clients."""

    refund_id: str
    payment_id: str
    amount: int
    currency: str
    status: RefundStatus
    reason: RefundReason | None = None
    provider_refund_id: str | None = None
    provider_attempts: int = 0
    failure_reason: str | None = None  # the provider's, when it failed
    # It had succeeded, then failed at the provider (e.g. the card was closed): the money came back to
    # the merchant's balance, so the ledger reverses it and the amount is refundable again.
    failed_after_success: bool = False
    created_at: str  # here, so what clients see (``public()``) is in the order the API reference gives
    # The request that made it (None for refunds stored before it was kept): the refund is its key's
    # idempotency record, so the same key with another body is refused.
    request_fingerprint: str | None = None
    # The provider-call lease of this refund (payments.leases): the request sending it to the provider,
    # and until when (epoch seconds). Set while it is being sent, cleared with the provider's answer.
    lease_holder: str | None = None
    lease_until: int | None = None
    # When a request last took that lease to send it (epoch seconds): a refund the provider holds nothing
    # of is failed as never sent only long after that (``reconciler``), not while an answer may be late.
    last_attempt_at: int | None = None

    def public(self) -> dict[str, Any]:
        return self.model_dump(exclude=_REFUND_INTERNALS)


_REFUND_INTERNALS = {
    "provider_refund_id", "provider_attempts", "request_fingerprint", "lease_holder", "lease_until", "last_attempt_at",
}  # fmt: skip


class Dispute(BaseModel):
    """A payment's dispute (chargeback) as the provider last reported it. ``amount_withdrawn`` left the
    merchant's balance when it opened; ``amount_reinstated`` came back (all of it if it was won; the refunded part
    if it was lost after a partial refund)."""

    dispute_id: str  # the provider's
    status: str  # the provider's: needs_response, under_review, won, lost, warning_*, appeal_* ...
    amount: int
    currency: str
    reason: str | None = None
    amount_withdrawn: int = 0
    amount_reinstated: int = 0
    created_at: str
    # The provider would still refund the payment (an inquiry; not shown to clients): see ``refundable``.
    charge_refundable: bool = False
    # The merchant appealed it after it was lost (Stripe's ``appeal_*`` statuses; not shown to clients):
    # the appeal's own outcome closes it again, and nothing reopens it after that.
    appealed: bool = False
    # When the provider's state written here was read (``ProviderDispute.read_at``; not shown to clients).
    read_at: int | None = None

    @property
    def closed(self) -> bool:
        return self.status in DISPUTE_CLOSED_STATUSES

    @property
    def refundable(self) -> bool:
        """Whether the payment may be refunded while it carries this dispute: the provider says it would
        still refund it (an inquiry, or one closed without a chargeback), or the merchant won it."""
        return self.charge_refundable or self.status == "won"


_DISPUTE_INTERNALS = {"charge_refundable", "appealed", "read_at"}


DISPUTE_CLOSED_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
# A lost dispute the merchant appealed (Stripe, since API version 2026-10-28.endive, where enabled):
# open again until the appeal is decided, won or lost.
DISPUTE_APPEAL_STATUSES = frozenset({"appeal_needs_response", "appeal_under_review"})
# What an inquiry (``warning_*``) closed without a chargeback may still become: one.
DISPUTE_CHARGEBACK_STATUSES = frozenset({"needs_response", "under_review", "won", "lost"})


class Payment(BaseModel):
    """The stored payment. ``amount_reserved`` counts every refund not failed (pending included) and
    is what the refund limit is checked against; ``amount_refunded`` counts succeeded refunds only, so
    the status it drives never moves backwards when a pending refund fails."""

    payment_id: str
    user_id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_captured: int = 0
    amount_refunded: int = 0
    amount_reserved: int = 0
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    capture_method: Literal["automatic", "manual"] = "automatic"
    payment_method: str
    request_fingerprint: str
    provider: str = "stripe"
    provider_payment_id: str | None = None
    provider_attempts: int = 0
    # The provider-call lease (see service.take_lease): which request may be talking to the provider
    # about this payment (confirm, capture, cancel), and until when (epoch seconds).
    lease_holder: str | None = None
    lease_until: int | None = None
    # The capture or cancel that ended the hold, or is ending it (the payment is its idempotency record):
    # its operation id (``cap_``/``can_``, derived from the user, the payment and the client's key, and
    # the provider's idempotency key), and the fingerprint of its request's body (a capture's).
    settled_by: str | None = None
    settled_fingerprint: str | None = None
    next_action: dict[str, Any] | None = None
    client_secret: str | None = None
    decline_code: str | None = None
    rejected_field: str | None = None  # the provider refused the request itself (e.g. unknown payment method)
    provider_refused: bool = False  # the provider refused the create as a whole (a 4xx about no one field)
    dispute: Dispute | None = None
    refunds: dict[str, Refund] = Field(default_factory=dict)
    # The reconciler's backoff (epoch seconds): after a look that changed nothing, not before this
    # (payments_core.payments.open_items), and how many such looks it has had; both hold only while the
    # payment is as it was looked at (``reconcile_seen``: its ``updated_at`` then). Any change resets them.
    reconcile_after: int | None = None
    reconcile_looks: int = 0
    reconcile_seen: str | None = None
    # The webhook's bookkeeping (never shown, never on the bus; ``payments.webhook``), carried on the
    # payment's own write: the provider event that last changed it, and the events about it answered
    # "deliver again" and not applied since (each with its ``DEFERRED#`` item, which the reconciler
    # counts); the write that applies such an event clears its mark.
    last_event_id: str | None = None
    deferred_events: list[str] = Field(default_factory=list)

    def created_epoch(self) -> int:
        """When it was created, in epoch seconds (``created_at`` is ISO 8601 in UTC)."""
        return int(clock.parse(self.created_at).timestamp())

    def updated_epoch(self) -> int:
        """When it last changed (a write that moved it, took or released its lease), in epoch seconds."""
        return int(clock.parse(self.updated_at).timestamp())

    def looks_since_change(self) -> int:
        """Reconciler looks that found nothing to change since the payment last changed."""
        return self.reconcile_looks if self.reconcile_seen == self.updated_at else 0

    created_at: str
    updated_at: str
    version: int = 0

    def public(self, *, with_secret: bool = True) -> dict[str, Any]:
        """The contract's payment object (``with_secret=False`` for events on the bus): the API reference's
        ``reference_models.PaymentOut``, which tests hold to it for payments in every state."""
        out: dict[str, Any] = {
            "payment_id": self.payment_id,
            "status": self.status,
            "amount": self.amount,
            "currency": self.currency,
            "amount_captured": self.amount_captured,
            "amount_refunded": self.amount_refunded,
            "description": self.description,
            "metadata": dict(self.metadata),
            "provider": self.provider,
            "provider_payment_id": self.provider_payment_id,
            "next_action": copy.deepcopy(self.next_action),
            "client_secret": self.client_secret if self.status == "requires_action" else None,
            "refunds": [r.public() for r in sorted(self.refunds.values(), key=lambda r: r.created_at)],
            "dispute": self.dispute.model_dump(exclude=_DISPUTE_INTERNALS) if self.dispute else None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if not with_secret:
            del out["client_secret"]
        return out


class Change(NamedTuple):  # not a dataclass: cheaper to create in init
    """A new state for a payment and the events it causes (detail type, refund or None)."""

    payment: Payment
    events: Sequence[tuple[str, Refund | None]] = ()
