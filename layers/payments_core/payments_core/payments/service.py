"""The payment operations. Each one is safe to run again after a crash at any point: ids are
derived from the client's Idempotency-Key, the provider is asked what an interrupted attempt did
before it is asked again, and every state change is a conditional write with its outbox events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from payments_core import clock
from payments_core.currencies import amount_problem, charge_amount_problem
from payments_core.errors import NOT_FOUND, Conflict, Declined, DomainError, ProviderUnavailable, RequestValidationError
from payments_core.idempotency_keys import KEY_REUSED, fingerprint
from payments_core.observability import logger
from payments_core.payments import lifecycle
from payments_core.payments.leases import (
    claim_confirmation,
    leased,
    new_lease,
    release_lease,
    take_lease,
    unleased,
)
from payments_core.payments.models import (
    CaptureRequest,
    Change,
    CreatePaymentRequest,
    Payment,
    Refund,
    RefundRequest,
)
from payments_core.payments.otp import OTP_NOT_REQUIRED, TOO_MANY_ATTEMPTS, OtpService
from payments_core.payments.provider import (
    PaymentDeclined,
    PaymentGateway,
    ProviderFailed,
    ProviderIntent,
    ProviderRefused,
    ProviderRejected,
    Providers,
)
from payments_core.payments.repository import PaymentStore
from payments_core.payments.transitions import (
    MAX_REFUNDS_PER_PAYMENT,
    NEVER_REACHED_PROVIDER,
    cancel_locally,
    cancelable,
    capturable,
    intent_change,
    operation_id,
    refund_change,
    reserving,
    stamped,
)

NOT_CAPTURABLE = Conflict("payment_not_capturable", "Only a payment on hold can be captured.")
NOT_CANCELABLE = Conflict("payment_not_cancelable", "Only a payment that has not moved money can be canceled.")
PAYMENT_DISPUTED = Conflict(
    "payment_disputed", "The cardholder disputed this payment with their bank: it cannot be refunded."
)
REFUND_LIMIT_REACHED = Conflict(
    "refund_limit_reached",
    f"This payment already has {MAX_REFUNDS_PER_PAYMENT} refunds, the most one payment can have.",
)


def refuse_amount_the_provider_would(amount: int | None, currency: str, *, charged: bool = False) -> None:
    """A capture or refund amount the provider refuses in this currency is a 422 before money moves
    (a capture, ``charged``, is also held to the provider's minimum charge; a refund is not)."""
    check = charge_amount_problem if charged else amount_problem
    problem = check(amount, currency) if amount is not None else None
    if problem:
        raise RequestValidationError([{"field": "amount", "message": problem}])


@dataclass
class ProviderAnswer:
    """What one confirmation attempt learned from the provider."""

    intent: ProviderIntent
    decline_code: str | None = None
    rejected: str | None = None  # the field the provider refused
    refused: bool = False  # refused as a whole


def failure_of(payment: Payment) -> DomainError | None:
    """Why a failed payment failed, as the client is told: a field the provider refused (invalid), the
    request refused as a whole or never sent (nothing the client chose: a provider error), else the
    card's decline. None for a payment that has not failed."""
    if payment.status != "failed":
        return None
    if payment.provider_refused or payment.decline_code == NEVER_REACHED_PROVIDER:
        return ProviderFailed()
    if payment.rejected_field:
        return RequestValidationError(
            [{"field": payment.rejected_field, "message": "Refused by the payment provider."}]
        )
    return Declined(
        "payment_declined", "The card was declined.", extra={"decline_code": payment.decline_code or "card_declined"}
    )


class PaymentService:
    """The payment operations, on a store of payments and the providers that hold them: a new payment
    goes to the default provider; everything after (confirm, capture, cancel, refunds) to the one that
    the payment names. Large payments wait for a one-time code (``otp``) before any money moves."""

    def __init__(self, repository: PaymentStore, providers: Providers, otp: OtpService, otp_threshold: int) -> None:
        self.repository = repository
        self.providers = providers
        self.otp = otp
        self.otp_threshold = otp_threshold

    def gateway(self, payment: Payment) -> PaymentGateway:
        """The provider that holds ``payment``."""
        return self.providers[payment.provider]

    # --- reads -----------------------------------------------------------------------------------
    def get(self, user_id: str, payment_id: str) -> Payment:
        payment = self.repository.get(user_id, payment_id)
        if payment is None:
            raise NOT_FOUND
        return payment

    def _update(self, user_id: str, payment_id: str, mutate: Any, **kwargs: Any) -> Payment:
        """``repository.update``; ``known=`` the payment as this request last read or wrote it saves a read."""
        payment = self.repository.update(user_id, payment_id, mutate, **kwargs)
        if payment is None:
            raise NOT_FOUND
        return payment

    # --- create ----------------------------------------------------------------------------------
    def create(self, user_id: str, request: CreatePaymentRequest, idempotency_key: str) -> Payment:
        """The payment, created once per key; a failed one says why with ``failure_of``."""
        return self.create_once(user_id, request, idempotency_key)[0]

    def create_once(self, user_id: str, request: CreatePaymentRequest, idempotency_key: str) -> tuple[Payment, bool]:
        """The payment for this key, and whether an earlier request with the key made it (a replay).

        The payment's own conditional put is the key's record: its id is derived from the user and the
        key, it stores the request's fingerprint (the same key with another request is refused), and a
        request arriving while another confirms it meets that one's provider-call lease (a conflict to
        retry shortly). No separate idempotency record is written."""
        now = clock.iso(clock.now())
        provider = self.providers[self.providers.default]
        # What the provider would refuse is refused here, field by field, before anything is stored.
        problems = provider.request_problems(payment_method=request.payment_method, metadata=request.metadata)
        if problems:
            raise RequestValidationError(problems)
        request_fingerprint = fingerprint(request.model_dump(mode="json"))
        status: Literal["requires_otp", "processing"] = (
            "requires_otp" if request.amount >= self.otp_threshold else "processing"
        )
        lease = new_lease()
        payment = Payment(
            payment_id=operation_id("pay", user_id, idempotency_key),
            user_id=user_id,
            status=status,
            # The provider is called right after this write: the attempt is recorded with it.
            provider_attempts=1 if status == "processing" else 0,
            **(leased(lease) if status == "processing" else {}),
            amount=request.amount,
            currency=request.currency,
            description=request.description,
            metadata=request.metadata,
            capture_method=request.capture_method,
            payment_method=request.payment_method,
            request_fingerprint=request_fingerprint,
            provider=provider.name,
            created_at=now,
            updated_at=now,
        )
        created = self.repository.create(Change(payment, [("PaymentCreated", None)]))
        if not created:
            # A retry of an operation that got this far before (a crash, a lost answer, a client retry).
            existing = self.get(user_id, payment.payment_id)
            # Unless it is this request's own write, applied before a retry of it (a lost answer).
            created = existing.lease_holder == lease and existing.status == "processing"
            if existing.request_fingerprint != request_fingerprint:
                raise KEY_REUSED
            payment = existing
        if payment.status == "requires_otp":
            self.otp.send(payment, first=True)
        elif payment.status == "processing" and payment.provider_payment_id is None:
            payment = self.confirm(payment, lease=lease if created else None)
        return payment, not created

    def confirm(self, payment: Payment, *, lease: str | None = None) -> Payment:
        """Creates and confirms the provider's intent, exactly once per payment.

        Every provider call is preceded by a stored attempt holding the provider-call lease, so only
        one request at a time talks to the provider for a payment, and a later attempt knows to look
        for what an earlier one may have created. ``lease``: the caller's own write already moved the
        payment to ``processing`` with its first attempt under this lease, which saves a write."""
        if lease is None:
            lease = new_lease()
            payment = self._update(payment.user_id, payment.payment_id, claim_confirmation(lease))
            if payment.lease_holder != lease:
                return payment  # nothing left to confirm: it moved on, or an intent is already linked
        with self._lease_ended_on_error(payment, lease):
            answer = self._ask_provider(payment, look_first=payment.provider_attempts > 1)
        found = answer.intent

        def apply(current: Payment) -> Change | None:
            change = intent_change(current, found, decline_code=answer.decline_code)
            if change is not None:
                if not found.id:
                    change.payment.provider_payment_id = None
                if answer.rejected:
                    change.payment.rejected_field = answer.rejected
                if answer.refused:
                    change.payment.provider_refused = True
            return unleased(change, current, lease)

        return self._update(payment.user_id, payment.payment_id, apply, known=payment)

    def _ask_provider(self, payment: Payment, *, look_first: bool) -> ProviderAnswer:
        """The provider's intent for ``payment``: the one an earlier attempt made (``look_first``), else
        a new one. A decline or a refusal is an answer too (an intent that needs another method)."""
        gateway = self.gateway(payment)
        intent = gateway.find_intent(payment.payment_id) if look_first else None
        if intent is not None:
            return ProviderAnswer(intent)
        unpaid = ProviderIntent(id="", status="failed", amount=payment.amount)
        try:
            return ProviderAnswer(
                gateway.create_intent(
                    amount=payment.amount,
                    currency=payment.currency,
                    payment_method=payment.payment_method,
                    capture_method=payment.capture_method,
                    description=payment.description,
                    metadata={**payment.metadata, "payment_id": payment.payment_id, "user_id": payment.user_id},
                    idempotency_key=f"{payment.payment_id}-create",
                )
            )
        except PaymentDeclined as declined:
            intent = unpaid.model_copy(update={"id": declined.intent_id or ""})
            return ProviderAnswer(intent, decline_code=declined.decline_code)
        except ProviderRejected as rejection:
            return ProviderAnswer(unpaid, decline_code=f"invalid_{rejection.field}", rejected=rejection.field)
        except ProviderRefused:
            # Refused as a whole (a 4xx about no one field): nothing was created there and the same call
            # would be refused again. The payment fails rather than stay `processing` forever; the client
            # is answered 502, and a retry with the same key gets that answer again.
            return ProviderAnswer(unpaid, refused=True)
        except ProviderUnavailable:
            # The provider may have processed the call before the connection broke: look first.
            intent = gateway.find_intent(payment.payment_id)
            if intent is None:
                raise
            logger.warning("recovered an intent after a lost answer", extra={"payment_id": payment.payment_id})
            return ProviderAnswer(intent)

    # --- capture and cancel ----------------------------------------------------------------------
    def capture(self, user_id: str, payment_id: str, request: CaptureRequest, idempotency_key: str) -> Payment:
        payment = self.get(user_id, payment_id)
        if not capturable(payment):
            raise NOT_CAPTURABLE
        if request.amount is not None and request.amount > payment.amount:
            raise RequestValidationError([{"field": "amount", "message": "At most the held amount."}])
        refuse_amount_the_provider_would(request.amount, payment.currency, charged=True)
        requested = request.amount or payment.amount
        lease = new_lease()
        payment = self._claim_lease(payment, lease, capturable, NOT_CAPTURABLE)
        # The provider's key is this client operation's: a retry re-sends it, another capture (after
        # this one failed there) is not refused by the provider as a reused key.
        stripe_key = operation_id("cap", user_id, payment_id, idempotency_key)
        intent, answered = self._call_under_lease(
            payment,
            lease,
            lambda intent_id: self.gateway(payment).capture(intent_id, request.amount, stripe_key),
            "succeeded",
        )

        def apply(current: Payment) -> Change | None:
            change = intent_change(current, intent)
            if answered and change is not None and change.payment.status == "succeeded":
                # Never count more as captured than this capture asked for, whatever the provider echoes.
                change.payment.amount_captured = min(change.payment.amount_captured, requested)
            return unleased(change, current, lease)

        payment = self._update(user_id, payment_id, apply, known=payment)
        if payment.status in lifecycle.FINAL:  # the hold had ended at the provider
            raise NOT_CAPTURABLE
        return payment

    def cancel(self, user_id: str, payment_id: str, idempotency_key: str) -> Payment:
        payment = self.get(user_id, payment_id)
        if not cancelable(payment):
            raise NOT_CANCELABLE
        if payment.provider_payment_id:
            lease = new_lease()
            payment = self._claim_lease(payment, lease, cancelable, NOT_CANCELABLE)
            stripe_key = operation_id("can", user_id, payment_id, idempotency_key)
            intent, _ = self._call_under_lease(
                payment, lease, lambda intent_id: self.gateway(payment).cancel(intent_id, stripe_key), "canceled"
            )
            payment = self._update(
                user_id, payment_id, lambda p: unleased(intent_change(p, intent), p, lease), known=payment
            )
        else:
            payment = self._update(user_id, payment_id, cancel_locally)
        if payment.status != "canceled":
            raise NOT_CANCELABLE
        return payment

    def _claim_lease(
        self, payment: Payment, lease: str, eligible: Callable[[Payment], bool], refusal: DomainError
    ) -> Payment:
        """The payment with this request's provider-call lease, if it is still ``eligible``."""

        def claim(current: Payment) -> Change | None:
            if not eligible(current):
                raise refusal
            return take_lease(current, lease)

        return self._update(payment.user_id, payment.payment_id, claim, known=payment)

    def _call_under_lease(
        self, payment: Payment, lease: str, call: Callable[[str], ProviderIntent], reached: str
    ) -> tuple[ProviderIntent, bool]:
        """Runs one provider call on the payment's intent; returns the intent and whether the call
        itself answered. If the provider refuses it, the intent is read: one in status ``reached`` (a
        lost attempt of this request did it) or one that moved on elsewhere (ours follows it) is an
        answer too; otherwise the error stands and the lease ends."""
        intent_id = payment.provider_payment_id or ""
        try:
            return call(intent_id), True
        except DomainError:
            with self._lease_ended_on_error(payment, lease):
                intent = self.gateway(payment).retrieve_intent(intent_id)
                if intent.status != reached and not self._moved_on(payment, intent):
                    raise
            return intent, False

    @contextmanager
    def _lease_ended_on_error(self, payment: Payment, lease: str) -> Iterator[None]:
        """A provider call that ends in an error ends its attempt: the lease goes (a retry looks for
        what the attempt may have made before it acts)."""
        try:
            yield
        except DomainError:
            self._update(payment.user_id, payment.payment_id, release_lease(lease))
            raise

    def _moved_on(self, payment: Payment, intent: ProviderIntent) -> bool:
        """After the provider refused a call: if its intent has moved on from what we hold (a hold that
        expired, a payment captured or canceled elsewhere), ours follows it, events included. False
        when the provider still agrees with us: the error was the call's own."""
        updated = self._update(payment.user_id, payment.payment_id, lambda p: intent_change(p, intent))
        return updated.status != payment.status

    # --- refunds ---------------------------------------------------------------------------------
    def refund(self, user_id: str, payment_id: str, request: RefundRequest, idempotency_key: str) -> Refund:
        refund_id = operation_id("ref", user_id, payment_id, idempotency_key)
        request_fingerprint = fingerprint(request.model_dump(mode="json"))
        reserved_here: list[bool] = []

        def reserve(payment: Payment) -> Change | None:
            reserved_here[:] = [False]
            if refund_id in payment.refunds:
                earlier = payment.refunds[refund_id].request_fingerprint
                if earlier is not None and earlier != request_fingerprint:
                    raise KEY_REUSED  # the same key for another refund, after its record expired
                return None  # reserved by an earlier attempt of this same operation
            if payment.status not in lifecycle.MONEY_MOVED:
                raise Conflict("payment_not_refundable", "Only a succeeded payment can be refunded.")
            if payment.dispute is not None and payment.dispute.status != "won":
                # The provider refuses it (charge_disputed): the cardholder's bank is returning the money.
                raise PAYMENT_DISPUTED
            refuse_amount_the_provider_would(request.amount, payment.currency)
            remaining = payment.amount_captured - payment.amount_reserved
            amount = request.amount if request.amount is not None else remaining
            if amount <= 0 or amount > remaining:
                raise Conflict(
                    "refund_exceeds_remaining",
                    "The refund would exceed what remains of the captured amount.",
                    extra={"amount_remaining": max(remaining, 0)},
                )
            if len(payment.refunds) >= MAX_REFUNDS_PER_PAYMENT:
                raise REFUND_LIMIT_REACHED
            refund = Refund(
                refund_id=refund_id,
                payment_id=payment.payment_id,
                amount=amount,
                currency=payment.currency,
                status="pending",
                reason=request.reason,
                created_at=clock.iso(clock.now()),
                request_fingerprint=request_fingerprint,
                # The provider is asked right after this write: its first attempt is recorded with it.
                provider_attempts=1,
            )
            reserved_here[:] = [True]
            return Change(reserving(payment, refund), [("RefundCreated", refund)])

        payment = self._update(user_id, payment_id, reserve)
        refund = payment.refunds[refund_id]
        if refund.provider_refund_id is None and refund.status == "pending":
            payment = self._send_refund(payment, refund, counted=reserved_here == [True])
        return payment.refunds[refund_id]

    def _send_refund(self, payment: Payment, refund: Refund, *, counted: bool = False) -> Payment:
        """Sends a reserved refund to the provider, once. Every call is preceded by a stored attempt, so
        a later attempt looks for what an earlier one may have made. ``counted``: this request's own
        reservation recorded the first attempt (one write instead of two)."""
        assert payment.provider_payment_id
        gateway = self.gateway(payment)
        found = (
            gateway.find_refund(payment.provider_payment_id, refund.refund_id)
            if refund.provider_attempts and not counted
            else None
        )
        if found is None:
            if not counted:

                def count_attempt(current: Payment) -> Change:
                    updated = stamped(current)
                    updated.refunds[refund.refund_id].provider_attempts += 1
                    return Change(updated)

                payment = self._update(payment.user_id, payment.payment_id, count_attempt, known=payment)
            try:
                found = gateway.refund(
                    payment.provider_payment_id or "",
                    refund.amount,
                    refund.reason,
                    {"payment_id": payment.payment_id, "user_id": payment.user_id, "refund_id": refund.refund_id},
                    f"{refund.refund_id}-create",
                )
            except ProviderUnavailable:
                found = gateway.find_refund(payment.provider_payment_id or "", refund.refund_id)
                if found is None:
                    raise
            except (ProviderRejected, ProviderRefused):
                # Refused as invalid: nothing was refunded, and a retry would be refused again. The
                # refund fails, which releases its reservation (and tells the ledger and the client).
                logger.warning("refund refused by the provider", extra={"refund_id": refund.refund_id})
                return self._update(
                    payment.user_id, payment.payment_id, lambda p: refund_change(p, refund.refund_id, "failed", None)
                )
        provider_refund = found
        return self._update(
            payment.user_id,
            payment.payment_id,
            lambda p: refund_change(p, refund.refund_id, provider_refund.status, provider_refund.id),
            known=payment,
        )

    # --- one-time codes --------------------------------------------------------------------------
    def verify_code(self, payment: Payment, code: str) -> Payment:
        """A guess at the code of a payment waiting for one: the right code confirms it with the
        provider; the fifth wrong one cancels it."""
        if payment.status == "processing" and payment.provider_payment_id is None:
            return self.confirm(payment)  # a verified code whose confirmation was interrupted
        if payment.status != "requires_otp":
            raise OTP_NOT_REQUIRED
        if self.otp.check(payment, code) == "too_many":
            self.repository.update(payment.user_id, payment.payment_id, cancel_locally)
            raise TOO_MANY_ATTEMPTS
        return self._start_confirming(payment)

    def _start_confirming(self, payment: Payment) -> Payment:
        """Moves a payment whose right code was used to ``processing`` and confirms it."""
        lease = new_lease()

        def start_confirming(current: Payment) -> Change | None:
            if current.status != "requires_otp":
                return None  # canceled meanwhile (no money may move), or our own move already applied
            # The move carries the first provider attempt and its lease, as a direct payment's creation does.
            return Change(
                stamped(current, status="processing", provider_attempts=current.provider_attempts + 1, **leased(lease))
            )

        stored = self.repository.update(payment.user_id, payment.payment_id, start_confirming, known=payment)
        if stored is None or stored.status != "processing" or stored.lease_holder != lease:
            raise OTP_NOT_REQUIRED
        return self.confirm(stored, lease=lease)
