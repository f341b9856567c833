"""Provider webhook deliveries, once verified by the provider's package (``providers.<name>.webhook``)
and read as a ``Notice``, then applied through the one state-change path, which only ever moves forward.

A signature proves that the provider sent the event, not that our payment is what its snapshot says:
the event only says which objects to look at. Each is fetched from the provider as it is now (the
intent, its refunds, the dispute), and applied only if it is the payment's own (``transitions``).
Duplicate and out-of-order deliveries therefore change nothing more: each applies the latest state,
and a delivery that changes nothing writes nothing (no per-event record is needed to stay idempotent).

Which payment: the one the intent's metadata (as the provider holds it now) names, taken at once only
if that payment already holds this very intent (only the intent's own payment ever does: it gains an
intent id from its create's answer or through ``intent_problem``'s checks); otherwise the one the
intent's ``PI#`` link names, else the one its metadata names, checked by ``intent_problem``.

The webhook's own records ride on the payment's write (``recorded``): the event that changed it, and,
for an event answered "deliver again" (``_defer``), a mark on the payment that the write applying a
later delivery of that event clears; only then is its ``DEFERRED#`` item (the reconciler's count of
events never applied) deleted. A delivery of an event that was never deferred makes no call for it.
"""

from __future__ import annotations

from collections.abc import Callable

from payments_core import clock
from payments_core.errors import DomainError, NotYet
from payments_core.observability import logger, metrics
from payments_core.payments import lifecycle
from payments_core.payments.models import Change, Payment
from payments_core.payments.provider import Notice, PaymentGateway, ProviderRejected, closed_if_failed
from payments_core.payments.repository import PaymentStore
from payments_core.payments.transitions import NotRecordableYet, ProviderState, intent_problem, provider_state_change

# Any answer but a 2xx makes the provider deliver the event again, with backoff (Stripe: for 3 days).
DELIVER_AGAIN = NotYet("internal_error", "The event cannot be applied yet; it will be delivered again.")
# Events deferred and not applied since that one payment keeps marks of (an item stays small); a
# deferral past it keeps only its DEFERRED# item, counted by the reconciler until it expires.
MAX_DEFERRED_MARKS = 10


def recorded(payment: Payment, change: Change | None, event_id: str, *, held_back: bool = False) -> Change | None:
    """``change`` (the provider's state applied) with the webhook's bookkeeping in the same write: the
    event that made it, and this event's deferred mark cleared. A delivery that changes nothing writes
    nothing, unless its event is marked deferred: then the write clears the mark and nothing else (no
    event, ``updated_at`` kept). A change that ``held_back`` part of the provider's state (a refund ours
    cannot take yet) marks the event instead: it is to be delivered again."""
    marked = event_id in payment.deferred_events
    if change is None:
        if not marked:
            return None
        return Change(payment.model_copy(update={"deferred_events": unmarked(payment, event_id)}))
    change.payment.last_event_id = event_id
    if held_back:
        if not marked and len(payment.deferred_events) < MAX_DEFERRED_MARKS:
            change.payment.deferred_events = [*payment.deferred_events, event_id]
    elif marked:
        change.payment.deferred_events = unmarked(payment, event_id)
    return change


def unmarked(payment: Payment, event_id: str) -> list[str]:
    return [marked for marked in payment.deferred_events if marked != event_id]


def deferred_mark(event_id: str) -> Callable[[Payment], Change | None]:
    """Marks the payment as waiting for a later delivery of ``event_id``: no event, ``updated_at``
    kept (nothing about the payment changed for its owner); nothing if marked already or full."""

    def mark(payment: Payment) -> Change | None:
        if event_id in payment.deferred_events or len(payment.deferred_events) >= MAX_DEFERRED_MARKS:
            return None
        return Change(payment.model_copy(update={"deferred_events": [*payment.deferred_events, event_id]}))

    return mark


class _Outcome:  # not a dataclass: cheaper to create in init
    """What the write of one delivery did, as its last ``mutate`` decided it."""

    __slots__ = ("changed", "held_back", "settles", "unproven")

    def __init__(self) -> None:
        self.unproven = False  # the payment tried first does not hold the intent: look it up instead
        self.changed = False
        self.settles = False  # it cleared this event's deferred mark
        self.held_back: str | None = None  # why part of the provider's state was left out (marked deferred)


class WebhookProcessor:
    def __init__(self, repository: PaymentStore, gateway: PaymentGateway) -> None:
        self.repository = repository
        self.gateway = gateway

    def _fetch(self, notice: Notice) -> ProviderState | None:
        """The provider's current state of what the event names; None if it holds no such intent."""
        assert notice.intent_id is not None
        try:
            intent = self.gateway.retrieve_intent(notice.intent_id)
            refunds = self.gateway.list_refunds(intent.id) if notice.refunds else None
            read_at = clock.epoch_micros()
            dispute = self.gateway.retrieve_dispute(notice.dispute_id) if notice.dispute_id else None
            if dispute is not None:
                dispute = dispute.model_copy(update={"read_at": read_at})
        except ProviderRejected:
            return None  # no such object at the provider: a signed event about nothing there
        except DomainError:
            # The provider is unreachable or failing: not a 2xx, so the provider delivers the event again.
            logger.warning("webhook could not fetch from the provider", extra={"intent_id": notice.intent_id})
            raise DELIVER_AGAIN from None
        return ProviderState(intent, refunds, dispute)

    @staticmethod
    def _named(state: ProviderState) -> tuple[str, str] | None:
        """The payment the intent's metadata names, as the provider holds it now."""
        metadata = state.intent.metadata
        if metadata.get("payment_id") and metadata.get("user_id"):
            return metadata["user_id"], metadata["payment_id"]
        return None

    def _owner(self, state: ProviderState) -> tuple[str, str] | None:
        """The payment the intent belongs to: by the link its create wrote, else by the intent's own
        metadata as the provider holds it (checked against the payment before anything is applied)."""
        linked = self.repository.find_by_provider_id(state.intent.id)
        return linked if linked is not None else self._named(state)

    def process(self, notice: Notice) -> str:
        """Applies one verified event; returns what happened (for the log)."""
        if notice.thin:
            logger.warning("thin event acknowledged, not applied", extra={"event_id": notice.event_id})
            metrics.add_metric(name="WebhookThinEventIgnored", unit="Count", value=1)
            return "ignored"
        if not notice.handled:
            return "ignored"
        if notice.intent_id is None:
            logger.warning("webhook names no payment", extra={"event_id": notice.event_id, "type": notice.event_type})
            return "unknown_payment"
        try:
            state = self._fetch(notice)
        except DomainError:
            self._defer(notice, "provider unreachable", self._owner_unverified(notice))
            raise
        if state is None:
            logger.error("webhook for an object the provider does not hold", extra={"event_id": notice.event_id})
            metrics.add_metric(name="ProviderStateMismatch", unit="Count", value=1)
            return "unknown_payment"
        if state.intent.status == "failed":
            state = self._closed_if_ours(notice, state)
        named = self._named(state)
        if named is not None:
            # Most deliveries: the payment the intent names already holds it, so no link is read.
            result = self._apply(named, notice, state, holding_only=True)
            if result is not None:
                return result
        owner = self._owner(state)
        if owner is None:
            logger.warning(
                "webhook for an unknown payment", extra={"event_id": notice.event_id, "type": notice.event_type}
            )
            return "unknown_payment"
        return self._apply(owner, notice, state, holding_only=False) or "unknown_payment"

    def _closed_if_ours(self, notice: Notice, state: ProviderState) -> ProviderState:
        """A failed intent, closed at the provider before its failure is recorded (``closed_if_failed``),
        when it is one of our payments' own (the payment holds it, or it was made for that payment) and
        that payment is failing or has failed; any other intent is left as it is."""
        owner = self._owner(state)
        payment = self.repository.get(*owner) if owner is not None else None
        if (
            payment is None
            or intent_problem(payment, state.intent) is not None
            or (payment.status in lifecycle.FINAL and payment.status != "failed")
        ):
            return state
        try:
            return state._replace(intent=closed_if_failed(self.gateway, state.intent))
        except DomainError:
            logger.warning("webhook could not close a failed intent", extra={"intent_id": state.intent.id})
            self._defer(notice, "provider unreachable", owner)
            raise DELIVER_AGAIN from None

    def _apply(self, owner: tuple[str, str], notice: Notice, state: ProviderState, *, holding_only: bool) -> str | None:
        """The provider's state applied to ``owner``'s payment in one conditional write, with the
        webhook's bookkeeping; None if there is no such payment or (``holding_only``) it does not hold
        the intent, which then proves nothing and is left untouched."""
        outcome = _Outcome()

        def apply(payment: Payment) -> Change | None:
            outcome.unproven = holding_only and payment.provider_payment_id != state.intent.id
            if outcome.unproven:
                return None
            # A refund ours cannot take yet is left out, not the rest with it (the intent, other refunds,
            # the dispute): they are written now, and the event is delivered again for that refund.
            held: list[str] = []
            change = provider_state_change(payment, state, held_back=held)
            outcome.changed = change is not None
            outcome.held_back = held[0] if held else None
            outcome.settles = not held and notice.event_id in payment.deferred_events
            return recorded(payment, change, notice.event_id, held_back=bool(held))

        try:
            stored = self.repository.update(*owner, apply)
        except NotRecordableYet as reason:
            # Not applied: the redelivery is, once the payment can take it.
            logger.warning(
                "webhook deferred",
                extra={"event_id": notice.event_id, "type": notice.event_type, "reason": str(reason)},
            )
            self._defer(notice, str(reason), owner)
            raise DELIVER_AGAIN from None
        if stored is None or outcome.unproven:
            return None
        if outcome.held_back is not None:
            # The rest is written, with this event's mark; its DEFERRED# item counts it until applied.
            logger.warning(
                "webhook applied in part, deferred",
                extra={"event_id": notice.event_id, "type": notice.event_type, "reason": outcome.held_back},
            )
            self._defer(notice, outcome.held_back, None)
            raise DELIVER_AGAIN
        if outcome.settles:
            self.repository.settle_deferred(notice.event_id)
        return "applied" if outcome.changed else "unchanged"

    def _owner_unverified(self, notice: Notice) -> tuple[str, str] | None:
        """Where to mark a delivery deferred before the provider could be asked: the intent's link,
        else the payment the event's own snapshot names (bookkeeping only; nothing is applied to it)."""
        assert notice.intent_id is not None
        try:
            linked = self.repository.find_by_provider_id(notice.intent_id)
        except Exception:  # bookkeeping never changes the answer (already "deliver again")
            return None
        return linked if linked is not None else notice.named_payment

    def _defer(self, notice: Notice, reason: str, owner: tuple[str, str] | None) -> None:
        """A delivery answered "deliver again": its mark on the payment (first, so a crash between the
        two leaves a mark without an item, which the applying write clears harmlessly, never an item
        nothing will clear), then its ``DEFERRED#`` item, which the reconciler counts until the event
        is applied. Neither changes the answer."""
        if owner is not None:
            try:
                self.repository.update(*owner, deferred_mark(notice.event_id))
            except Exception:  # bookkeeping never changes the answer
                logger.warning("could not mark a deferred webhook", extra={"event_id": notice.event_id})
        self.repository.note_deferred(notice.event_id, notice.event_type, reason)
        metrics.add_metric(name="WebhookDeferred", unit="Count", value=1)
