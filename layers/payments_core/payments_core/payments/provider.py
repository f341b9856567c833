"""The seam between the payments domain and a payment provider: the protocol every provider
implements and the neutral facts it answers with. The domain sees only these; each provider's package
(``payments.providers.<name>``) maps its own requests, responses, statuses, errors and webhook events
onto them. Which provider serves a payment is its ``provider`` field (``Providers``).
"""

import secrets
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, Self

from pydantic import BaseModel

from payments_core.errors import ProviderError, ProviderUnavailable

if TYPE_CHECKING:  # built only where a refund or a dispute (PROVIDER_RECORDS) or a charge is read
    from payments_core.payments.provider_charges import ProviderCharge
    from payments_core.payments.provider_records import ProviderDispute, ProviderRefund

__all__ = [
    "PROVIDER_RECORDS",
    "IntentLookupIncomplete",
    "IntentStatus",
    "Notice",
    "PaymentDeclined",
    "PaymentGateway",
    "ProviderFailed",
    "ProviderIntent",
    "ProviderRefused",
    "ProviderRejected",
    "ProviderUnavailable",
    "Providers",
    "ReportingGateway",
    "closed_if_failed",
]

# What a provider's intent is, in our words (each provider maps its own statuses onto these):
# "pending" changes nothing here (created, not yet confirmed); "failed" is an attempt that failed and
# left the intent waiting for another payment method.
IntentStatus = Literal[
    "pending", "requires_action", "processing", "requires_capture", "succeeded", "canceled", "failed"
]
# The modules of the provider's refunds and disputes (``payments.provider_records``), which
# only the functions that read them load, on first use; those name them in ``snapstart.prepare(imports=...)``.
PROVIDER_RECORDS = ("payments_core.payments.provider_records",)


class ProviderIntent(BaseModel):
    """A payment at the provider, as it holds it now."""

    id: str
    status: IntentStatus
    amount: int
    currency: str | None = None
    amount_received: int = 0
    next_action: dict[str, Any] | None = None
    client_secret: str | None = None
    metadata: dict[str, str] = {}
    # Why the provider canceled it ("expired": a hold released after its authorisation expired; a
    # failed intent we closed reads as ``failed`` with its reason set: it can no longer be confirmed).
    cancellation_reason: str | None = None
    decline_code: str | None = None  # of its last failed attempt


class PaymentDeclined(Exception):
    def __init__(self, decline_code: str, intent_id: str | None) -> None:
        super().__init__(decline_code)
        self.decline_code = decline_code
        self.intent_id = intent_id


class ProviderRejected(Exception):
    """The provider refused the request as invalid (an unknown payment method, a currency it does not
    take, an amount under its minimum): nothing was created there."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


class ProviderFailed(ProviderError):
    def __init__(self) -> None:
        super().__init__("provider_error", "The payment provider returned an error.")


class IntentLookupIncomplete(ProviderUnavailable):
    """More intents were made since a payment than one lookup reads: whether one is that payment's is
    unknown, which is not "there is none" (a payment failed for it may have been charged)."""


class ProviderRefused(ProviderFailed):
    """The provider answered that the request itself is invalid (a 4xx other than for a field the
    client chose, e.g. a charge already refunded through Stripe's dashboard): nothing was created
    there, and sending it again would be refused again. Callers that can record that outcome do;
    others answer 502 as for any provider error."""


class PaymentGateway(Protocol):
    """One provider's payments. Every mutating call carries an idempotency key derived from our own
    stored operation id; because a provider may not honour such keys, the domain also looks for what
    an interrupted attempt created before creating again (``find_intent``, ``find_refund``)."""

    name: str

    def request_problems(self, *, payment_method: str, metadata: dict[str, str]) -> list[dict[str, str]]:
        """What this provider would refuse in a new payment's request (its payment method ids' shape,
        its metadata limits), field by field: checked before anything is stored or money moves."""
        ...

    def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        capture_method: str,
        description: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ProviderIntent: ...

    def find_intent(
        self, payment_id: str, *, created_since: int, created_until: int | None = None
    ) -> ProviderIntent | None:
        """The intent an attempt made for ``payment_id`` (created at or after ``created_since``, epoch
        seconds: the payment's creation, and at or before ``created_until`` when the attempts are known
        to be over), None if the provider holds none; ``IntentLookupIncomplete`` if it holds more intents
        in that span than one lookup reads (never None for "not looked at")."""
        ...

    def retrieve_intent(self, intent_id: str) -> ProviderIntent: ...

    def capture(self, intent_id: str, amount: int | None, idempotency_key: str) -> ProviderIntent: ...

    def cancel(self, intent_id: str, idempotency_key: str) -> ProviderIntent: ...

    def close_failed(self, intent_id: str, idempotency_key: str) -> ProviderIntent:
        """Cancels an intent whose attempt failed, so that it can never be confirmed again; it reads as
        ``failed`` afterwards (with a ``cancellation_reason``), not as canceled by the merchant."""
        ...

    def refund(
        self, intent_id: str, amount: int, reason: str | None, metadata: dict[str, str], idempotency_key: str
    ) -> "ProviderRefund": ...

    def find_refund(self, intent_id: str, refund_id: str) -> "ProviderRefund | None": ...

    def list_refunds(self, intent_id: str) -> "list[ProviderRefund]": ...

    def retrieve_dispute(self, dispute_id: str) -> "ProviderDispute": ...


class ReportingGateway(Protocol):
    """What the daily reconciliation report reads from the provider: one day's objects."""

    def list_charges(self, start: int, end: int) -> "list[ProviderCharge]": ...

    def retrieve_charge_intent(self, charge_id: str) -> str | None: ...

    def list_refunds_between(self, start: int, end: int) -> "list[ProviderRefund]": ...

    def list_disputes_between(self, start: int, end: int) -> "list[ProviderDispute]": ...

    def retrieve_intent(self, intent_id: str) -> ProviderIntent: ...


class Notice(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    """What a verified webhook event of a provider tells us, in our words: which objects to look at
    (the intent, whether its refunds, which dispute). Only ids: what they are is fetched from the
    provider. ``intent_id`` None: the event names no intent (nothing to apply); ``handled`` False: a
    type we do not act on; ``thin``: an event that carries no object (acknowledged, logged).
    ``named_payment``: (user id, payment id) as the event's own object names them, unverified: only
    where to leave the mark of a delivery deferred while the provider cannot be asked, never what to
    apply anything to."""

    event_id: str
    event_type: str
    intent_id: str | None = None
    refunds: bool = False
    dispute_id: str | None = None
    handled: bool = True
    thin: bool = False
    created: int | None = None
    named_payment: tuple[str, str] | None = None


class Providers:
    """The payment providers by name, each built on first use: a payment's capture, cancel and
    refunds go to the provider that created it, new payments to ``default``."""

    def __init__(self, factories: Mapping[str, Callable[[], PaymentGateway]], default: str) -> None:
        if default not in factories:
            raise ValueError(f"no provider named {default!r}")
        self._factories = dict(factories)
        self._built: dict[str, PaymentGateway] = {}
        self.default = default

    def __getitem__(self, name: str) -> PaymentGateway:
        if name not in self._built:
            if name not in self._factories:
                raise ProviderError("provider_error", f"No payment provider named {name!r} is configured.")
            self._built[name] = self._factories[name]()
        return self._built[name]

    @classmethod
    def only(cls, gateway: PaymentGateway) -> Self:
        """One provider, already built (tests, tools)."""
        return cls({gateway.name: lambda: gateway}, default=gateway.name)

    def names(self) -> list[str]:
        return sorted(self._factories)


def _open_failure(intent: ProviderIntent) -> bool:
    return intent.status == "failed" and intent.cancellation_reason is None


def closed_if_failed(gateway: PaymentGateway, intent: ProviderIntent) -> ProviderIntent:
    """``intent`` as it may be recorded, for a payment of ours that holds it. A failed intent (an attempt
    failed: a 3-D Secure challenge, a decline) stays open at the provider for another payment method,
    and the customer's browser holds its client secret: it could still be confirmed and charged after
    we record the payment as failed, which is final. So it is closed at the provider first
    (``close_failed``: nothing moves from a canceled intent, and it still reads as failed), and the
    failure is what is recorded. If the close is refused because the intent moved on meanwhile (the
    customer confirmed again, or a cancel of ours got there first), the intent as it is now is what is
    recorded. If it is still open after
    all (the provider failed), ``ProviderUnavailable``: nothing is recorded; the caller tries again.
    Each close has its own idempotency key: the provider keeps a key's first answer, a failure too."""
    if not _open_failure(intent) or not intent.id:
        return intent
    try:
        gateway.close_failed(intent.id, f"{intent.id}-close-{secrets.token_hex(8)}")
    except ProviderUnavailable:
        raise
    except ProviderFailed:  # refused: closed or canceled already, moved on, or the provider failed
        now = gateway.retrieve_intent(intent.id)
        if _open_failure(now):
            raise ProviderUnavailable() from None
        if now.status != "failed":  # moved on, or canceled by someone else (not closed as a failure)
            return now
    return intent
