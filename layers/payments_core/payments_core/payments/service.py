"""The payment operations. Each one is safe to run again after a crash at any point: ids are
derived from the client's Idempotency-Key, the provider is asked what an interrupted attempt did
before it is asked again, and every state change is a conditional write with its outbox events."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from payments_core import clock
from payments_core.currencies import amount_problem, charge_amount_problem
from payments_core.errors import (
    NOT_FOUND,
    OTP_NOT_REQUIRED,
    TOO_MANY_ATTEMPTS,
    Conflict,
    Declined,
    DomainError,
    ProviderUnavailable,
    RequestValidationError,
)
from payments_core.idempotency_keys import KEY_REUSED, fingerprint
from payments_core.observability import logger
from payments_core.payments import lifecycle
from payments_core.payments.leases import (
    KEY_IN_PROGRESS,
    claim_confirmation,
    leased,
    live,
    new_lease,
    release_lease,
    release_refund_lease,
    take_lease,
    take_refund_lease,
    unleased,
)
from payments_core.payments.models import Change, Payment, Refund
from payments_core.payments.provider import (
    IntentLookupIncomplete,
    PaymentDeclined,
    PaymentGateway,
    ProviderFailed,
    ProviderIntent,
    ProviderRefused,
    ProviderRejected,
    Providers,
    closed_if_failed,
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

if TYPE_CHECKING:  # types only: each function loads the request model of its operation, and one-time
    # codes only where they are sent or checked (payments.wiring)
    from payments_core.payments.capture_request import CaptureRequest
    from payments_core.payments.create_request import CreatePaymentRequest
    from payments_core.payments.otp import OtpService
    from payments_core.payments.refund_request import RefundRequest

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


class ProviderAnswer(NamedTuple):  # not a dataclass: cheaper to create in init
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


# A capture's body fingerprint as the payment keeps it: 128 bits tell one body of a key from another.
SETTLED_FINGERPRINT_LENGTH = 32
# How long after a payment's creation its create call's idempotency key is still answered by the
# provider (Stripe keeps a key at least 24 hours), with an hour to spare.
CREATE_KEY_KEPT_SECONDS = 23 * 3600


def captured(payment: Payment) -> bool:
    return payment.status in lifecycle.MONEY_MOVED


def canceled(payment: Payment) -> bool:
    return payment.status == "canceled"


def _settled_by(
    payment: Payment, operation: str, request_fingerprint: str | None, done: Callable[[Payment], bool]
) -> bool:
    """Whether ``operation`` (a capture or cancel with the client's key) has ``done`` what it asks of
    ``payment``: then a retry answers the payment as it is now. The same key with another body is refused."""
    if payment.settled_by != operation:
        return False
    if payment.settled_fingerprint != request_fingerprint:
        raise KEY_REUSED
    return done(payment)


class PaymentService:
    """The payment operations, on a store of payments and the providers that hold them: a new payment
    goes to the default provider; everything after (confirm, capture, cancel, refunds) to the one that
    the payment names. Large payments wait for a one-time code (``otp``) before any money moves."""

    def __init__(
        self,
        repository: PaymentStore,
        providers: Providers,
        otp: Callable[[], OtpService],
        otp_threshold: int,
    ) -> None:
        self.repository = repository
        self.providers = providers
        # A factory is called on first use: only creating and confirming a payment use codes, and the
        # one-time-code service reads the OTP pepper, which only their functions are granted (capture,
        # cancel and refund, which never touch a code, would fail reading it in AWS).
        self._otp = otp
        self.otp_threshold = otp_threshold

    @functools.cached_property
    def otp(self) -> OtpService:
        return self._otp()

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
        if status == "requires_otp":
            self.otp.refuse_if_out_of_sends(user_id)  # nothing is stored for a code that cannot be sent
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
        since = payment.created_epoch()
        intent = None
        if look_first:
            try:
                intent = gateway.find_intent(payment.payment_id, created_since=since)
            except IntentLookupIncomplete:
                # Not found among the intents read: create again with the attempt's own key, which the
                # provider answers with the intent a lost attempt made, while it keeps the key (24 h)
                if clock.now().timestamp() - since > CREATE_KEY_KEPT_SECONDS:  # created_at's clock
                    raise
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
            intent = gateway.find_intent(payment.payment_id, created_since=since)
            if intent is None:
                raise
            logger.warning("recovered an intent after a lost answer", extra={"payment_id": payment.payment_id})
            return ProviderAnswer(intent)

    # --- capture and cancel ----------------------------------------------------------------------
    # A payment is captured or canceled at most once, and is that operation's idempotency record: the
    # write that takes the provider-call lease for it stores its operation id (derived from the user, the
    # payment and the client's key; also the provider's idempotency key) and its body's fingerprint
    # (``settled_by``), so a retry with the key answers the payment as it is now, the same key with another
    # body is refused, and one meeting its key's earlier request still running waits for it.
    def capture(self, user_id: str, payment_id: str, request: CaptureRequest, idempotency_key: str) -> Payment:
        return self.capture_once(user_id, payment_id, request, idempotency_key)[0]

    def capture_once(
        self, user_id: str, payment_id: str, request: CaptureRequest, idempotency_key: str
    ) -> tuple[Payment, bool]:
        """The captured payment, and whether an earlier request with this key captured it (a replay)."""
        # The provider's key is this client operation's: a retry re-sends it, another capture (after
        # this one failed there) is not refused by the provider as a reused key.
        operation = operation_id("cap", user_id, payment_id, idempotency_key)
        request_fingerprint = fingerprint(request.model_dump(mode="json"))[:SETTLED_FINGERPRINT_LENGTH]
        payment = self.get(user_id, payment_id)
        if _settled_by(payment, operation, request_fingerprint, captured):
            return payment, True
        if not capturable(payment):
            raise NOT_CAPTURABLE
        if request.amount is not None and request.amount > payment.amount:
            raise RequestValidationError([{"field": "amount", "message": "At most the held amount."}])
        refuse_amount_the_provider_would(request.amount, payment.currency, charged=True)
        requested = request.amount or payment.amount
        resumed = payment.settled_by == operation  # an earlier request with the key ended without an answer
        lease = new_lease()
        payment = self._claim_lease(
            payment, lease, capturable, NOT_CAPTURABLE, captured, operation, request_fingerprint
        )
        if payment.lease_holder != lease:
            return payment, True  # an earlier request with this key captured it meanwhile
        intent, answered = self._call_under_lease(
            payment,
            lease,
            # Stripe keeps the first answer to a key for 24 h, errors included: the body's fingerprint in
            # the key lets a key that Stripe refused be used again with another body (a capture happens
            # at most once at Stripe whatever the key, so this can never capture twice).
            lambda intent_id: self.gateway(payment).capture(
                intent_id, request.amount, f"{operation}-{request_fingerprint}"
            ),
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
        return payment, resumed

    def cancel(self, user_id: str, payment_id: str, idempotency_key: str) -> Payment:
        return self.cancel_once(user_id, payment_id, idempotency_key)[0]

    def cancel_once(self, user_id: str, payment_id: str, idempotency_key: str) -> tuple[Payment, bool]:
        """The canceled payment, and whether an earlier request with this key canceled it (a replay)."""
        operation = operation_id("can", user_id, payment_id, idempotency_key)
        payment = self.get(user_id, payment_id)
        if _settled_by(payment, operation, None, canceled):
            return payment, True
        if not cancelable(payment):
            raise NOT_CANCELABLE
        if payment.provider_payment_id:
            replayed = payment.settled_by == operation  # resumed: an earlier request with the key ended unanswered
            lease = new_lease()
            payment = self._claim_lease(payment, lease, cancelable, NOT_CANCELABLE, canceled, operation, None)
            if payment.lease_holder != lease:
                return payment, True  # an earlier request with this key canceled it meanwhile
            intent, _ = self._call_under_lease(
                payment, lease, lambda intent_id: self.gateway(payment).cancel(intent_id, operation), "canceled"
            )
            payment = self._update(
                user_id, payment_id, lambda p: unleased(intent_change(p, intent), p, lease), known=payment
            )
        else:
            payment, replayed = self._cancel_locally(payment, operation)
        if payment.status != "canceled" or payment.settled_by != operation:
            raise NOT_CANCELABLE
        return payment, replayed

    def _cancel_locally(self, payment: Payment, operation: str) -> tuple[Payment, bool]:
        """Cancels a payment the provider never saw, recording the cancel as its key's; and whether an
        earlier request with the key had (a replay)."""
        wrote: list[bool] = []

        def cancel(current: Payment) -> Change | None:
            wrote[:] = [False]
            if _settled_by(current, operation, None, canceled):
                return None
            change = cancel_locally(current)
            if change is not None:
                change.payment.settled_by = operation
                wrote[:] = [True]
            return change

        stored = self._update(payment.user_id, payment.payment_id, cancel)
        return stored, wrote != [True]

    def _claim_lease(
        self,
        payment: Payment,
        lease: str,
        eligible: Callable[[Payment], bool],
        refusal: DomainError,
        done: Callable[[Payment], bool],
        operation: str,
        request_fingerprint: str | None,
    ) -> Payment:
        """The payment with this request's provider-call lease taken for ``operation``, if it is still
        ``eligible``; as it is, without the lease, if an earlier request with the key has ``done`` it."""

        def claim(current: Payment) -> Change | None:
            if _settled_by(current, operation, request_fingerprint, done):
                return None
            if not eligible(current):
                raise refusal
            if current.settled_by == operation and current.lease_holder != lease and live(current.lease_until):
                raise KEY_IN_PROGRESS  # this key's earlier request is still at the provider: wait for it
            return take_lease(current, lease, settled_by=operation, settled_fingerprint=request_fingerprint)

        return self._update(payment.user_id, payment.payment_id, claim, known=payment)

    def _call_under_lease(
        self, payment: Payment, lease: str, call: Callable[[str], ProviderIntent], reached: str
    ) -> tuple[ProviderIntent, bool]:
        """Runs one provider call on the payment's intent; returns the intent and whether the call
        itself answered. If the provider refuses it, the intent is read: one in status ``reached`` (a
        lost attempt of this request did it) or one that moved on elsewhere (ours follows it) is an
        answer too; otherwise the error stands and the lease ends. The capture or cancel it was for is
        forgotten with it only when the intent shows it changed nothing (``settled_by``): when that is not
        known (the intent could not be read), its key and body stay, and a retry of them resumes it."""
        intent_id = payment.provider_payment_id or ""
        try:
            return call(intent_id), True
        except DomainError:
            with self._lease_ended_on_error(payment, lease):
                gateway = self.gateway(payment)
                # a failed intent is closed before ours follows it (``closed_if_failed``)
                intent = closed_if_failed(gateway, gateway.retrieve_intent(intent_id))
                followed = intent.status == reached or self._moved_on(payment, intent)
            if not followed:
                self._update(payment.user_id, payment.payment_id, release_lease(lease, forget=True))
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
    # A refund is its key's idempotency record: its id is derived from the user, the payment and the
    # key, it keeps its request's fingerprint, and its own provider-call lease lets one request at a
    # time send it (a retry meeting the first still sending it waits for it).
    def refund(self, user_id: str, payment_id: str, request: RefundRequest, idempotency_key: str) -> Refund:
        return self.refund_once(user_id, payment_id, request, idempotency_key)[0]

    def refund_once(
        self, user_id: str, payment_id: str, request: RefundRequest, idempotency_key: str
    ) -> tuple[Refund, bool]:
        """The refund for this key, and whether an earlier request with the key made it (a replay)."""
        refund_id = operation_id("ref", user_id, payment_id, idempotency_key)
        request_fingerprint = fingerprint(request.model_dump(mode="json"))
        lease = new_lease()

        def reserve(payment: Payment) -> Change | None:
            if refund_id in payment.refunds:
                earlier = payment.refunds[refund_id]
                if earlier.request_fingerprint is not None and earlier.request_fingerprint != request_fingerprint:
                    raise KEY_REUSED
                if earlier.status != "pending" or earlier.provider_refund_id is not None:
                    return None  # the provider has answered it: nothing left to send
                # Not answered yet: an earlier attempt is sending it, or ended (a crash, the provider
                # unreachable) before it stored an answer, and this one resumes it.
                return take_refund_lease(payment, refund_id, lease)
            if payment.status not in lifecycle.MONEY_MOVED:
                raise Conflict("payment_not_refundable", "Only a succeeded payment can be refunded.")
            if payment.dispute is not None and not payment.dispute.refundable:
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
                # The provider is asked right after this write: its first attempt is recorded with it,
                # under this request's lease.
                provider_attempts=1,
                last_attempt_at=clock.epoch_seconds(),
                **leased(lease),
            )
            return Change(reserving(payment, refund), [("RefundCreated", refund)])

        payment = self._update(user_id, payment_id, reserve)
        refund = payment.refunds[refund_id]
        if refund.lease_holder != lease:
            return refund, True  # answered for an earlier request with this key
        # This request's own reservation made it (its first attempt), or this one resumes an earlier one.
        made_here = refund.provider_attempts == 1
        payment = self._send_refund(payment, refund, lease, look_first=not made_here)
        return payment.refunds[refund_id], not made_here

    def _send_refund(self, payment: Payment, refund: Refund, lease: str, *, look_first: bool) -> Payment:
        """Sends a reserved refund to the provider under its lease, once: every call is preceded by a
        stored attempt, so a later one looks first (``look_first``) for what an earlier one may have made.
        An error ends the lease (a retry resumes at once); a crash leaves it to lapse."""
        assert payment.provider_payment_id
        gateway = self.gateway(payment)
        refund_id = refund.refund_id
        try:
            found = gateway.find_refund(payment.provider_payment_id, refund_id) if look_first else None
            if found is None:
                try:
                    found = gateway.refund(
                        payment.provider_payment_id,
                        refund.amount,
                        refund.reason,
                        {"payment_id": payment.payment_id, "user_id": payment.user_id, "refund_id": refund_id},
                        f"{refund_id}-create",
                    )
                except ProviderUnavailable:
                    found = gateway.find_refund(payment.provider_payment_id, refund_id)
                    if found is None:
                        raise
                except (ProviderRejected, ProviderRefused):
                    # Refused as invalid: nothing was refunded, and a retry would be refused again. The
                    # refund fails, which releases its reservation (and tells the ledger and the client).
                    logger.warning("refund refused by the provider", extra={"refund_id": refund_id})
                    from payments_core.payments.provider_records import ProviderRefund

                    found = ProviderRefund(id="", status="failed", amount=refund.amount)
        except DomainError:
            self._update(payment.user_id, payment.payment_id, release_refund_lease(refund_id, lease))
            raise
        provider_refund = found

        def answered(current: Payment) -> Change | None:
            change = refund_change(current, refund_id, provider_refund.status, provider_refund.id or None)
            # A webhook may have stored the answer first: then only the lease is left to end.
            return change or release_refund_lease(refund_id, lease)(current)

        return self._update(payment.user_id, payment.payment_id, answered, known=payment)

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
