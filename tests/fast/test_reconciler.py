"""The reconciler's rules on the in-memory store and FakePay: what is due for a look and when, and
what a pass makes of it, with no webhook ever delivered."""

from __future__ import annotations

from typing import Any

import pytest

from payments_core import clock
from payments_core.payments.provider import Providers, ProviderUnavailable
from payments_core.payments.refund_request import RefundRequest
from payments_core.reconciler import Reconciler
from tests.fast.conftest import OTP_THRESHOLD, USER, Domain

START = 1_800_000_000  # the domain fixture's clock
MIN_AGE = 600
DAY = 24 * 3600


@pytest.fixture
def reconciler(domain: Domain, monkeypatch: pytest.MonkeyPatch) -> Reconciler:
    # One clock for both readings: the payments' times and the reconciler's cutoff.
    monkeypatch.setattr(clock, "now", lambda: clock.from_epoch(domain.now[0]))
    return Reconciler(domain.store, Providers.only(domain.provider), domain.codes, min_age_seconds=MIN_AGE)


def due_after(domain: Domain, reconciler: Reconciler, seconds: int) -> set[str]:
    """The payment ids due for a look ``seconds`` from the start (the clock is moved there)."""
    domain.now[0] = START + seconds
    return {payment_id for _, payment_id in reconciler.due()}


def test_an_open_payment_is_due_once_its_minimum_age_has_passed_a_hold_when_it_would_be_released(
    domain: Domain, reconciler: Reconciler
) -> None:
    waiting = domain.pay(2500, method="fp_3ds")  # requires_action: the webhook may still come
    hold = domain.pay(3000, capture_method="manual")  # requires_capture: released after 7 days
    code = domain.pay(OTP_THRESHOLD)  # requires_otp: its code lives 5 minutes
    domain.pay(1200)  # succeeded: nothing left to look at
    assert due_after(domain, reconciler, MIN_AGE - 1) == set()
    assert due_after(domain, reconciler, MIN_AGE) == {waiting.payment_id}
    assert due_after(domain, reconciler, 300 + MIN_AGE) == {waiting.payment_id, code.payment_id}
    assert hold.payment_id not in due_after(domain, reconciler, 7 * DAY - 1 + MIN_AGE)
    assert hold.payment_id in due_after(domain, reconciler, 7 * DAY + MIN_AGE)


def test_a_pass_settles_what_the_provider_says_and_backs_off_from_what_it_cannot_settle(
    domain: Domain, reconciler: Reconciler
) -> None:
    completed = domain.pay(2500, method="fp_3ds")
    abandoned = domain.pay(2600, method="fp_3ds")
    domain.provider.customer_completes_action(completed.provider_payment_id or "")
    domain.now[0] = START + MIN_AGE

    summary = reconciler.run(lambda: 300_000)

    assert summary.outcomes == {"settled": 1, "unchanged": 1}
    assert domain.stored(completed.payment_id).status == "succeeded"
    assert domain.store.events(completed.payment_id)[-1] == "PaymentSucceeded"
    # The one still waiting is looked at again later, not at every pass.
    assert due_after(domain, reconciler, MIN_AGE + 1) == set()
    assert due_after(domain, reconciler, 3 * MIN_AGE) == {abandoned.payment_id}


def test_a_payment_whose_code_expired_is_canceled_after_the_grace_period(
    domain: Domain, reconciler: Reconciler
) -> None:
    payment = domain.pay(OTP_THRESHOLD)
    assert payment.status == "requires_otp"
    domain.now[0] = START + 300 + MIN_AGE

    assert reconciler.run(lambda: 300_000).outcomes == {"settled": 1}
    assert domain.stored(payment.payment_id).status == "canceled"
    assert due_after(domain, reconciler, 30 * DAY) == set()


def test_webhook_events_deferred_longer_than_the_provider_retries_are_counted_until_applied(
    domain: Domain, reconciler: Reconciler
) -> None:
    domain.store.note_deferred("ev_old", "fakepay.payment", "not recordable yet")
    domain.now[0] = START + 3 * DAY - 1
    assert reconciler.deferred_unapplied() == 0
    domain.now[0] = START + 3 * DAY
    assert reconciler.deferred_unapplied() == 1
    domain.store.settle_deferred("ev_old")
    assert reconciler.deferred_unapplied() == 0


def test_a_lost_create_is_failed_only_once_the_provider_is_known_to_hold_no_intent_for_it(
    domain: Domain, reconciler: Reconciler
) -> None:
    from payments_core.errors import ProviderUnavailable
    from payments_core.payments.create_request import CreatePaymentRequest
    from payments_core.payments.leases import LEASE_SECONDS
    from tests.fast.conftest import USER

    # Given a payment whose create never got the provider's answer (it holds no intent)
    request = CreatePaymentRequest(amount=2500, currency="usd", payment_method="fp_down")
    with pytest.raises(ProviderUnavailable):
        domain.service.create(USER, request, "key-lost")
    (lost,) = domain.store.items.values()
    # When a pass looks for the intent among more of the provider's intents than one lookup reads
    domain.provider.too_many_intents = True
    domain.now[0] = START + MIN_AGE + LEASE_SECONDS
    assert reconciler.run(lambda: 300_000).outcomes == {"provider_unavailable": 1}
    # Then "not found among those read" is not "none": the payment is not failed (it may have been
    # charged), and a later pass that reads them all concludes
    assert domain.stored(lost.payment_id).status == "processing"
    domain.provider.too_many_intents = False
    domain.now[0] += 3 * MIN_AGE
    assert reconciler.run(lambda: 300_000).outcomes == {"settled": 1}
    assert domain.stored(lost.payment_id).status == "failed"


@pytest.mark.parametrize("customer_confirms_meanwhile", [False, True])
def test_a_failed_challenge_is_recorded_only_once_its_intent_can_no_longer_be_charged(
    domain: Domain, reconciler: Reconciler, customer_confirms_meanwhile: bool
) -> None:
    from payments_core.payments.provider import ProviderRefused

    # Given a payment whose customer failed its challenge, with no webhook delivered: the provider keeps
    # its intent open for another payment method
    payment = domain.pay(2500, method="fp_3ds")
    intent = payment.provider_payment_id or ""
    domain.provider.customer_fails_action(intent)
    if customer_confirms_meanwhile:  # the customer's browser confirms it again, with another card, just
        # after the pass read it as failed
        domain.provider.before_cancel = domain.provider.customer_completes_action
    # When a pass looks at it
    domain.now[0] = START + MIN_AGE
    assert reconciler.run(lambda: 300_000).outcomes == {"settled": 1}
    # Then either the intent was canceled at the provider before the failure was recorded (so nothing
    # can be charged that we do not show), or, refused because it had moved on, what it moved to is recorded
    stored = domain.stored(payment.payment_id)
    assert [operation for operation, _ in domain.provider.calls].count("close") == 1
    if customer_confirms_meanwhile:
        assert (stored.status, domain.provider.intents[intent]["status"]) == ("succeeded", "succeeded")
    else:
        assert stored.status == "failed"
        assert domain.provider.intents[intent].get("closed")  # it can no longer be confirmed
        with pytest.raises(ProviderRefused):
            domain.provider.customer_completes_action(intent)


def test_a_refund_that_never_reached_the_provider_fails_after_a_day_and_unblocks_what_the_provider_holds(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments.provider import ProviderFailed

    # Given a payment of 100.00 with a refund of 20.00 that went through, and one of 70.00 that the
    # provider answered 500 and never made (it keeps that answer for the key 24 h), with no retry
    paid = domain.pay(10_000)
    intent = paid.provider_payment_id or ""
    first = domain.service.refund(USER, paid.payment_id, RefundRequest(amount=2000), "r1")
    refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r2", 7000, error=ProviderFailed)
    unsent = next(r for r in domain.stored(paid.payment_id).refunds.values() if r.amount == 7000)
    # and, at the provider, 50.00 refunded on its dashboard (which ours cannot record while 70.00 is
    # reserved), then the first refund reversed (the card was closed: 20.00 came back)
    domain.provider.refund(intent, 5000, None, {}, "dashboard")
    with pytest.raises(Exception):  # noqa: B017, PT011 - not recordable yet: delivered again later
        domain.deliver("ev_dashboard", "refund", intent)
    next(r for r in domain.provider.refunds.values() if r["metadata"].get("refund_id") == first.refund_id)["status"] = (
        "failed"
    )
    # When the reconciler looks within the day, then the unsent refund stays pending (its client may
    # still retry it with its key), and what fits is recorded all the same: the reversed refund
    # (the dashboard's waits, named in a warning, as the webhook leaves it)
    domain.now[0] = START + DAY - 60
    reconciler.run(lambda: 300_000)
    within_the_day = domain.stored(paid.payment_id)
    assert within_the_day.refunds[unsent.refund_id].status == "pending"
    assert within_the_day.refunds[first.refund_id].status == "failed"
    assert (within_the_day.amount_refunded, within_the_day.amount_reserved) == (0, 7000)
    # And at its next look a day after it was made (the look pushed that back, at most a day), a pass
    # fails it (nothing was sent) and records what the provider holds
    domain.now[0] = START + 2 * DAY
    assert reconciler.run(lambda: 300_000).outcomes == {"settled": 1}
    stored = domain.stored(paid.payment_id)
    assert (stored.refunds[unsent.refund_id].status, stored.refunds[unsent.refund_id].failure_reason) == (
        "failed",
        "not_sent",
    )
    assert stored.refunds[first.refund_id].status == "failed"
    # Then ours is the provider's: 50.00 refunded (the dashboard's), nothing reserved beyond it
    assert (stored.amount_refunded, stored.amount_reserved) == (5000, 5000)
    events = domain.store.events(paid.payment_id)
    assert events.count("RefundFailed") == 2
    assert events.count("RefundSucceeded") == 2  # the first (since reversed) and the dashboard's
    # And the client's retry with its key is answered with that failure, sending nothing
    sent_before = len(domain.provider.refunds)
    again = domain.service.refund(USER, paid.payment_id, RefundRequest(amount=7000), "r2")
    assert (again.refund_id, again.status) == (unsent.refund_id, "failed")
    assert len(domain.provider.refunds) == sent_before


def refund_with_lost_answer(
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    payment_id: str,
    key: str,
    amount: int,
    *,
    error: type[Exception] = ProviderUnavailable,
) -> list[tuple[Any, ...]]:
    """A refund request whose answer is lost (our read times out; ``error``: or the provider answers
    with it) while the provider may still be making it: what it sent, for the test to let the
    provider finish it, or not."""
    sent: list[tuple[Any, ...]] = []
    real = domain.provider.refund

    def answer_lost(*args: Any) -> Any:
        sent.append(args)
        raise error

    monkeypatch.setattr(domain.provider, "refund", answer_lost)
    with pytest.raises(error):
        domain.service.refund(USER, payment_id, RefundRequest(amount=amount), key)
    monkeypatch.setattr(domain.provider, "refund", real)
    return sent


def test_a_refund_is_not_failed_as_never_sent_within_an_hour_of_an_attempt_whose_answer_was_lost(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund of 30.00 whose first request died, and its client's retry a day later (the
    # provider no longer keeps the key: a fresh request) whose answer is lost too, while the provider
    # is still making it
    paid = domain.pay(10_000)
    refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    domain.now[0] = START + DAY + 5
    in_flight = refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    # When a pass looks seconds later (that retry's write made the payment due at once)
    domain.now[0] = START + DAY + 10
    reconciler.run(lambda: 300_000)
    # Then the refund is still pending: an answer may be late
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert ours.status == "pending"
    # And once the provider made it, the next look records it (succeeded, counted once)
    domain.provider.refund(*in_flight[-1])
    domain.now[0] = START + 2 * DAY + 10
    reconciler.run(lambda: 300_000)
    stored = domain.stored(paid.payment_id)
    assert (stored.refunds[ours.refund_id].status, stored.amount_refunded) == ("succeeded", 3000)
    assert domain.store.events(paid.payment_id).count("RefundSucceeded") == 1


def test_a_refund_the_provider_makes_after_it_was_failed_as_never_sent_is_recorded(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund failed as never sent (nothing at the provider a day after, an hour after its attempt)
    paid = domain.pay(10_000)
    intent = paid.provider_payment_id or ""
    in_flight = refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    domain.now[0] = START + 2 * DAY
    reconciler.run(lambda: 300_000)
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert (ours.status, ours.failure_reason) == ("failed", "not_sent")
    # When the provider shows it made after all (its webhook)
    domain.provider.refund(*in_flight[-1])
    domain.deliver("ev_late", "refund", intent)
    # Then the money that moved is ours too: succeeded, refunded, announced (the ledger and the receipt
    # follow RefundSucceeded), and a refund of what remains cannot pass what was captured
    stored = domain.stored(paid.payment_id)
    assert (stored.refunds[ours.refund_id].status, stored.refunds[ours.refund_id].failure_reason) == (
        "succeeded",
        None,
    )
    assert (stored.amount_refunded, stored.amount_reserved) == (3000, 3000)
    assert domain.store.events(paid.payment_id)[-2:] == ["RefundFailed", "RefundSucceeded"]
    assert domain.service.refund(USER, paid.payment_id, RefundRequest(), "r2").amount == 7000


def test_a_refund_that_reaches_the_provider_between_the_list_and_the_last_look_is_recorded_not_failed(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund a day old that the provider's list shows nothing of
    paid = domain.pay(10_000)
    in_flight = refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    real_find = domain.provider.find_refund

    def made_just_now(intent_id: str, refund_id: str) -> Any:
        domain.provider.refund(*in_flight[-1])  # the provider finishes it just before the last look
        return real_find(intent_id, refund_id)

    monkeypatch.setattr(domain.provider, "find_refund", made_just_now)
    # When the pass takes the refund's lease and looks once more
    domain.now[0] = START + 2 * DAY
    reconciler.run(lambda: 300_000)
    # Then it records the provider's answer: succeeded, never failed
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert (ours.status, ours.failure_reason) == ("succeeded", None)
    assert "RefundFailed" not in domain.store.events(paid.payment_id)


def test_a_retry_sent_while_a_pass_looks_keeps_that_pass_from_failing_the_refund(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund a day old that the provider holds nothing of, due for a look
    paid = domain.pay(10_000)
    refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    domain.now[0] = START + 2 * DAY
    real_list = domain.provider.list_refunds
    retried: list[int] = []

    def client_retries_meanwhile(intent_id: str) -> Any:
        listed = real_list(intent_id)
        if not retried:  # after the pass read the payment: the client's retry, its answer lost
            retried.append(1)
            monkeypatch.setattr(domain.provider, "list_refunds", real_list)
            refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
            monkeypatch.setattr(domain.provider, "list_refunds", client_retries_meanwhile)
        return listed

    monkeypatch.setattr(domain.provider, "list_refunds", client_retries_meanwhile)
    # When the pass goes on to fail what it read as a day old and quiet for an hour
    reconciler.run(lambda: 300_000)
    # Then it does not: the retry just sent may still be made at the provider
    assert retried
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert (ours.status, ours.provider_attempts) == ("pending", 2)  # the reconciler's look is no attempt


def test_a_refund_stored_before_attempts_were_timed_waits_an_hour_after_the_payments_last_write(
    domain: Domain, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments.models import Change
    from payments_core.payments.transitions import stamped

    # Given a refund whose attempts are not timed (stored by an earlier version), retried a day later
    # with its answer lost
    paid = domain.pay(10_000)
    refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)
    domain.now[0] = START + DAY + 5
    refund_with_lost_answer(domain, monkeypatch, paid.payment_id, "r1", 3000)

    def untimed(current: Any) -> Change:
        updated = stamped(current)
        for refund in updated.refunds.values():
            refund.last_attempt_at = None
        return Change(updated)

    domain.store.update(USER, paid.payment_id, untimed)
    # When a pass looks seconds later, then the refund stays pending (the payment's last write is its clock)
    domain.now[0] = START + DAY + 10
    reconciler.run(lambda: 300_000)
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert ours.status == "pending"
    # and an hour after that write, it is failed as never sent
    domain.now[0] = START + 2 * DAY + 3600
    reconciler.run(lambda: 300_000)
    (ours,) = domain.stored(paid.payment_id).refunds.values()
    assert (ours.status, ours.failure_reason) == ("failed", "not_sent")
