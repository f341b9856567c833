"""Provider webhook deliveries, once verified by the provider's package (``providers.<name>.webhook``)
and read as a ``Notice``, then applied through the one state-change path, which only ever moves forward.

A signature proves that the provider sent the event, not that our payment is what its snapshot says:
the event only says which objects to look at. Each is fetched from the provider as it is now (the
intent, its refunds, the dispute), and applied only if it is the payment's own (``transitions``).
Duplicate and out-of-order deliveries therefore change nothing more: each applies the latest state,
and a delivery that changes nothing writes nothing (no per-event record is needed to stay idempotent).
"""

from __future__ import annotations

from payments_core.errors import DomainError, NotYet
from payments_core.observability import logger, metrics
from payments_core.payments.models import Change, Payment
from payments_core.payments.provider import Notice, PaymentGateway, ProviderRejected
from payments_core.payments.repository import PaymentStore
from payments_core.payments.transitions import NotRecordableYet, ProviderState, provider_state_change

# Any answer but a 2xx makes the provider deliver the event again, with backoff (Stripe: for 3 days).
DELIVER_AGAIN = NotYet("internal_error", "The event cannot be applied yet; it will be delivered again.")


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
            dispute = self.gateway.retrieve_dispute(notice.dispute_id) if notice.dispute_id else None
        except ProviderRejected:
            return None  # no such object at the provider: a signed event about nothing there
        except DomainError:
            # The provider is unreachable or failing: not a 2xx, so the provider delivers the event again.
            logger.warning("webhook could not fetch from the provider", extra={"intent_id": notice.intent_id})
            raise DELIVER_AGAIN from None
        return ProviderState(intent, refunds, dispute)

    def _owner(self, state: ProviderState) -> tuple[str, str] | None:
        """The payment the intent belongs to: by the link its create wrote, else by the intent's own
        metadata as the provider holds it (checked against the payment before anything is applied)."""
        linked = self.repository.find_by_provider_id(state.intent.id)
        if linked is not None:
            return linked
        metadata = state.intent.metadata
        if metadata.get("payment_id") and metadata.get("user_id"):
            return metadata["user_id"], metadata["payment_id"]
        return None

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
            self.repository.note_deferred(notice.event_id, notice.event_type, "provider unreachable")
            metrics.add_metric(name="WebhookDeferred", unit="Count", value=1)
            raise
        if state is None:
            logger.error("webhook for an object the provider does not hold", extra={"event_id": notice.event_id})
            metrics.add_metric(name="ProviderStateMismatch", unit="Count", value=1)
            return "unknown_payment"
        owner = self._owner(state)
        if owner is None:
            logger.warning(
                "webhook for an unknown payment", extra={"event_id": notice.event_id, "type": notice.event_type}
            )
            return "unknown_payment"
        changed: list[bool] = []

        def apply(payment: Payment) -> Change | None:
            change = provider_state_change(payment, state)
            changed[:] = [change is not None]
            return change

        try:
            stored = self.repository.update(*owner, apply)
        except NotRecordableYet as reason:
            # Not remembered either: the redelivery is applied once the payment can take it.
            logger.warning(
                "webhook deferred",
                extra={"event_id": notice.event_id, "type": notice.event_type, "reason": str(reason)},
            )
            self.repository.note_deferred(notice.event_id, notice.event_type, str(reason))
            metrics.add_metric(name="WebhookDeferred", unit="Count", value=1)
            raise DELIVER_AGAIN from None
        if stored is None:
            return "unknown_payment"
        self.repository.settle_deferred(notice.event_id)
        if not (changed and changed[0]):
            return "unchanged"
        self.repository.record_applied(notice.event_id, notice.event_type, *owner)
        return "applied"
