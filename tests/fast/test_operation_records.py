"""Capture, cancel and refund are their own idempotency records (docs/decisions.md, "A payment is its own
idempotency record"): a retry with the key answers the payment or refund as it is now, the same key with
another body is refused, a retry meeting its key's first request still at the provider is asked to wait,
and one after a crash resumes it, never asking the provider to move money twice."""

from __future__ import annotations

from typing import Any

import pytest

from payments_core.errors import Conflict, ProviderUnavailable
from payments_core.idempotency_keys import KEY_REUSED
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.leases import KEY_IN_PROGRESS, LEASE_SECONDS, PROVIDER_CALL_IN_PROGRESS
from payments_core.payments.provider import ProviderFailed
from payments_core.payments.refund_request import RefundRequest
from tests.fast.conftest import OTP_THRESHOLD, USER, Domain


def provider_calls(domain: Domain, operation: str) -> int:
    return [op for op, _ in domain.provider.calls].count(operation)


def crash_after(domain: Domain, operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider does ``operation``'s next call; the Lambda that asked dies before it hears back."""
    real = getattr(domain.provider, operation)

    def crashed(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(domain.provider, operation, real)
        real(*args, **kwargs)
        raise TimeoutError("the Lambda timed out")

    monkeypatch.setattr(domain.provider, operation, crashed)


# --- capture -----------------------------------------------------------------------------------------
def test_a_capture_retried_with_its_key_answers_the_payment_as_it_is_now(domain: Domain) -> None:
    # Given a hold captured in part with a key, and part of it refunded since
    hold = domain.pay(4000, capture_method="manual")
    captured, replayed = domain.service.capture_once(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    assert (captured.status, captured.amount_captured, replayed) == ("succeeded", 3000, False)
    domain.service.refund(USER, hold.payment_id, RefundRequest(amount=1000), "ref-1")
    # When the capture is retried with its key and body
    again, replayed = domain.service.capture_once(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    # Then it is answered as a replay with the payment as it is now, and nothing more moved
    assert (again.status, again.amount_captured, replayed) == ("partially_refunded", 3000, True)
    assert provider_calls(domain, "capture") == 1


def test_a_captures_key_with_another_body_is_refused_and_another_key_is_not_capturable(domain: Domain) -> None:
    hold = domain.pay(4000, capture_method="manual")
    domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    with pytest.raises(Conflict) as reused:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=2000), "cap-1")
    assert reused.value is KEY_REUSED
    with pytest.raises(Conflict) as other:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-2")
    assert other.value.code == "payment_not_capturable"
    assert provider_calls(domain, "capture") == 1


def test_a_capture_retried_after_a_crash_at_the_provider_waits_for_the_lease_then_resumes_once(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a capture the provider made, whose Lambda died before it stored the answer
    hold = domain.pay(4000, capture_method="manual")
    crash_after(domain, "capture", monkeypatch)
    with pytest.raises(TimeoutError):
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    # Then while that Lambda could still be running, its retry is asked to wait (and another body is refused)
    with pytest.raises(Conflict) as early:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    assert early.value is KEY_IN_PROGRESS
    with pytest.raises(Conflict) as reused:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=1000), "cap-1")
    assert reused.value is KEY_REUSED
    # And once its lease has lapsed, the retry resumes it: what the provider captured is stored, once
    domain.now[0] += LEASE_SECONDS
    resumed, replayed = domain.service.capture_once(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    # (a replay, as a resumed creation is: an earlier request with the key started it)
    assert (resumed.status, resumed.amount_captured, resumed.lease_holder, replayed) == ("succeeded", 3000, None, True)
    assert domain.provider.intents[hold.provider_payment_id or ""]["received"] == 3000
    assert domain.store.events(hold.payment_id).count("PaymentSucceeded") == 1
    assert domain.service.capture_once(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")[1] is True


def test_a_capture_that_ended_in_an_error_is_forgotten_with_its_lease(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a capture the provider could not be asked (nothing moved there)
    hold = domain.pay(4000, capture_method="manual")

    def unreachable(*_: Any) -> Any:
        raise ProviderUnavailable

    monkeypatch.setattr(domain.provider, "capture", unreachable)
    with pytest.raises(ProviderUnavailable):
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    stored = domain.stored(hold.payment_id)
    assert (stored.status, stored.lease_holder, stored.settled_by) == ("requires_capture", None, None)
    # Then its key starts afresh at once: no wait, and a corrected body is not taken for another request
    monkeypatch.undo()
    captured = domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=2000), "cap-1")
    assert (captured.status, captured.amount_captured) == ("succeeded", 2000)


def test_a_key_stripe_refused_captures_with_a_corrected_body_though_stripe_keeps_its_error(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Stripe's idempotency: the first answer to a key is kept for 24 h, an error included, and
    # replayed to every later request with that key
    hold = domain.pay(4000, capture_method="manual")
    real = domain.provider.capture
    kept: dict[str, Exception] = {}

    def stripe(intent_id: str, amount: int | None, key: str) -> Any:
        if key in kept:
            raise kept[key]
        if not kept:  # the first capture: Stripe fails it, and keeps that answer for its key
            kept[key] = ProviderFailed()
            raise kept[key]
        return real(intent_id, amount, key)

    monkeypatch.setattr(domain.provider, "capture", stripe)
    # When a capture is refused and nothing moved, then the same key comes again with a corrected body
    with pytest.raises(ProviderFailed):
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    captured = domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=2000), "cap-1")

    # Then the corrected body is sent under its own Stripe key and captures (not Stripe's kept error)
    assert (captured.status, captured.amount_captured) == ("succeeded", 2000)


def test_a_capture_whose_outcome_is_unknown_keeps_its_key_and_body_and_its_retry_resumes_at_once(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a capture the provider may have made: its answer was lost, and the intent could not be read
    hold = domain.pay(4000, capture_method="manual")
    real = domain.provider.capture

    def lost_answer(*args: Any) -> Any:
        real(*args)
        raise ProviderUnavailable

    def unreachable(*_: Any) -> Any:
        raise ProviderUnavailable

    monkeypatch.setattr(domain.provider, "capture", lost_answer)
    monkeypatch.setattr(domain.provider, "retrieve_intent", unreachable)
    with pytest.raises(ProviderUnavailable):
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    monkeypatch.undo()
    # Then the lease is over (no wait), but the key keeps its body: another body could capture twice
    stored = domain.stored(hold.payment_id)
    assert (stored.status, stored.lease_holder, stored.settled_by is not None) == ("requires_capture", None, True)
    with pytest.raises(Conflict) as reused:
        domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=1000), "cap-1")
    assert reused.value is KEY_REUSED
    # And its retry finds what the provider did and stores it
    resumed = domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    assert (resumed.status, resumed.amount_captured) == ("succeeded", 3000)
    assert domain.provider.intents[hold.provider_payment_id or ""]["received"] == 3000


def test_a_capture_meeting_another_keys_capture_at_the_provider_is_told_at_once(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold = domain.pay(4000, capture_method="manual")
    real = domain.provider.capture
    seen: list[BaseException] = []

    def meanwhile(*args: Any) -> Any:
        try:
            domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=1000), "cap-2")
        except Conflict as conflict:
            seen.append(conflict)
        return real(*args)

    monkeypatch.setattr(domain.provider, "capture", meanwhile)
    domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=3000), "cap-1")
    assert seen == [PROVIDER_CALL_IN_PROGRESS]  # not KEY_IN_PROGRESS: nothing to wait for, it is not its key's


# --- cancel ------------------------------------------------------------------------------------------
def test_a_cancel_retried_with_its_key_is_a_replay_and_another_key_is_refused(domain: Domain) -> None:
    hold = domain.pay(1500, capture_method="manual")
    canceled, replayed = domain.service.cancel_once(USER, hold.payment_id, "can-1")
    assert (canceled.status, replayed) == ("canceled", False)
    again, replayed = domain.service.cancel_once(USER, hold.payment_id, "can-1")
    assert (again.status, replayed) == ("canceled", True)
    assert provider_calls(domain, "cancel") == 1
    with pytest.raises(Conflict) as other:
        domain.service.cancel(USER, hold.payment_id, "can-2")
    assert other.value.code == "payment_not_cancelable"


def test_a_payment_waiting_for_its_code_is_canceled_once_per_key(domain: Domain) -> None:
    waiting = domain.pay(OTP_THRESHOLD)
    assert waiting.status == "requires_otp"
    assert domain.service.cancel_once(USER, waiting.payment_id, "can-1")[1] is False
    again, replayed = domain.service.cancel_once(USER, waiting.payment_id, "can-1")
    assert (again.status, replayed) == ("canceled", True)
    assert domain.store.events(waiting.payment_id).count("PaymentCanceled") == 1
    with pytest.raises(Conflict):
        domain.service.cancel(USER, waiting.payment_id, "can-2")


# --- refunds -----------------------------------------------------------------------------------------
def test_a_refund_retried_with_its_key_is_a_replay_sent_once(domain: Domain) -> None:
    paid = domain.pay(3000)
    refund, replayed = domain.service.refund_once(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    assert (refund.status, replayed) == ("succeeded", False)
    again, replayed = domain.service.refund_once(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    assert (again, replayed) == (refund, True)
    assert (again.lease_holder, again.lease_until) == (None, None)
    with pytest.raises(Conflict) as reused:
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=500), "ref-1")
    assert reused.value is KEY_REUSED
    assert provider_calls(domain, "refund") == 1


def test_a_refund_retried_after_a_crash_at_the_provider_waits_for_the_lease_then_resumes_once(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a refund the provider made, whose Lambda died before it stored the answer
    paid = domain.pay(3000)
    crash_after(domain, "refund", monkeypatch)
    with pytest.raises(TimeoutError):
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    # Then its retry is asked to wait while that Lambda could still be sending it
    with pytest.raises(Conflict) as early:
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    assert early.value is KEY_IN_PROGRESS
    # And afterwards it finds the provider's refund rather than asking for another
    domain.now[0] += LEASE_SECONDS
    resumed, replayed = domain.service.refund_once(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    assert (resumed.status, resumed.lease_holder, replayed) == ("succeeded", None, True)
    assert len(domain.provider.refunds) == 1
    assert domain.stored(paid.payment_id).amount_refunded == 1000


def test_a_refund_the_provider_could_not_be_asked_about_is_resumed_at_once(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid = domain.pay(3000)

    def unreachable(*_: Any) -> Any:
        raise ProviderUnavailable

    monkeypatch.setattr(domain.provider, "refund", unreachable)
    with pytest.raises(ProviderUnavailable):
        domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1")
    monkeypatch.undo()
    # The error ended the refund's lease: its retry does not wait for it
    assert domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1000), "ref-1").status == "succeeded"
    assert len(domain.provider.refunds) == 1
