"""The reconciler: every open payment settles with the provider, whether or not a webhook ever came.

Run on a schedule (``ReconcilerFunction``). Each pass reads the open items that are due from the
sparse ``Reconciliation`` index (``payments.open_items``; the repository's ``due``: one Query per shard
and page, never a Scan), reads each payment again (consistently) and settles it:

- an intent it holds, or one the provider made for it (``find_intent`` by our payment id, when its
  create answer was lost) -> whatever the provider says now, through ``provider_state_change``, the
  webhook's one code path for "Stripe says X" (refunds included when it has pending ones);
- an attempt that never reached the provider (no intent there, its lease run out) -> ``failed``
  (``never_reached``), under the reconciler's own lease so no client retry creates one meanwhile;
- ``requires_otp`` past its code's expiry plus the grace period -> ``canceled`` (``code_expired``);
- a hold: Stripe releases it after 7 days, and ours follows what the intent says then;
- a pending refund the provider holds nothing of, a day after it was made (the provider no longer
  keeps its key, and its client has not come back) -> ``failed`` with ``not_sent``, under the refund's
  own lease and after one more look at the provider, so its reservation no longer blocks what the
  provider holds (a refund made on the dashboard meanwhile, a refund reversed).

Every write is the repository's version-conditioned put of the payment with its events, so a pass
racing a webhook, a client retry or another pass still gives one effect: whichever writes second
finds nothing left to change. A look that changes nothing pushes the payment's next look back
(``looked``: doubling, at most a day), so a payment Stripe keeps in ``requires_action`` costs a few
reads a day, not one per pass. Work per pass is bounded: a page per shard, and no new payment once
the time budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from payments_core import clock
from payments_core.errors import DomainError
from payments_core.observability import logger, metrics
from payments_core.payments import lifecycle, open_items
from payments_core.payments.leases import (
    LEASE_SECONDS,
    new_lease,
    release_lease,
    release_refund_lease,
    take_lease,
    take_refund_lease,
    unleased,
)
from payments_core.payments.models import Change, Payment
from payments_core.payments.otp_repository import CodeStore
from payments_core.payments.provider import ProviderRejected, Providers, closed_if_failed
from payments_core.payments.repository import OpenPaymentStore
from payments_core.payments.transitions import (
    NOT_SENT,
    NotRecordableYet,
    ProviderState,
    code_expired,
    intent_problem,
    looked,
    never_reached,
    provider_state_change,
    refund_change,
)

MAX_BACKOFF_SECONDS = 24 * 3600
# Stripe retries a webhook delivery for up to 3 days: an event deferred that long ago and still not
# applied will not be delivered again by itself.
DEFERRED_ALERT_SECONDS = 3 * 24 * 3600
# A pending refund the provider holds nothing of is failed this long after it was made: its request
# died (a crash, or an error the provider keeps answering to its key for 24 h) and no retry came.
UNSENT_REFUND_SECONDS = 24 * 3600
# ... and at least this long after its last attempt: an answer lost to a timeout may still be in the
# making at the provider for a while after the request gave up on it.
UNSENT_QUIET_SECONDS = 3600


def unsent_long_enough(payment: Payment, refund_id: str) -> bool:
    """Whether a pending refund the provider holds nothing of may be failed as never sent: a day after
    it was made, and an hour after its last attempt (for a refund stored before attempts were timed,
    after the payment's last write, which every attempt's lease stamps)."""
    refund = payment.refunds[refund_id]
    now = clock.epoch_seconds()
    created = clock.parse(refund.created_at).timestamp()
    last_attempt = refund.last_attempt_at if refund.last_attempt_at is not None else payment.updated_epoch()
    return now - created >= UNSENT_REFUND_SECONDS and now - max(last_attempt, created) >= UNSENT_QUIET_SECONDS


class PassSummary:  # not a dataclass: cheaper to create in init
    """What one pass did, by outcome ("settled", "unchanged", "leased", ...), for the log and metrics."""

    __slots__ = ("deferred_unapplied", "out_of_time", "outcomes")

    def __init__(self) -> None:
        self.outcomes: dict[str, int] = {}
        self.deferred_unapplied = 0
        self.out_of_time = False

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def settled(self) -> int:
        return self.outcomes.get("settled", 0)


class Reconciler:
    def __init__(
        self,
        repository: OpenPaymentStore,
        providers: Providers,
        codes: CodeStore,
        *,
        min_age_seconds: int,
        look_ahead_seconds: int = 0,
        page_size: int = 25,
        deferred_alert_seconds: int = DEFERRED_ALERT_SECONDS,
    ) -> None:
        self.repository = repository
        self.providers = providers
        self.codes = codes
        self.min_age_seconds = min_age_seconds
        # > 0: items due later are looked at now too (an operator's "check every open item now"); the
        # grace after a code's expiry stays min_age_seconds, so no code is cut short by it.
        self.look_ahead_seconds = look_ahead_seconds
        self.page_size = page_size
        self.deferred_alert_seconds = deferred_alert_seconds

    # --- what is due ---------------------------------------------------------------------------
    def _cutoff(self) -> str:
        """Due: ``recon_at`` at most this. To the millisecond, as the index's times are: a cutoff cut to
        the whole second left out an item written earlier in the same second (with no minimum age, a pass
        run right after a write found nothing due)."""
        return clock.iso(clock.now() - timedelta(seconds=self.min_age_seconds - self.look_ahead_seconds))

    def due(self) -> Iterator[tuple[str, str]]:
        """(user id, payment id) of open payments due for a look: one page per shard, oldest first."""
        return self.repository.due(self._cutoff(), self.page_size)

    # --- one pass --------------------------------------------------------------------------------
    def run(self, remaining_ms: Callable[[], int], *, reserve_ms: int = 60_000) -> PassSummary:
        """Settles what is due until done or until ``remaining_ms()`` falls under ``reserve_ms`` (what
        one payment's provider calls may take, with the write after them)."""
        summary = PassSummary()
        for user_id, payment_id in self.due():
            if remaining_ms() < reserve_ms:
                summary.out_of_time = True
                break
            try:
                outcome = self.settle(user_id, payment_id)
            except Exception:  # one payment's trouble must not stop the pass: logged, counted, retried next pass
                logger.exception("reconciler could not settle a payment", extra={"payment_id": payment_id})
                outcome = "error"
                self._after_error(user_id, payment_id)
            summary.count(outcome)
        summary.deferred_unapplied = self.deferred_unapplied()
        metrics.add_metric(name="ReconcilerSettled", unit="Count", value=summary.settled)
        metrics.add_metric(name="ReconcilerErrors", unit="Count", value=summary.outcomes.get("error", 0))
        metrics.add_metric(name="WebhookDeferredUnapplied", unit="Count", value=summary.deferred_unapplied)
        logger.info(
            "reconciler pass",
            extra={
                "outcomes": summary.outcomes,
                "deferred_unapplied": summary.deferred_unapplied,
                "out_of_time": summary.out_of_time,
            },
        )
        return summary

    def settle(self, user_id: str, payment_id: str) -> str:
        """Brings one payment to the provider's state; returns what happened."""
        payment = self.repository.get(user_id, payment_id)
        at = open_items.open_at(payment) if payment is not None else None
        if payment is None or at is None or clock.iso(at) > self._cutoff():
            return "not_due"  # settled or changed since the index was read
        if payment.status == "requires_otp":
            return self._expire_code(payment)
        if payment.status == "processing" and payment.provider_payment_id is None:
            return self._settle_unlinked(payment)
        if payment.provider_payment_id is None:
            return self._looked(payment)  # no intent to ask about (not reachable: only processing lacks one)
        try:
            gateway = self.providers[payment.provider]
            intent = closed_if_failed(gateway, gateway.retrieve_intent(payment.provider_payment_id))
            pending = any(r.status == "pending" for r in payment.refunds.values())
            refunds = gateway.list_refunds(intent.id) if pending else None
        except DomainError:
            logger.warning("reconciler could not reach the provider", extra={"payment_id": payment_id})
            return "provider_unavailable"
        state = ProviderState(intent, refunds)
        held: list[str] = []
        outcome = self._apply(payment, state, held_back=held)
        if (outcome == "unchanged" or held) and refunds is not None:
            unsent = self._refunds_not_at_provider(payment, {r.metadata.get("refund_id") for r in refunds})
            if [refund_id for refund_id in unsent if self._fail_unsent(payment, refund_id)]:
                # What their reservations kept from being recorded (a dashboard refund) fits now, and the
                # payment may not be looked at again: applied in this pass (its write reads it afresh).
                self._apply(payment, state)
                return "settled"
        return outcome

    def _after_error(self, user_id: str, payment_id: str) -> None:
        """A payment that failed to settle waits like one that changed nothing, so a page of failing
        payments at the head of a shard cannot keep the pass from the rest."""
        try:
            payment = self.repository.get(user_id, payment_id)
            if payment is not None:
                self._looked(payment)
        except Exception:
            logger.exception("reconciler could not defer a payment", extra={"payment_id": payment_id})

    # --- the cases -------------------------------------------------------------------------------
    def _apply(
        self, payment: Payment, state: ProviderState, *, lease: str | None = None, held_back: list[str] | None = None
    ) -> str:
        """``held_back``: a refund of the provider's that ours cannot take yet (a dashboard refund our
        reservations leave no room for) is left out and named there, and the rest is applied, as the
        webhook does; without it, such a refund stops the whole change."""
        changed: list[bool] = []

        def apply(current: Payment) -> Change | None:
            if held_back is not None:
                held_back.clear()  # what this read of the payment leaves out, not an earlier one's
            change = provider_state_change(current, state, held_back=held_back)
            changed[:] = [change is not None]
            return unleased(change, current, lease) if lease is not None else change

        try:
            self.repository.update(payment.user_id, payment.payment_id, apply)
        except NotRecordableYet as reason:
            logger.warning(
                "reconciler deferred a provider state", extra={"payment_id": payment.payment_id, "reason": str(reason)}
            )
            if lease is not None:
                self.repository.update(payment.user_id, payment.payment_id, release_lease(lease))
            return self._looked(payment)
        if held_back:
            logger.warning(
                "reconciler applied a provider state in part",
                extra={"payment_id": payment.payment_id, "reason": held_back[0]},
            )
        if changed and changed[0]:
            logger.info("reconciler settled a payment", extra={"payment_id": payment.payment_id})
            return "settled"
        return self._looked(payment)

    def _settle_unlinked(self, payment: Payment) -> str:
        """A payment whose create answer was lost (or never sent): the intent the provider made for it,
        or, if there is none, the attempt never reached the provider. Under the reconciler's own lease,
        so a client retry does not create an intent while we conclude there is none."""
        lease = new_lease()

        def claim(current: Payment) -> Change | None:
            if current.status != "processing" or current.provider_payment_id is not None:
                return None
            return take_lease(current, lease)

        try:
            claimed = self.repository.update(payment.user_id, payment.payment_id, claim)
        except DomainError:
            return "leased"  # a request is talking to the provider about it now: next pass
        if claimed is None or claimed.lease_holder != lease:
            return "not_due"
        try:
            gateway = self.providers[payment.provider]
            # Its attempts made it, if any did: after the payment was created, and before the lease taken
            # by the write that last changed it ran out (the last attempt's at the first look; a look's
            # own lease moves that end on, so a later look reads a wider span, never a narrower one)
            intent = gateway.find_intent(
                payment.payment_id,
                created_since=payment.created_epoch(),
                created_until=payment.updated_epoch() + LEASE_SECONDS,
            )
            if intent is not None and intent_problem(payment, intent) is None:
                intent = closed_if_failed(gateway, intent)
        except DomainError:
            self.repository.update(payment.user_id, payment.payment_id, release_lease(lease))
            logger.warning("reconciler could not reach the provider", extra={"payment_id": payment.payment_id})
            return "provider_unavailable"
        if intent is not None:
            return self._apply(claimed, ProviderState(intent), lease=lease)
        stored = self.repository.update(payment.user_id, payment.payment_id, lambda p: never_reached(p, lease))
        if stored is not None and stored.status == "failed":
            logger.warning(
                "payment failed: its attempt never reached the provider", extra={"payment_id": payment.payment_id}
            )
            return "settled"
        self.repository.update(payment.user_id, payment.payment_id, release_lease(lease))
        return "unchanged"

    def _expire_code(self, payment: Payment) -> str:
        """Cancels a payment whose one-time code expired more than the grace period ago. A code that was
        used (a verify is moving the payment on, or died doing so) is given the lease's span first."""
        code = self.codes.load(payment.user_id, payment.payment_id) or {}
        expires_at = int(code.get("expires_at", 0)) or int(
            open_items.parse(payment.created_at).timestamp() + open_items.CODE_TTL_SECONDS
        )
        not_before = expires_at + self.min_age_seconds
        if "used_at" in code:
            not_before = max(not_before, int(code["used_at"]) + LEASE_SECONDS)
        if clock.epoch_seconds() < not_before:
            self.repository.update(payment.user_id, payment.payment_id, self._later(payment, not_before))
            return "unchanged"
        stored = self.repository.update(payment.user_id, payment.payment_id, code_expired)
        if stored is not None and stored.status == "canceled":
            logger.info("payment canceled: its one-time code expired", extra={"payment_id": payment.payment_id})
            return "settled"
        return "not_due"

    def _refunds_not_at_provider(self, payment: Payment, at_provider: set[str | None]) -> list[str]:
        """Pending refunds the provider holds nothing of: their request died before reaching the provider
        (or the provider answered it with an error) and no retry came. Never sent by the reconciler (only
        the client's retry may move money): seen, and returned once a day old (``_fail_unsent``)."""
        unsent = []
        for refund in payment.refunds.values():
            if refund.status == "pending" and refund.provider_refund_id is None and refund.refund_id not in at_provider:
                logger.error(
                    "pending refund the provider does not hold",
                    extra={"payment_id": payment.payment_id, "refund_id": refund.refund_id},
                )
                metrics.add_metric(name="RefundNotAtProvider", unit="Count", value=1)
                if unsent_long_enough(payment, refund.refund_id):
                    unsent.append(refund.refund_id)
        return unsent

    def _fail_unsent(self, payment: Payment, refund_id: str) -> bool:
        """Fails a refund the provider holds nothing of a day after it was made, which releases what it
        reserved. Under the refund's own lease (a retry of its client waits meanwhile, then gets the
        failure), after one more look at the provider under it (an attempt may have reached it since
        the list was read). A retry with its key is then answered ``failed`` and sends nothing. Whether
        it was failed (or its provider answer, found at that look, recorded)."""
        gateway = self.providers[payment.provider]
        intent_id = payment.provider_payment_id
        assert intent_id
        lease = new_lease()

        def claim(current: Payment) -> Change | None:
            refund = current.refunds.get(refund_id)
            if refund is None or refund.status != "pending" or refund.provider_refund_id is not None:
                return None  # answered meanwhile: nothing of it to fail
            if not unsent_long_enough(current, refund_id):
                return None  # a retry was sent since this pass read the payment: its answer may be late
            return take_refund_lease(current, refund_id, lease, attempt=False)

        try:
            claimed = self.repository.update(payment.user_id, payment.payment_id, claim)
            if claimed is None or claimed.refunds[refund_id].lease_holder != lease:
                return False
            found = gateway.find_refund(intent_id, refund_id)
        except (DomainError, ProviderRejected):  # a request holds it, or the provider cannot be asked
            self.repository.update(payment.user_id, payment.payment_id, release_refund_lease(refund_id, lease))
            return False
        changed: list[bool] = []

        def settle(current: Payment) -> Change | None:
            refund = current.refunds[refund_id]
            changed[:] = [False]
            if refund.lease_holder != lease or refund.status != "pending":
                return None
            changed[:] = [True]
            if found is not None:  # it reached the provider after all: its answer, as a retry would store it
                return refund_change(current, refund_id, found.status, found.id or None)
            return refund_change(current, refund_id, "failed", None, failure_reason=NOT_SENT)

        stored = self.repository.update(payment.user_id, payment.payment_id, settle)
        if changed and changed[0] and stored is not None and stored.refunds[refund_id].failure_reason == NOT_SENT:
            logger.error(
                "refund failed: it never reached the provider",
                extra={"payment_id": payment.payment_id, "refund_id": refund_id},
            )
            metrics.add_metric(name="RefundNotSent", unit="Count", value=1)
        return bool(changed and changed[0])

    def _later(self, payment: Payment, until: int) -> Callable[[Payment], Change | None]:
        def later(current: Payment) -> Change | None:
            if current.version != payment.version:
                return None  # it changed since: its own next look stands
            return looked(current, until)

        return later

    def _looked(self, payment: Payment) -> str:
        """Nothing to change: the next look after a doubling wait (at most a day)."""
        wait = min(self.min_age_seconds * 2 ** min(payment.looks_since_change(), 20), MAX_BACKOFF_SECONDS)
        current = self.repository.get(payment.user_id, payment.payment_id)
        if current is not None and current.status not in lifecycle.FINAL:
            self.repository.update(
                payment.user_id, payment.payment_id, self._later(current, clock.epoch_seconds() + max(wait, 1))
            )
        return "unchanged"

    # --- webhooks deferred -----------------------------------------------------------------------
    def deferred_unapplied(self) -> int:
        """Webhook events deferred (non-2xx) longer ago than Stripe retries and never applied since.
        One applied since left the index then (``PaymentRepository.settle_deferred``)."""
        cutoff = clock.iso(clock.now() - timedelta(seconds=self.deferred_alert_seconds))
        unapplied = 0
        for event_id in self.repository.deferred_before(cutoff):
            unapplied += 1
            logger.error("webhook event deferred and never applied", extra={"event_id": event_id})
        return unapplied


def budget_from(context: Any) -> Callable[[int], int] | Callable[[], int]:
    """The Lambda's remaining time in ms, or 10 minutes where there is no context."""
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        return context.get_remaining_time_in_millis  # type: ignore[no-any-return]
    deadline = time.monotonic() + 600
    return lambda: int((deadline - time.monotonic()) * 1000)
