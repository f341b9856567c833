"""The payment operations through the real domain, on a provider that is not Stripe (FakePay) and
in-memory stores: create, capture, cancel, refunds, one-time codes and the webhook path."""

from __future__ import annotations

import uuid

import pytest

from payments_core.errors import Conflict, Declined, Invalid, TooManyRequests
from payments_core.idempotency_keys import KEY_REUSED
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.models import Dispute
from payments_core.payments.provider import ProviderFailed, ProviderRefused
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.service import failure_of
from tests.fast.conftest import USER, Domain


# --- create ----------------------------------------------------------------------------------------
def test_a_payment_is_created_at_the_provider_that_the_deployment_names(domain: Domain) -> None:
    payment = domain.pay(2500)
    assert (payment.status, payment.provider, payment.amount_captured) == ("succeeded", "fakepay", 2500)
    assert payment.provider_payment_id in domain.provider.intents
    assert domain.store.events(payment.payment_id) == ["PaymentCreated", "PaymentSucceeded"]
    assert domain.store.find_by_provider_id(payment.provider_payment_id or "") == (USER, payment.payment_id)


def test_the_same_key_creates_once_and_another_request_with_it_is_refused(domain: Domain) -> None:
    request = CreatePaymentRequest(amount=1200, currency="usd", payment_method="fp_ok")
    first = domain.service.create(USER, request, "key-1")
    again = domain.service.create(USER, request, "key-1")
    assert again.payment_id == first.payment_id
    assert [op for op, _ in domain.provider.calls] == ["create"]
    with pytest.raises(Conflict) as reused:
        domain.service.create(USER, request.model_copy(update={"amount": 1300}), "key-1")
    assert reused.value is KEY_REUSED


def test_the_providers_own_rules_refuse_a_request_before_anything_is_stored(domain: Domain) -> None:
    with pytest.raises(Invalid) as refused:
        domain.pay(2500, method="pm_card_visa")  # a Stripe id: not FakePay's
    assert refused.value.extra["details"][0]["field"] == "payment_method"
    assert domain.store.items == {}
    assert domain.provider.calls == []


def test_a_decline_fails_the_payment_and_says_why(domain: Domain) -> None:
    payment = domain.pay(2500, method="fp_declined")
    assert (payment.status, payment.decline_code) == ("failed", "insufficient_funds")
    failure = failure_of(payment)
    assert isinstance(failure, Declined)
    assert failure.extra == {"decline_code": "insufficient_funds"}
    assert domain.store.events(payment.payment_id) == ["PaymentCreated", "PaymentFailed"]


def test_a_payment_the_provider_could_not_be_asked_about_stays_processing_and_is_retried(domain: Domain) -> None:
    from payments_core.errors import ProviderUnavailable

    request = CreatePaymentRequest(amount=900, currency="usd", payment_method="fp_down")
    with pytest.raises(ProviderUnavailable):
        domain.service.create(USER, request, "key-down")
    (payment,) = domain.store.items.values()
    assert (payment.status, payment.lease_holder) == ("processing", None)  # the lease ended with the error


def test_a_retry_that_cannot_read_every_intent_asks_again_with_the_attempts_own_key(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from payments_core import clock
    from payments_core.errors import ProviderUnavailable
    from payments_core.payments.provider import IntentLookupIncomplete

    # Given a payment whose create got no answer, and a provider holding more intents made since it
    # than one lookup reads
    request = CreatePaymentRequest(amount=900, currency="usd", payment_method="fp_down")
    with pytest.raises(ProviderUnavailable):
        domain.service.create(USER, request, "key-down")
    (payment,) = domain.store.items.values()
    domain.provider.too_many_intents = True
    key = f"{payment.payment_id}-create"
    # When the client retries within a day, then the create is asked again with its own key (which the
    # provider answers with what the lost attempt made), not refused as "unknown"
    with pytest.raises(ProviderUnavailable):
        domain.service.create(USER, request, "key-down")
    assert domain.provider.calls == [("create", key), ("create", key)]
    # and a day later, when the provider no longer keeps the key, it is "unknown": never a second intent
    later = clock.now() + timedelta(hours=24)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(IntentLookupIncomplete):
        domain.service.create(USER, request, "key-down")
    assert domain.provider.calls == [("create", key), ("create", key)]


def test_a_payment_needing_the_customers_action_is_completed_by_the_providers_webhook(domain: Domain) -> None:
    payment = domain.pay(2500, method="fp_3ds")
    assert (payment.status, payment.next_action) == ("requires_action", {"type": "fakepay_redirect"})
    domain.provider.customer_completes_action(payment.provider_payment_id or "")
    assert domain.deliver("ev_1", "payment", payment.provider_payment_id or "") == "applied"
    assert domain.stored(payment.payment_id).status == "succeeded"
    # A redelivery changes nothing more
    assert domain.deliver("ev_1", "payment", payment.provider_payment_id or "") == "unchanged"
    assert domain.store.events(payment.payment_id).count("PaymentSucceeded") == 1


def test_a_failed_challenge_reported_by_webhook_closes_the_intent_before_the_payment_fails(domain: Domain) -> None:
    # Given a payment whose customer failed the challenge: the provider keeps its intent open
    payment = domain.pay(2500, method="fp_3ds")
    intent = payment.provider_payment_id or ""
    domain.provider.customer_fails_action(intent)
    # When the provider's event is delivered, twice
    assert domain.deliver("ev_fail", "payment", intent) == "applied"
    assert domain.deliver("ev_fail", "payment", intent) == "unchanged"
    # Then the intent was closed once (it can no longer be confirmed), and the payment failed once
    assert [operation for operation, _ in domain.provider.calls].count("close") == 1
    with pytest.raises(ProviderRefused):
        domain.provider.customer_completes_action(intent)
    assert domain.stored(payment.payment_id).status == "failed"
    assert domain.store.events(payment.payment_id).count("PaymentFailed") == 1


def test_a_failed_intent_that_is_not_a_payment_of_ours_is_left_open(domain: Domain) -> None:
    # Given an intent made at the provider for a payment id of ours, but of another amount (not that
    # payment's), whose attempt failed
    payment = domain.pay(2500, method="fp_3ds")
    intent = payment.provider_payment_id or ""
    stranger = "fpi_stranger"
    domain.provider.intents[stranger] = {
        **domain.provider.intents[intent], "id": stranger, "amount": 9900, "status": "failed",
    }  # fmt: skip
    # When its event is delivered
    domain.deliver("ev_stranger", "payment", stranger)
    # Then it is not ours to close, and our payment is untouched
    assert "close" not in [operation for operation, _ in domain.provider.calls]
    assert domain.stored(payment.payment_id).status == "requires_action"


def test_a_failed_intent_the_provider_cannot_close_now_is_not_recorded_and_comes_again(domain: Domain) -> None:
    from payments_core.errors import DomainError

    # Given a payment whose customer failed the challenge, and a provider that fails the close
    payment = domain.pay(2500, method="fp_3ds")
    intent = payment.provider_payment_id or ""
    domain.provider.customer_fails_action(intent)

    def failing(_: str) -> None:
        raise ProviderFailed

    domain.provider.before_cancel = failing
    # When the event is delivered, then it is to be delivered again, and the payment did not fail
    # (failed is final, and the intent is still open: the customer could still be charged)
    with pytest.raises(DomainError):
        domain.deliver("ev_fail", "payment", intent)
    assert domain.stored(payment.payment_id).status == "requires_action"
    # and once the provider closes it, the redelivery fails the payment
    domain.provider.before_cancel = None
    assert domain.deliver("ev_fail", "payment", intent) == "applied"
    assert domain.stored(payment.payment_id).status == "failed"


def test_our_cancel_landing_before_the_close_of_a_failed_intent_is_recorded_as_the_cancel(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typing import Any

    # Given a payment whose customer failed the challenge (its intent open at the provider), and the
    # provider's event for it, fetched by the webhook as failed and open
    payment = domain.pay(2500, method="fp_3ds")
    intent = payment.provider_payment_id or ""
    domain.provider.customer_fails_action(intent)
    fetched_before = domain.provider.retrieve_intent(intent)
    real_cancel, real_retrieve = domain.provider.cancel, domain.provider.retrieve_intent

    def cancel_then_the_webhook(intent_id: str, key: str) -> Any:
        answer = real_cancel(intent_id, key)  # the provider cancels it: the merchant's cancel, no reason
        once = iter([fetched_before])
        monkeypatch.setattr(domain.provider, "retrieve_intent", lambda i: next(once, None) or real_retrieve(i))
        domain.deliver("ev_failed", "payment", intent)  # its close is refused: canceled already
        monkeypatch.setattr(domain.provider, "retrieve_intent", real_retrieve)
        return answer

    # When the client's cancel reaches the provider just before the webhook closes the failed intent
    monkeypatch.setattr(domain.provider, "cancel", cancel_then_the_webhook)
    first = domain.service.cancel(USER, payment.payment_id, "can-1")
    monkeypatch.setattr(domain.provider, "cancel", real_cancel)
    again = domain.service.cancel(USER, payment.payment_id, "can-1")
    # Then what is recorded is what happened, the cancel: both answers are 200 canceled, announced
    # once, and no failure is announced (no "payment failed" receipt for a payment the merchant canceled)
    assert (first.status, again.status) == ("canceled", "canceled")
    events = domain.store.events(payment.payment_id)
    assert events.count("PaymentCanceled") == 1
    assert "PaymentFailed" not in events


# --- capture and cancel ------------------------------------------------------------------------------
def test_a_hold_is_captured_in_part_and_never_counted_as_more(domain: Domain) -> None:
    hold = domain.pay(4000, capture_method="manual")
    assert hold.status == "requires_capture"
    captured = domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    assert (captured.status, captured.amount_captured, captured.lease_holder) == ("succeeded", 3000, None)
    with pytest.raises(Conflict) as again:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(), "cap-2")
    assert again.value.code == "payment_not_capturable"


def test_a_hold_is_canceled_and_a_paid_payment_is_not(domain: Domain) -> None:
    hold = domain.pay(1500, capture_method="manual")
    assert domain.service.cancel(USER, hold.payment_id, "can-1").status == "canceled"
    assert domain.provider.intents[hold.provider_payment_id or ""]["status"] == "canceled"
    paid = domain.pay(1500)
    with pytest.raises(Conflict) as refused:
        domain.service.cancel(USER, paid.payment_id, "can-2")
    assert refused.value.code == "payment_not_cancelable"


# --- refunds ---------------------------------------------------------------------------------------
def test_refunds_in_part_then_in_full_and_never_beyond_what_was_captured(domain: Domain) -> None:
    paid = domain.pay(3000)
    part = domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    assert (part.status, part.amount) == ("succeeded", 1000)
    assert domain.stored(paid.payment_id).status == "partially_refunded"
    rest = domain.service.refund(USER, paid.payment_id, RefundRequest(), "ref-2")
    assert rest.amount == 2000
    assert domain.stored(paid.payment_id).status == "refunded"
    with pytest.raises(Conflict) as over:
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1), "ref-3")
    assert over.value.code in ("refund_exceeds_remaining", "payment_not_refundable")
    # The same refund again (a retry) is the same refund, sent once
    assert domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1").refund_id == part.refund_id
    assert [op for op, _ in domain.provider.calls].count("refund") == 2


def test_a_refund_of_a_failed_payment_is_refused(domain: Domain) -> None:
    failed = domain.pay(2500, method="fp_declined")
    with pytest.raises(Conflict) as refused:
        domain.service.refund(USER, failed.payment_id, RefundRequest(), "ref-x")
    assert refused.value.code == "payment_not_refundable"


def test_a_refund_made_at_the_provider_reaches_us_by_its_webhook(domain: Domain) -> None:
    paid = domain.pay(2000)
    intent = paid.provider_payment_id or ""
    domain.provider.refund(intent, 500, None, {}, "made-in-their-dashboard")
    assert domain.deliver("ev_r", "refund", intent) == "applied"
    stored = domain.stored(paid.payment_id)
    assert (stored.status, stored.amount_refunded) == ("partially_refunded", 500)


# --- the webhook path: verified, and only ever about the payment's own intent ---------------------
def test_a_webhook_not_signed_by_the_provider_is_refused(domain: Domain) -> None:
    from payments_core.errors import BadRequest
    from tests.fast.fakes import fakepay_notice

    body, _ = domain.provider.event("ev_x", "payment", "fpi_1")
    with pytest.raises(BadRequest):
        fakepay_notice(body, "0" * 64)


def test_a_webhook_about_an_intent_the_provider_does_not_hold_changes_nothing(domain: Domain) -> None:
    paid = domain.pay(1000)
    assert domain.deliver("ev_y", "payment", "fpi_nonexistent") == "unknown_payment"
    assert domain.stored(paid.payment_id).version == paid.version


def test_an_event_type_not_handled_is_acknowledged_and_ignored(domain: Domain) -> None:
    paid = domain.pay(1000)
    assert domain.deliver("ev_z", "payout", paid.provider_payment_id or "") == "ignored"


def test_a_payment_moves_only_forward_whatever_order_events_come_in(domain: Domain) -> None:
    paid = domain.pay(2000)
    intent = paid.provider_payment_id or ""
    domain.provider.refund(intent, 2000, None, {}, "full")
    assert domain.deliver("ev_1", "refund", intent) == "applied"
    assert domain.deliver("ev_0", "payment", intent) == "unchanged"  # an older event, delivered late
    assert domain.stored(paid.payment_id).status == "refunded"


# --- the webhook's bookkeeping rides on the payment's own write -----------------------------------
def test_a_webhook_that_moves_a_payment_names_its_event_on_that_one_write_and_reads_no_link(
    domain: Domain,
) -> None:
    # Given a payment waiting for its customer, who then completes the action at the provider
    payment = domain.pay(2500, method="fp_3ds")
    domain.provider.customer_completes_action(payment.provider_payment_id or "")
    # When the provider's event is delivered
    assert domain.deliver("ev_done", "payment", payment.provider_payment_id or "") == "applied"
    # Then the payment says which event moved it, and nothing else was read or written for the event:
    # the payment the intent names holds that intent, so no link is read; it was never deferred
    stored = domain.stored(payment.payment_id)
    assert (stored.status, stored.last_event_id, stored.deferred_events) == ("succeeded", "ev_done", [])
    assert stored.version == payment.version + 1
    assert domain.store.calls == []


def test_an_intent_whose_metadata_names_another_payment_is_still_applied_to_its_own(domain: Domain) -> None:
    from payments_core.errors import ProviderUnavailable

    # Given a payment waiting for its customer (intent linked), and another of the same amount that
    # holds no intent yet (its provider could not be reached)
    own = domain.pay(2500, method="fp_3ds")
    request = CreatePaymentRequest(amount=2500, currency="usd", payment_method="fp_down")
    with pytest.raises(ProviderUnavailable):
        domain.service.create(USER, request, "key-other")
    (other,) = (p for p in domain.store.items.values() if p.payment_id != own.payment_id)
    # When the intent's metadata is edited at the provider to name the other payment, and it succeeds
    intent = own.provider_payment_id or ""
    domain.provider.intents[intent]["metadata"] = {"payment_id": other.payment_id, "user_id": USER}
    domain.provider.customer_completes_action(intent)
    # Then its event is applied to the payment that holds the intent (found by its link), never to the
    # one the metadata names, which holds no intent: naming a payment proves nothing by itself
    assert domain.deliver("ev_edit", "payment", intent) == "applied"
    assert domain.stored(own.payment_id).status == "succeeded"
    untouched = domain.stored(other.payment_id)
    assert (untouched.status, untouched.provider_payment_id, untouched.version) == ("processing", None, other.version)
    assert domain.store.calls == ["find_by_provider_id"]


def test_a_deferred_delivery_is_marked_on_its_payment_until_the_write_that_applies_it(domain: Domain) -> None:
    from payments_core.errors import DomainError
    from payments_core.payments.models import Refund

    # Given a payment of 10.00 with a refund of ours of 6.00 reserved but not yet sent to the provider
    paid = domain.pay(1000)
    intent = paid.provider_payment_id or ""
    ours = Refund(
        refund_id="ref_ours", payment_id=paid.payment_id, amount=600, currency="usd", status="pending",
        created_at=paid.created_at,
    )  # fmt: skip
    stored = domain.store.items[(USER, paid.payment_id)]
    stored.refunds[ours.refund_id] = ours
    stored.amount_reserved = 600
    # When the provider reports 6.00 refunded on its dashboard: our store cannot take it yet
    domain.provider.refund(intent, 600, None, {}, "made-in-their-dashboard")
    with pytest.raises(DomainError) as deferred:
        domain.deliver("ev_dash", "refund", intent)
    assert deferred.value.code == "internal_error"  # not a 2xx: the provider delivers it again
    # Then the payment carries the event's mark (nothing else about it changed, no event) and the
    # reconciler's record of it is kept
    marked = domain.stored(paid.payment_id)
    assert (marked.deferred_events, marked.updated_at, marked.refunds["ref_ours"].status) == (
        ["ev_dash"],
        paid.updated_at,
        "pending",
    )
    assert domain.store.events(paid.payment_id) == ["PaymentCreated", "PaymentSucceeded"]
    assert list(domain.store.deferred) == ["ev_dash"]
    # And another event about the payment does not settle it
    assert domain.deliver("ev_other", "payment", intent) == "unchanged"
    assert list(domain.store.deferred) == ["ev_dash"]
    # When ours fails (the reservation is released) and the event is delivered again
    released = domain.store.items[(USER, paid.payment_id)]
    released.refunds["ref_ours"].status = "failed"
    released.amount_reserved = 0
    assert domain.deliver("ev_dash", "refund", intent) == "applied"
    # Then the write that applied it cleared its mark, and only then its record left the reconciler's count
    applied = domain.stored(paid.payment_id)
    assert (applied.amount_refunded, applied.deferred_events, applied.last_event_id) == (600, [], "ev_dash")
    assert domain.store.deferred == {}
    assert domain.store.calls.count("settle_deferred") == 1


def test_a_delivery_deferred_while_the_provider_is_down_is_settled_by_the_redelivery(domain: Domain) -> None:
    from payments_core.errors import DomainError

    # Given a paid payment, and the provider unreachable when its event is delivered (twice)
    paid = domain.pay(1000)
    intent = paid.provider_payment_id or ""
    domain.provider.unreachable = True
    for _ in range(2):
        with pytest.raises(DomainError):
            domain.deliver("ev_down", "payment", intent)
    # Then the payment its link names is marked once, and the event counted as deferred twice
    assert domain.stored(paid.payment_id).deferred_events == ["ev_down"]
    assert domain.store.deferred == {"ev_down": 2}
    # When it is delivered again with the provider back, changing nothing
    domain.provider.unreachable = False
    assert domain.deliver("ev_down", "payment", intent) == "unchanged"
    # Then that delivery's one write cleared the mark, and the event is no longer counted
    settled = domain.stored(paid.payment_id)
    assert (settled.deferred_events, settled.status, settled.updated_at) == ([], "succeeded", paid.updated_at)
    assert domain.store.deferred == {}
    assert domain.store.events(paid.payment_id) == ["PaymentCreated", "PaymentSucceeded"]


# --- one-time codes --------------------------------------------------------------------------------
def test_a_large_payment_waits_for_its_code_and_the_right_code_pays_it(domain: Domain) -> None:
    payment = domain.pay(60_000)
    assert payment.status == "requires_otp"
    assert domain.provider.calls == []  # no money moves before the code
    assert "Your code is" in domain.mailbox.sent[-1][2]
    paid = domain.service.verify_code(payment, domain.mailbox.last_code())
    assert paid.status == "succeeded"


def test_five_wrong_codes_cancel_the_payment(domain: Domain) -> None:
    from payments_core.errors import BadRequest

    payment = domain.pay(60_000)
    right = domain.mailbox.last_code()
    wrong = "000000" if right != "000000" else "000001"
    for remaining in (4, 3, 2, 1):
        with pytest.raises(BadRequest) as error:
            domain.service.verify_code(domain.stored(payment.payment_id), wrong)
        assert error.value.extra == {"attempts_remaining": remaining}
    with pytest.raises(TooManyRequests):
        domain.service.verify_code(domain.stored(payment.payment_id), wrong)
    assert domain.stored(payment.payment_id).status == "canceled"
    assert domain.provider.calls == []


def test_opening_more_payments_buys_no_more_than_twenty_wrong_codes_a_day(domain: Domain) -> None:
    from payments_core.errors import BadRequest

    # Given a guesser who opened four large payments and used up five wrong codes at each
    for _ in range(4):
        payment = domain.pay(60_000)
        wrong = "000000" if domain.mailbox.last_code() != "000000" else "000001"
        for _ in range(4):
            with pytest.raises(BadRequest):
                domain.service.verify_code(domain.stored(payment.payment_id), wrong)
        with pytest.raises(TooManyRequests):
            domain.service.verify_code(domain.stored(payment.payment_id), wrong)
    # When a fifth payment is opened, no guess at it is answered that day, not even the right one
    fifth = domain.pay(60_000)
    with pytest.raises(TooManyRequests) as limited:
        domain.service.verify_code(fifth, domain.mailbox.last_code())
    assert limited.value.code == "rate_limited"
    assert 0 < (limited.value.retry_after or 0) <= 24 * 3600
    assert domain.stored(fifth.payment_id).status == "requires_otp"  # not canceled: no guess was made
    # Then once the day is over, a fresh code confirms it
    domain.now[0] += limited.value.retry_after or 0
    domain.service.otp.send(domain.stored(fifth.payment_id))
    assert domain.service.verify_code(domain.stored(fifth.payment_id), domain.mailbox.last_code()).status == "succeeded"


def test_a_user_is_sent_at_most_thirty_codes_a_day_across_payments(domain: Domain) -> None:
    # Given ten large payments whose codes were each sent three times (30 emails)
    payments = [domain.pay(60_000) for _ in range(10)]
    domain.now[0] += 16 * 60  # past each payment's own limit (3 per 15 minutes)
    for payment in payments:
        domain.service.otp.send(payment)
        domain.service.otp.send(payment)
    assert len(domain.mailbox.sent) == 30
    # When another code is asked for, for any payment, it is refused until the day is over
    domain.now[0] += 16 * 60
    with pytest.raises(TooManyRequests) as limited:
        domain.service.otp.send(payments[0])
    assert (limited.value.code, 0 < (limited.value.retry_after or 0) <= 24 * 3600) == ("rate_limited", True)
    # And a new large payment is refused before anything is stored; a small one still goes through
    stored = len(domain.store.items)
    with pytest.raises(TooManyRequests):
        domain.pay(60_000)
    assert (len(domain.store.items), len(domain.mailbox.sent)) == (stored, 30)
    assert domain.pay(1000).status == "succeeded"
    # Then the next day codes are sent again
    domain.now[0] += limited.value.retry_after or 0
    assert domain.pay(60_000).status == "requires_otp"
    assert len(domain.mailbox.sent) == 31


def test_a_right_code_resuming_a_used_code_confirms_even_when_its_budget_cannot_be_given_back(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments.leases import LEASE_SECONDS

    # Given a payment whose right code was used by a request that died before moving it on
    payment = domain.pay(60_000)
    domain.codes.items[(USER, payment.payment_id)]["used_at"] = domain.now[0]
    domain.now[0] += LEASE_SECONDS + 1

    def throttled(*_: object) -> None:
        raise RuntimeError("ProvisionedThroughputExceededException")

    # When the same code is sent again and the wrong guess it was counted as cannot be given back
    monkeypatch.setattr(domain.codes, "release_daily", throttled)
    # Then the payment is confirmed all the same
    assert domain.service.verify_code(payment, domain.mailbox.last_code()).status == "succeeded"


def test_right_codes_use_up_none_of_the_budget(domain: Domain) -> None:
    for _ in range(25):
        payment = domain.pay(60_000)
        assert domain.service.verify_code(payment, domain.mailbox.last_code()).status == "succeeded"


def test_a_code_expires_after_five_minutes(domain: Domain) -> None:
    from payments_core.errors import Gone

    payment = domain.pay(60_000)
    domain.now[0] += 5 * 60 + 1
    with pytest.raises(Gone):
        domain.service.verify_code(payment, domain.mailbox.last_code())


def test_codes_are_sent_at_most_three_times_per_fifteen_minutes(domain: Domain) -> None:
    payment = domain.pay(60_000)
    domain.service.otp.send(payment)
    domain.service.otp.send(payment)
    with pytest.raises(TooManyRequests) as limited:
        domain.service.otp.send(payment)
    assert limited.value.retry_after == 15 * 60


# --- concurrency: the store's conditional write --------------------------------------------------
def test_a_concurrent_refund_cannot_push_refunds_past_the_captured_amount(domain: Domain) -> None:
    paid = domain.pay(1000)
    # While this refund of 700 reads the payment, another refund of 700 lands first
    domain.store.between_read_and_write = lambda: domain.service.refund(
        USER, paid.payment_id, RefundRequest(amount=700), uuid.uuid4().hex
    )
    with pytest.raises(Conflict) as over:
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=700), uuid.uuid4().hex)
    assert over.value.code == "refund_exceeds_remaining"
    assert domain.stored(paid.payment_id).amount_refunded == 700


class DisputedPayment:
    """A paid payment of 20.00 whose dispute ``dp_1`` the test sets at the provider and delivers."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.payment = domain.pay(2000)
        assert self.payment.provider_payment_id is not None
        self.intent: str = self.payment.provider_payment_id

    def at_provider(self, status: str, reinstated: int = 0) -> None:
        from payments_core.payments.provider_records import ProviderDispute

        self.domain.provider.disputes["dp_1"] = ProviderDispute(
            id="dp_1", status=status, amount=2000, currency="usd", payment_intent=self.intent, withdrawn=2000,
            reinstated=reinstated,
        )  # fmt: skip

    def deliver(self, event_id: str) -> None:
        from payments_core.payments.provider import Notice

        self.domain.webhooks.process(
            Notice(event_id=event_id, event_type="charge.dispute.updated", intent_id=self.intent, dispute_id="dp_1")
        )

    def stored(self) -> Dispute:
        dispute = self.domain.stored(self.payment.payment_id).dispute
        assert dispute is not None
        return dispute


def test_a_dispute_read_before_a_concurrent_delivery_wrote_it_is_not_applied(domain: Domain) -> None:
    disputed = DisputedPayment(domain)
    disputed.at_provider("under_review")
    disputed.deliver("evt_1")
    # Given a delivery that read the dispute lost, while another one, reading it after the merchant
    # appealed, writes first
    disputed.at_provider("lost")

    def appealed_meanwhile() -> None:
        disputed.at_provider("appeal_needs_response")
        disputed.deliver("evt_3")

    domain.store.between_read_and_write = appealed_meanwhile
    disputed.deliver("evt_2")
    # Then the earlier read is not applied over the later one
    assert disputed.stored().status == "appeal_needs_response"
    # And when the appeal is won, the dispute is won, closed once, the money back
    disputed.at_provider("won", 2000)
    disputed.deliver("evt_4")
    assert (disputed.stored().status, disputed.stored().amount_reinstated) == ("won", 2000)
    assert domain.store.events(disputed.payment.payment_id).count("DisputeClosed") == 1


def test_a_slow_read_of_an_appeal_since_lost_again_is_not_applied_after_a_later_read(domain: Domain) -> None:
    disputed = DisputedPayment(domain)
    disputed.at_provider("lost")
    disputed.deliver("evt_1")
    # Given a delivery that read the dispute while it was appealed, and is slow to write
    disputed.at_provider("appeal_needs_response")

    def lost_again_meanwhile() -> None:
        # the appeal is lost, and a later delivery reads it so: the same as stored, but later
        disputed.at_provider("lost")
        disputed.deliver("evt_3")

    domain.store.between_read_and_write = lost_again_meanwhile
    disputed.deliver("evt_2")
    # Then the slow read is not applied after the later one: the dispute stays lost
    assert disputed.stored().status == "lost"
    assert domain.store.events(disputed.payment.payment_id).count("DisputeClosed") == 1
