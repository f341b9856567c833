"""What happens at Stripe after our call returns, end to end: the strict local Stripe makes it happen
and delivers the events Stripe sends for it (signed, to the stack's webhook); we follow, once, with
the ledger entries and emails a customer would expect. Each event delivered again changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
import stripe

from tests.integration.conftest import ApiClient, RunningStack, new_user, wait_for
from tests.integration.test_fanout import emails_to
from tests.integration.test_payments import three_ds_method

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _strict(stack: RunningStack) -> None:
    if requests.get(f"{stack.stripe_url}/_strict/events", timeout=5).status_code != 200:
        pytest.skip("needs the strict local Stripe (DEV_STRICT_STRIPE=0 turns it off)")


def control(stack: RunningStack, path: str, **form: str) -> dict[str, Any]:
    response = requests.post(f"{stack.stripe_url}/_strict/{path}", data=form, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def events_about(stack: RunningStack, object_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = requests.get(f"{stack.stripe_url}/_strict/events", timeout=10).json()["data"]
    return [e for e in events if e["object_id"] == object_id]


def resend_all(stack: RunningStack, object_id: str) -> None:
    """Every event Stripe sent about ``object_id``, delivered again (a duplicate, after later ones)."""
    for event in events_about(stack, object_id):
        control(stack, f"events/{event['id']}/resend")


def payment_of(user: ApiClient, payment_id: str) -> dict[str, Any]:
    body: dict[str, Any] = user.call("GET", f"/payments/{payment_id}").json()
    return body


def dispute_status(user: ApiClient, payment_id: str) -> str | None:
    dispute = payment_of(user, payment_id)["dispute"]
    return dispute["status"] if dispute else None


def ledger(user: ApiClient) -> list[tuple[str, int]]:
    items = user.call("GET", "/transactions").json()["items"]
    return sorted((t["type"], t["amount"]) for t in items)


def test_a_3ds_hold_becomes_capturable_once_the_customer_authenticates(stack: RunningStack) -> None:
    # Given a hold on a card that needs 3-D Secure, waiting for the customer
    user = new_user(stack.api_url)
    hold = user.pay(3000, payment_method=three_ds_method(stack), capture_method="manual").json()
    assert hold["status"] == "requires_action"
    # When the customer authenticates at Stripe (which then sends amount_capturable_updated)
    control(stack, f"payment_intents/{hold['provider_payment_id']}/authenticate", outcome="succeeded")
    # Then the hold becomes capturable here, and can be captured
    wait_for(lambda: payment_of(user, hold["payment_id"])["status"] == "requires_capture", message="capturable")
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key=uuid.uuid4().hex)
    assert (captured.status_code, captured.json()["status"]) == (200, "succeeded"), captured.text


def test_a_failed_3ds_challenge_fails_the_payment_once(stack: RunningStack) -> None:
    user = new_user(stack.api_url)
    payment = user.pay(3000, payment_method=three_ds_method(stack)).json()
    control(stack, f"payment_intents/{payment['provider_payment_id']}/authenticate", outcome="failed")
    wait_for(lambda: payment_of(user, payment["payment_id"])["status"] == "failed", message="failed")
    resend_all(stack, payment["provider_payment_id"])
    wait_for(lambda: emails_to(stack, user.email), message="the failure email")
    assert stack.events_for(payment["payment_id"]).count("PaymentFailed") == 1


def test_a_failed_payments_intent_cannot_be_charged_from_the_browser_afterwards(stack: RunningStack) -> None:
    # Given a payment whose 3-D Secure challenge failed: Stripe keeps its intent open for another
    # payment method, and the customer's browser holds its client secret
    user = new_user(stack.api_url)
    payment = user.pay(3000, payment_method=three_ds_method(stack)).json()
    intent_id = payment["provider_payment_id"]
    control(stack, f"payment_intents/{intent_id}/authenticate", outcome="failed")
    wait_for(lambda: payment_of(user, payment["payment_id"])["status"] == "failed", message="failed")
    # When the browser confirms the same intent again with another card (Stripe.js confirmCardPayment)
    again = requests.post(
        f"{stack.stripe_url}/_strict/payment_intents/{intent_id}/confirm_again",
        data={"payment_method": "pm_card_visa"},
        timeout=30,
    )
    # Then Stripe refuses: the intent of a payment we failed was canceled before we recorded the failure,
    # so no money moves that our payment, ledger and receipts would not show
    assert (again.status_code, again.json()["error"]["code"]) == (400, "payment_intent_unexpected_state"), again.text
    at_stripe = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{intent_id}", auth=("sk_test_strict", ""), timeout=10
    ).json()
    assert at_stripe["status"] == "canceled"
    assert payment_of(user, payment["payment_id"])["status"] == "failed"
    assert stack.events_for(payment["payment_id"]).count("PaymentFailed") == 1


def test_a_payment_under_an_inquiry_can_still_be_refunded_a_charged_back_one_cannot(stack: RunningStack) -> None:
    # Given two payments, one the cardholder's bank asks about (an inquiry: nothing withdrawn, Stripe
    # still refunds it) and one it charges back
    user = new_user(stack.api_url)
    asked, charged_back = user.pay(2500).json(), user.pay(2500).json()
    control(stack, f"payment_intents/{asked['provider_payment_id']}/dispute", inquiry="true")
    control(stack, f"payment_intents/{charged_back['provider_payment_id']}/dispute")
    inquiry = wait_for(lambda: payment_of(user, asked["payment_id"])["dispute"], message="the inquiry")
    wait_for(lambda: payment_of(user, charged_back["payment_id"])["dispute"], message="the chargeback")
    assert (inquiry["status"], inquiry["amount_withdrawn"]) == ("warning_needs_response", 0)
    # When both are refunded, then the one Stripe would refund is, and the other is refused before Stripe
    refunded = user.refund(asked["payment_id"], 1000)
    assert (refunded.status_code, refunded.json()["status"]) == (201, "succeeded"), refunded.text
    refused = user.refund(charged_back["payment_id"], 1000)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payment_disputed")
    assert "charge_refundable" not in payment_of(user, asked["payment_id"])["dispute"]


def test_a_hold_released_after_7_days_is_canceled_and_cannot_be_captured(stack: RunningStack) -> None:
    user = new_user(stack.api_url)
    hold = user.pay(2000, capture_method="manual").json()
    control(stack, f"payment_intents/{hold['provider_payment_id']}/expire")
    wait_for(lambda: payment_of(user, hold["payment_id"])["status"] == "canceled", message="canceled")
    late = user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key=uuid.uuid4().hex)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "payment_not_capturable")
    assert stack.events_for(hold["payment_id"]).count("PaymentCanceled") == 1


def test_a_refund_that_fails_after_it_succeeded_gives_the_money_back_once(stack: RunningStack) -> None:
    # Given a payment of 25.00 and a refund of 10.00 that went through
    user = new_user(stack.api_url)
    payment = user.pay(2500).json()
    pid = payment["payment_id"]
    refund = user.refund(pid, 1000).json()
    assert refund["status"] == "succeeded"
    wait_for(lambda: len(ledger(user)) == 2, message="charge and refund entries")
    dashboard = stripe.StripeClient("sk_test_dashboard", base_addresses={"api": stack.stripe_url})
    [provider_refund] = [
        r.id for r in dashboard.v1.refunds.list(params={"payment_intent": payment["provider_payment_id"]})
    ]
    # When Stripe fails it afterwards (the card was closed), and its events come twice
    control(stack, f"refunds/{provider_refund}/fail", failure_reason="expired_or_canceled_card")
    wait_for(lambda: payment_of(user, pid)["refunds"][0]["status"] == "failed", message="the refund failed")
    resend_all(stack, provider_refund)
    # Then the refund says so, the amount is refundable again, the ledger reverses it (its entries
    # untouched) and the customer is told, once each
    stored = payment_of(user, pid)
    assert (stored["status"], stored["amount_refunded"]) == ("succeeded", 0)
    failed = stored["refunds"][0]
    assert (failed["failed_after_success"], failed["failure_reason"]) == (True, "expired_or_canceled_card")
    wait_for(lambda: len(ledger(user)) == 3, message="the reversal entry")
    assert ledger(user) == [("charge", 2500), ("refund", 1000), ("refund_failure", 1000)]
    mails = wait_for(
        lambda: [m for m in emails_to(stack, user.email) if "did not go through" in m["subject"]], message="email"
    )
    assert len(mails) == 1
    assert stack.events_for(pid).count("RefundFailed") == 1
    again = user.refund(pid)
    assert (again.status_code, again.json()["amount"]) == (201, 2500), again.text


@pytest.mark.parametrize(("outcome", "currency"), [("won", "usd"), ("lost", "usd"), ("won", "jpy")])
def test_a_dispute_reaches_the_ledger_step_by_step_once(stack: RunningStack, outcome: str, currency: str) -> None:
    # Given a payment of 4000 in its currency's minor units (40.00 USD; 4000 JPY, which the account,
    # settling in USD, receives as 26.40 USD: Stripe's balance transactions say 2640, in USD)
    user = new_user(stack.api_url)
    payment = user.pay(4000, currency=currency).json()
    pid = payment["payment_id"]
    # When the cardholder disputes it: Stripe opens the dispute and withdraws the amount
    dispute = control(stack, f"payment_intents/{payment['provider_payment_id']}/dispute", reason="fraudulent")
    opened = wait_for(lambda: payment_of(user, pid)["dispute"], message="the dispute")
    assert (opened["dispute_id"], opened["reason"]) == (dispute["id"], "fraudulent")
    # (what moved is the dispute's amount in the payment's currency, whatever currency the account settles in)
    assert [t["currency"] for t in dispute["balance_transactions"]] == ["usd"]
    wait_for(lambda: ("dispute", 4000) in ledger(user), message="the chargeback entry")
    assert wait_for(lambda: payment_of(user, pid)["dispute"]["amount_withdrawn"], message="withdrawn") == 4000
    # Then the payment cannot be refunded while it is disputed
    refused = user.refund(pid, 100)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payment_disputed")
    # And when it closes, every event delivered twice, each step is on the bus and in the ledger once
    control(stack, f"disputes/{dispute['id']}/close", outcome=outcome)
    wait_for(lambda: payment_of(user, pid)["dispute"]["status"] == outcome, message=f"the dispute {outcome}")
    resend_all(stack, dispute["id"])
    expected = [("charge", 4000), ("dispute", 4000)] + ([("dispute_reversal", 4000)] if outcome == "won" else [])
    wait_for(lambda: ledger(user) == expected, message="the ledger entries")
    events = stack.events_for(pid)
    assert (events.count("DisputeOpened"), events.count("DisputeFundsWithdrawn"), events.count("DisputeClosed")) == (
        1,
        1,
        1,
    )
    assert events.count("DisputeFundsReinstated") == (1 if outcome == "won" else 0)


def test_a_dispute_lost_after_a_partial_refund_gives_back_only_what_was_refunded(stack: RunningStack) -> None:
    # Given a payment of 40.00 of which 10.00 was refunded, then disputed for the whole charge
    user = new_user(stack.api_url)
    payment = user.pay(4000).json()
    pid = payment["payment_id"]
    assert user.refund(pid, 1000).json()["status"] == "succeeded"
    dispute = control(stack, f"payment_intents/{payment['provider_payment_id']}/dispute")
    wait_for(lambda: ("dispute", 4000) in ledger(user), message="the chargeback entry")
    # When the bank decides it "partially won" (Stripe: status lost, the refunded 10.00 returned)
    control(stack, f"disputes/{dispute['id']}/close", outcome="lost", reinstate="1000")
    resend_all(stack, dispute["id"])
    # Then the payment says lost with 10.00 back, and the ledger has that reversal once
    expected = [("charge", 4000), ("dispute", 4000), ("dispute_reversal", 1000), ("refund", 1000)]
    wait_for(lambda: ledger(user) == expected, message="the ledger entries")
    stored = payment_of(user, pid)["dispute"]
    assert (stored["status"], stored["amount_withdrawn"], stored["amount_reinstated"]) == ("lost", 4000, 1000)
    assert stack.events_for(pid).count("DisputeFundsReinstated") == 1


def test_a_lost_dispute_won_on_appeal_is_closed_again_and_the_money_comes_back(stack: RunningStack) -> None:
    # Given a payment of 40.00 charged back and lost
    user = new_user(stack.api_url)
    payment = user.pay(4000).json()
    pid = payment["payment_id"]
    dispute = control(stack, f"payment_intents/{payment['provider_payment_id']}/dispute")
    control(stack, f"disputes/{dispute['id']}/close", outcome="lost")
    wait_for(lambda: dispute_status(user, pid) == "lost", message="the dispute lost")
    # When the merchant appeals (needs a response, then under review) and wins, every event twice
    control(stack, f"disputes/{dispute['id']}/appeal")
    wait_for(lambda: dispute_status(user, pid) == "appeal_needs_response", message="appealed")
    control(stack, f"disputes/{dispute['id']}/appeal")
    wait_for(lambda: dispute_status(user, pid) == "appeal_under_review", message="under review")
    control(stack, f"disputes/{dispute['id']}/close", outcome="won")
    resend_all(stack, dispute["id"])
    # Then the dispute is won, the whole amount is back in the ledger once, and it was closed twice
    wait_for(lambda: dispute_status(user, pid) == "won", message="the appeal won")
    expected = [("charge", 4000), ("dispute", 4000), ("dispute_reversal", 4000)]
    wait_for(lambda: ledger(user) == expected, message="the ledger entries")
    events = stack.events_for(pid)
    assert (events.count("DisputeClosed"), events.count("DisputeFundsReinstated")) == (2, 1)
    # And a won dispute leaves the payment refundable again
    refund = user.refund(pid, 500)
    assert (refund.status_code, refund.json()["status"]) == (201, "succeeded"), refund.text
