"""The provider's state applied to ours, with no network: what a webhook (or any path that learns from
the provider) may change, and what it must never believe."""

from __future__ import annotations

from typing import Any

import pytest

from payments_core.events import PaymentEventDetail, moved_amount, movement_of
from payments_core.payments.models import Payment, Refund
from payments_core.payments.outbox import event_detail
from payments_core.payments.provider import ProviderIntent
from payments_core.payments.provider_records import ProviderDispute, ProviderRefund
from payments_core.payments.transitions import (
    NotRecordableYet,
    ProviderState,
    operation_id,
    provider_state_change,
)

NOW = "2026-12-04T12:00:00.000Z"


def payment(**fields: Any) -> Payment:
    base: dict[str, Any] = {
        "payment_id": "pay_1",
        "user_id": "usr_1",
        "status": "succeeded",
        "amount": 2000,
        "currency": "usd",
        "amount_captured": 2000,
        "payment_method": "pm_card_visa",
        "request_fingerprint": "f",
        "provider_payment_id": "pi_1",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Payment(**(base | fields))


def intent(**fields: Any) -> ProviderIntent:
    base: dict[str, Any] = {
        "id": "pi_1",
        "status": "succeeded",
        "amount": 2000,
        "currency": "usd",
        "amount_received": 2000,
        "metadata": {"payment_id": "pay_1", "user_id": "usr_1"},
    }
    return ProviderIntent(**(base | fields))


def refund(**fields: Any) -> ProviderRefund:
    base: dict[str, Any] = {
        "id": "re_1",
        "status": "succeeded",
        "amount": 500,
        "currency": "usd",
        "payment_intent": "pi_1",
    }
    return ProviderRefund(**(base | fields))


def dispute(**fields: Any) -> ProviderDispute:
    base: dict[str, Any] = {
        "id": "dp_1",
        "status": "needs_response",
        "amount": 2000,
        "currency": "usd",
        "reason": "fraudulent",
        "payment_intent": "pi_1",
        "withdrawn": 2000,
    }
    return ProviderDispute(**(base | fields))


def kinds(change: Any) -> list[str]:
    return [kind for kind, _ in change.events] if change is not None else []


def ours(amount: int, status: str = "succeeded", provider_id: str | None = "re_1") -> Refund:
    return Refund(
        refund_id="ref_1",
        payment_id="pay_1",
        amount=amount,
        currency="usd",
        status=status,
        created_at=NOW,
        provider_refund_id=provider_id,
    )


# --- the lies of a signed event: none is applied --------------------------------------------------
def test_an_intent_made_for_another_payment_never_links_a_payment_waiting_for_its_code() -> None:
    # Given a victim's payment of 750.00 waiting for its one-time code, and another user's intent that
    # succeeded, whose metadata was rewritten to name the victim's payment
    victim = payment(status="requires_otp", amount=75_000, amount_captured=0, provider_payment_id=None)
    theirs = intent(id="pi_theirs", amount=75_000, metadata={"payment_id": "pay_1", "user_id": "usr_1"})
    # When the state of that intent is applied, Then nothing changes: the OTP is never skipped
    assert provider_state_change(victim, ProviderState(theirs)) is None


@pytest.mark.parametrize(
    "lie",
    [
        {"metadata": {"payment_id": "pay_other", "user_id": "usr_1"}},
        {"metadata": {"payment_id": "pay_1", "user_id": "usr_other"}},
        {"metadata": {}},
        {"amount": 9_000},
        {"currency": "eur"},
    ],
)
def test_a_payment_without_an_intent_is_linked_only_to_one_made_for_it(lie: dict[str, Any]) -> None:
    waiting = payment(status="processing", amount_captured=0, provider_payment_id=None)
    assert provider_state_change(waiting, ProviderState(intent(**lie))) is None
    # while the intent made for it links it and moves it on
    linked = provider_state_change(waiting, ProviderState(intent()))
    assert linked is not None
    assert (linked.payment.provider_payment_id, linked.payment.status) == ("pi_1", "succeeded")


def test_an_intent_that_is_not_the_payments_own_changes_nothing() -> None:
    hold = payment(status="requires_capture", amount_captured=0)
    assert provider_state_change(hold, ProviderState(intent(id="pi_other", amount_received=900_000))) is None


def test_never_more_is_captured_than_the_payment_asked_for() -> None:
    # Given a hold of 20.00, and the provider reporting 200.00 received
    hold = payment(status="requires_capture", amount_captured=0)
    change = provider_state_change(hold, ProviderState(intent(amount_received=20_000)))
    # Then the captured amount is the hold's, and a refund of invented money is impossible
    assert change is not None
    assert (change.payment.status, change.payment.amount_captured) == ("succeeded", 2000)


def test_a_dashboard_refund_of_the_amount_a_partial_capture_released_is_a_customer_refund() -> None:
    # Given a hold of 20.00 captured for 15.00, and a refund of 5.00 (the amount the capture released)
    # made on the dashboard: at the pinned API version (after 2025-03-31.basil) Stripe lists no refund
    # for a released rest, so a refund of that amount is the customer's
    captured = payment(capture_method="manual", amount_captured=1500)
    state = ProviderState(intent(amount_received=1500), refunds=[refund(id="re_dash", amount=500)])
    # Then it is recorded as one: announced, in the ledger, 5.00 less to refund
    change = provider_state_change(captured, state)
    assert change is not None
    assert kinds(change) == ["RefundCreated", "RefundSucceeded"]
    assert change.payment.amount_refunded == 500


# --- what Stripe sends for what we do -------------------------------------------------------------
def test_a_3ds_hold_becomes_capturable_once_the_customer_authenticated() -> None:
    waiting = payment(status="requires_action", amount_captured=0, capture_method="manual")
    change = provider_state_change(waiting, ProviderState(intent(status="requires_capture", amount_received=0)))
    assert change is not None
    assert (change.payment.status, change.payment.next_action) == ("requires_capture", None)
    assert provider_state_change(change.payment, ProviderState(intent(status="requires_capture"))) is None


def test_a_hold_released_by_the_provider_is_canceled_here() -> None:
    hold = payment(status="requires_capture", amount_captured=0)
    change = provider_state_change(hold, ProviderState(intent(status="canceled", cancellation_reason="expired")))
    assert change is not None
    assert (change.payment.status, kinds(change)) == ("canceled", ["PaymentCanceled"])


def test_a_refund_that_fails_after_it_succeeded_gives_the_money_back_once() -> None:
    # Given a payment of 20.00 fully refunded by one refund of ours
    refunded = payment(status="refunded", amount_refunded=2000, amount_reserved=2000)
    refunded.refunds["ref_1"] = ours(2000)
    # When the provider reports that refund failed (the card was closed)
    state = ProviderState(
        intent(), refunds=[refund(amount=2000, status="failed", failure_reason="expired_or_canceled_card")]
    )
    change = provider_state_change(refunded, state)
    # Then the amount is refundable again, the refund says why, and RefundFailed reports it
    assert change is not None
    after = change.payment
    assert (after.status, after.amount_refunded, after.amount_reserved) == ("succeeded", 0, 0)
    failed = after.refunds["ref_1"]
    assert (failed.status, failed.failed_after_success, failed.failure_reason) == (
        "failed",
        True,
        "expired_or_canceled_card",
    )
    assert kinds(change) == ["RefundFailed"]
    # And the same state again (a second delivery) changes nothing
    assert provider_state_change(after, state) is None


def test_a_pending_refund_that_fails_is_no_money_movement() -> None:
    waiting = payment(amount_reserved=500)
    waiting.refunds["ref_1"] = ours(500, status="pending")
    change = provider_state_change(waiting, ProviderState(intent(), [refund(status="failed")]))
    assert change is not None
    assert (change.payment.amount_reserved, change.payment.refunds["ref_1"].failed_after_success) == (0, False)
    detail = PaymentEventDetail.model_validate(event_detail(change.payment, change.events[0][1], _now()))
    assert movement_of("RefundFailed", detail) == "refund_not_made:ref_1"


def test_a_dispute_is_announced_step_by_step_whatever_order_its_events_come_in() -> None:
    paid = payment()
    # The first event to arrive finds the dispute already won: every step is announced, in order
    won = dispute(status="won", reinstated=2000)
    change = provider_state_change(paid, ProviderState(intent(), dispute=won))
    assert kinds(change) == ["DisputeOpened", "DisputeFundsWithdrawn", "DisputeFundsReinstated", "DisputeClosed"]
    assert change is not None
    stored = change.payment.dispute
    assert stored is not None
    assert (stored.status, stored.amount_withdrawn, stored.amount_reinstated) == ("won", 2000, 2000)
    # And later events, whatever state they name, announce nothing again
    assert provider_state_change(change.payment, ProviderState(intent(), dispute=won)) is None
    assert provider_state_change(change.payment, ProviderState(intent(), dispute=dispute())) is None


def test_a_lost_dispute_withdraws_once_and_closes() -> None:
    opened = provider_state_change(payment(), ProviderState(intent(), dispute=dispute()))
    assert kinds(opened) == ["DisputeOpened", "DisputeFundsWithdrawn"]
    assert opened is not None
    lost = provider_state_change(opened.payment, ProviderState(intent(), dispute=dispute(status="lost")))
    assert kinds(lost) == ["DisputeClosed"]


def test_a_lost_dispute_appealed_and_won_is_shown_won_and_closes_again() -> None:
    # Given a dispute opened, then lost
    opened = provider_state_change(payment(), ProviderState(intent(), dispute=dispute()))
    assert opened is not None
    lost = provider_state_change(opened.payment, ProviderState(intent(), dispute=dispute(status="lost")))
    assert lost is not None
    # (a late read of it as still under review moves nothing back)
    assert provider_state_change(lost.payment, ProviderState(intent(), dispute=dispute(status="under_review"))) is None
    # When the merchant appeals: the dispute is open again, in the appeal's statuses, never back
    current = lost.payment
    for status in ("appeal_needs_response", "appeal_under_review"):
        change = provider_state_change(current, ProviderState(intent(), dispute=dispute(status=status)))
        assert kinds(change) == []
        assert change is not None
        current = change.payment
        assert current.dispute is not None
        assert (current.dispute.status, current.dispute.closed) == (status, False)
    back = dispute(status="appeal_needs_response")
    assert provider_state_change(current, ProviderState(intent(), dispute=back)) is None
    # And when the appeal is won: the money comes back, and the dispute closes again as won
    won = provider_state_change(current, ProviderState(intent(), dispute=dispute(status="won", reinstated=2000)))
    assert kinds(won) == ["DisputeFundsReinstated", "DisputeClosed"]
    assert won is not None
    assert won.payment.dispute is not None
    assert (won.payment.dispute.status, won.payment.dispute.amount_reinstated) == ("won", 2000)
    assert won.payment.dispute.refundable
    assert "appealed" not in won.payment.public()["dispute"]
    # And nothing reopens it after that
    stale = dispute(status="appeal_under_review", reinstated=2000)
    assert provider_state_change(won.payment, ProviderState(intent(), dispute=stale)) is None


def test_an_appeal_lost_again_stays_lost_and_one_won_unseen_is_taken() -> None:
    opened = provider_state_change(payment(), ProviderState(intent(), dispute=dispute(status="lost")))
    assert opened is not None
    appeal = provider_state_change(
        opened.payment, ProviderState(intent(), dispute=dispute(status="appeal_under_review"))
    )
    assert appeal is not None
    lost_again = provider_state_change(appeal.payment, ProviderState(intent(), dispute=dispute(status="lost")))
    assert kinds(lost_again) == ["DisputeClosed"]
    assert lost_again is not None
    after = ProviderState(intent(), dispute=dispute(status="won", reinstated=2000))
    decided = provider_state_change(lost_again.payment, after)
    assert decided is not None
    assert decided.payment.dispute is not None
    assert decided.payment.dispute.status == "lost"  # the appeal's outcome stands
    # A lost dispute whose appeal's own statuses were never seen (events lost) and that Stripe now holds
    # won: won, with its money back
    won = provider_state_change(opened.payment, after)
    assert kinds(won) == ["DisputeFundsReinstated", "DisputeClosed"]
    assert won is not None
    assert won.payment.dispute is not None
    assert won.payment.dispute.status == "won"


def test_an_inquiry_closed_without_a_chargeback_may_become_one() -> None:
    inquiry = dispute(status="warning_closed", withdrawn=0, charge_refundable=True)
    closed = provider_state_change(payment(), ProviderState(intent(), dispute=inquiry))
    assert kinds(closed) == ["DisputeOpened", "DisputeClosed"]
    assert closed is not None
    chargeback = provider_state_change(closed.payment, ProviderState(intent(), dispute=dispute()))
    assert kinds(chargeback) == ["DisputeFundsWithdrawn"]
    assert chargeback is not None
    assert chargeback.payment.dispute is not None
    assert (chargeback.payment.dispute.status, chargeback.payment.dispute.refundable) == ("needs_response", False)


def test_a_dispute_of_another_intent_or_beyond_the_capture_is_not_believed() -> None:
    assert provider_state_change(payment(), ProviderState(intent(), dispute=dispute(payment_intent="pi_x"))) is None
    change = provider_state_change(payment(), ProviderState(intent(), dispute=dispute(withdrawn=900_000)))
    assert change is not None
    assert change.payment.dispute is not None
    assert change.payment.dispute.amount_withdrawn == 2000


def test_a_dashboard_refund_of_a_payment_not_succeeded_anywhere_waits() -> None:
    hold = payment(status="requires_capture", amount_captured=0)
    with pytest.raises(NotRecordableYet):
        provider_state_change(hold, ProviderState(intent(status="requires_capture"), [refund()]))


def test_a_dashboard_refund_that_does_not_fit_yet_holds_back_only_itself() -> None:
    # Given 20.00 captured, a refund of ours of 12.00 not yet sent (reserved), and one of 8.00 sent,
    # whose answer was lost: both pending here
    unsent = Refund(
        refund_id="ref_a", payment_id="pay_1", amount=1200, currency="usd", status="pending", created_at=NOW
    )
    sent = unsent.model_copy(update={"refund_id": "ref_b", "amount": 800, "provider_refund_id": "re_ours"})
    paid = payment(refunds={"ref_a": unsent, "ref_b": sent}, amount_reserved=2000)
    # And Stripe holds ours of 8.00 as succeeded, and a refund of 12.00 made on its dashboard
    ours = refund(id="re_ours", amount=800, metadata={"refund_id": "ref_b"})
    state = ProviderState(intent(), [ours, refund(id="re_dash", amount=1200)])
    # When the provider's state is applied by a caller that takes part of it, Then ours succeeds now and
    # the dashboard refund (which our reservation leaves no room for) is held back, with why
    held: list[str] = []
    change = provider_state_change(paid, state, held_back=held)
    assert kinds(change) == ["RefundSucceeded"]
    assert change is not None
    assert (change.payment.amount_refunded, change.payment.refunds["ref_b"].status) == (800, "succeeded")
    assert len(change.payment.refunds) == 2
    assert held == ["our pending refunds still reserve what it refunded"]
    # And a caller that takes all or nothing gets nothing, as before
    with pytest.raises(NotRecordableYet):
        provider_state_change(paid, state)
    # And once ours is applied, the dashboard refund alone (nothing else to change) is still not taken
    with pytest.raises(NotRecordableYet):
        provider_state_change(change.payment, state, held_back=[])


def test_a_refund_event_arriving_before_the_capture_applies_both_in_order() -> None:
    # The provider's state has both the capture and a dashboard refund: one change, capture first
    hold = payment(status="requires_capture", amount_captured=0)
    change = provider_state_change(hold, ProviderState(intent(), [refund(id="re_dash", amount=500)]))
    assert kinds(change) == ["PaymentSucceeded", "RefundCreated", "RefundSucceeded"]
    assert change is not None
    refund_id = operation_id("ref", "usr_1", "pay_1", "provider", "re_dash")
    assert change.payment.refunds[refund_id].amount == 500


# --- the ledger's view of the new movements -------------------------------------------------------
def _now() -> Any:
    from payments_core import clock

    return clock.now()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("DisputeFundsWithdrawn", ("dispute", 2000)), ("DisputeFundsReinstated", ("dispute_reversal", 1500))],
)
def test_each_dispute_movement_is_named_once_with_its_amount(kind: str, expected: tuple[str, int]) -> None:
    change = provider_state_change(payment(), ProviderState(intent(), dispute=dispute(reinstated=1500)))
    assert change is not None
    detail = PaymentEventDetail.model_validate(event_detail(change.payment, None, _now()))
    movement = movement_of(kind, detail)
    assert movement == f"{expected[0]}:dp_1"
    assert moved_amount(expected[0], detail) == expected[1]
