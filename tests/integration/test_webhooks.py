"""The Stripe webhook over HTTP: signature on the raw body, de-duplication, forward-only status."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests
import stripe

from devstack.webhook_event import sign, stripe_event
from payments_core.payments.models import Refund
from payments_core.payments.transitions import operation_id
from tests.integration.conftest import (
    ApiClient,
    RunningStack,
    expect_refusal,
    new_user,
    store_refunds,
    user_id_of,
    wait_for,
)

pytestmark = pytest.mark.integration


def deliver(
    stack: RunningStack,
    event: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    tamper: bool = False,
) -> requests.Response:
    payload = json.dumps(event)
    signature = sign(payload, secret or stack.webhook_secret, timestamp)
    if tamper:
        payload = payload.replace('"livemode": false', '"livemode": true')
    return requests.post(
        f"{stack.api_url}/webhooks/stripe",
        data=payload.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=30,
    )


def store_pending_refund(stack: RunningStack, user_id: str, payment: dict[str, Any], amount: int) -> Refund:
    """A refund of ours still pending at Stripe (one localstripe cannot leave pending), stored."""
    pending = Refund(
        refund_id="ref_" + uuid.uuid4().hex[:24],
        payment_id=payment["payment_id"],
        amount=amount,
        currency=payment["currency"],
        status="pending",
        created_at=payment["created_at"],
        provider_refund_id="re_ours" + uuid.uuid4().hex[:8],
    )
    store_refunds(stack, user_id, payment["payment_id"], [pending])
    return pending


def intent_object(payment: dict[str, Any], user_id: str, status: str) -> dict[str, Any]:
    return {
        "id": payment["provider_payment_id"],
        "object": "payment_intent",
        "status": status,
        "amount": payment["amount"],
        "amount_received": payment["amount"] if status == "succeeded" else 0,
        "metadata": {"payment_id": payment["payment_id"], "user_id": user_id},
    }


def test_localstripe_webhooks_are_verified_and_recorded(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1500).json()

    # localstripe's signed payment_intent.succeeded reaches /webhooks/stripe and is verified there; it
    # finds the payment already succeeded (the create's own answer applied it), so it writes nothing
    def verified_and_unchanged() -> bool:
        for line in stack.log().splitlines():
            flat = line.replace(" ", "")
            if payment["provider_payment_id"] in flat and '"event_type":"payment_intent.succeeded"' in flat:
                return '"result":"unchanged"' in flat
        return False

    wait_for(verified_and_unchanged, 10, "localstripe's payment_intent.succeeded verified, changing nothing")
    # It found the payment already succeeded: no second PaymentSucceeded.
    assert stack.events_for(payment["payment_id"]).count("PaymentSucceeded") == 1


def stripe_dashboard(stack: RunningStack) -> stripe.StripeClient:
    """Stripe itself, as its dashboard acts on it: calls that bypass our API."""
    return stripe.StripeClient("sk_test_dashboard", base_addresses={"api": stack.stripe_url})


def test_a_webhook_moves_a_payment_forward_once(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold, captured on Stripe's dashboard
    payment = user.pay(2000, capture_method="manual").json()
    stripe_dashboard(stack).v1.payment_intents.capture(payment["provider_payment_id"])
    event = stripe_event("payment_intent.succeeded", intent_object(payment, user_id_of(user), "succeeded"))
    # When Stripe's event is delivered twice
    first = deliver(stack, event)
    second = deliver(stack, event)
    # Then both are acknowledged, and it had one effect
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True}
    assert second.status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert (stored["status"], stored["amount_captured"]) == ("succeeded", 2000)
    assert stack.events_for(payment["payment_id"]).count("PaymentSucceeded") == 1


def test_an_event_snapshot_is_not_believed_over_stripe(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold of 20.00 that Stripe still holds uncaptured, and a signed event saying it succeeded
    # with ten times that received
    payment = user.pay(2000, capture_method="manual").json()
    lie = intent_object(payment, user_id_of(user), "succeeded") | {"amount_received": 20_000}
    # When it is delivered, Then it is acknowledged and nothing moves: Stripe says the hold is a hold
    assert deliver(stack, stripe_event("payment_intent.succeeded", lie)).status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert (stored["status"], stored["amount_captured"]) == ("requires_capture", 0)
    # And once it is captured at Stripe, the same event moves it by what Stripe received, not by the lie
    stripe_dashboard(stack).v1.payment_intents.capture(payment["provider_payment_id"])
    assert deliver(stack, stripe_event("payment_intent.succeeded", lie)).status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert (stored["status"], stored["amount_captured"]) == ("succeeded", 2000)
    refund = user.refund(payment["payment_id"], 2001)
    assert refund.status_code == 409, refund.text


def another_users_intent(stack: RunningStack, amount: int, metadata: dict[str, str]) -> str:
    """An intent at Stripe that is not the payment's, its metadata naming the payment (as anyone with
    dashboard access could edit it), succeeded."""
    intent = stripe_dashboard(stack).v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "allowed_payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
        }
    )
    assert intent.status == "succeeded"
    return str(intent.id)


def test_an_intent_that_is_not_the_payments_own_never_moves_it(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold of 20.00, and another intent that succeeded for 9,000.00 at Stripe, its metadata
    # naming the hold
    payment = user.pay(2000, capture_method="manual").json()
    stray = another_users_intent(stack, 900_000, {"payment_id": payment["payment_id"], "user_id": user_id_of(user)})
    before = stack.events_for(payment["payment_id"])
    # When its signed event is delivered
    event = stripe_event(
        "payment_intent.succeeded", intent_object(payment, user_id_of(user), "succeeded") | {"id": stray}
    )
    response = deliver(stack, event)
    # Then it is acknowledged (Stripe need not retry it) and the hold is untouched
    assert response.status_code == 200, response.text
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert stored["status"] == "requires_capture"
    assert stored["provider_payment_id"] == payment["provider_payment_id"]
    assert stored["amount_captured"] == 0
    assert stack.events_for(payment["payment_id"]) == before
    assert "webhook for another intent" in stack.log()


def test_a_payment_waiting_for_its_code_is_never_linked_by_a_webhook(stack: RunningStack) -> None:
    # Given a victim's payment of 750.00 waiting for its one-time code, and another user's intent of
    # 750.00 that succeeded at Stripe, its metadata rewritten to name the victim's payment
    victim = new_user(stack.api_url)
    waiting = victim.pay(75_000).json()
    assert waiting["status"] == "requires_otp"
    stray = another_users_intent(stack, 75_000, {"payment_id": waiting["payment_id"], "user_id": user_id_of(victim)})
    # When its signed payment_intent.succeeded is delivered
    event = stripe_event("payment_intent.succeeded", {"id": stray, "object": "payment_intent", "status": "succeeded"})
    assert deliver(stack, event).status_code == 200
    # Then the victim's payment still waits for its code: the OTP is not skipped, nothing was paid
    stored = victim.call("GET", f"/payments/{waiting['payment_id']}").json()
    assert (stored["status"], stored["provider_payment_id"], stored["amount_captured"]) == ("requires_otp", None, 0)
    assert "PaymentSucceeded" not in stack.events_for(waiting["payment_id"])
    assert "webhook for a payment still waiting for its one-time code" in stack.log()


def test_a_refund_at_stripe_naming_ours_but_another_never_moves_ours(stack: RunningStack, user: ApiClient) -> None:
    # Given a payment of 10.00 with a refund of 3.00 of ours pending as re_ours, and at Stripe another
    # refund of the payment whose metadata names ours
    payment = user.pay(1000).json()
    pid, user_id = payment["payment_id"], user_id_of(user)
    pending = store_pending_refund(stack, user_id, payment, 300)
    stray = stripe_dashboard(stack).v1.refunds.create(
        params={
            "payment_intent": payment["provider_payment_id"],
            "amount": 300,
            "metadata": {"refund_id": pending.refund_id, "payment_id": pid, "user_id": user_id},
        }
    )
    # When Stripe reports it
    event = stripe_event("refund.updated", json.loads(json.dumps(stray.to_dict())))
    assert deliver(stack, event).status_code == 200
    # Then ours is still pending, nothing was refunded, and a person is told
    stored = user.call("GET", f"/payments/{pid}").json()
    assert [r["status"] for r in stored["refunds"]] == ["pending"]
    assert stored["amount_refunded"] == 0
    assert "webhook for another refund" in stack.log()


def test_a_late_processing_event_never_moves_a_succeeded_payment_back(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1200).json()
    before = stack.events_for(payment["payment_id"])
    for status in ("processing", "requires_action", "canceled"):
        kind = {
            "processing": "payment_intent.processing",
            "requires_action": "payment_intent.requires_action",
            "canceled": "payment_intent.canceled",
        }[status]
        response = deliver(stack, stripe_event(kind, intent_object(payment, user_id_of(user), status)))
        assert response.status_code == 200
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "succeeded"
    assert stack.events_for(payment["payment_id"]) == before


def test_unhandled_types_are_acknowledged(stack: RunningStack) -> None:
    response = deliver(stack, stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "case",
    ["tampered", "wrong-secret", "stale", "missing", "not-an-event"],
)
def test_bad_signatures_are_400(stack: RunningStack, user: ApiClient, case: str) -> None:
    payment = user.pay(1000, capture_method="manual").json()
    event = stripe_event("payment_intent.succeeded", intent_object(payment, user_id_of(user), "succeeded"))
    if case == "tampered":
        response = deliver(stack, event, tamper=True)
    elif case == "wrong-secret":
        response = deliver(stack, event, secret="whsec_" + "0" * 48)
    elif case == "stale":
        response = deliver(stack, event, timestamp=int(time.time()) - 301)
    elif case == "missing":
        response = requests.post(f"{stack.api_url}/webhooks/stripe", data=json.dumps(event), timeout=30)
    else:
        payload = "[1, 2, 3]"
        response = requests.post(
            f"{stack.api_url}/webhooks/stripe",
            data=payload,
            headers={"Stripe-Signature": sign(payload, stack.webhook_secret)},
            timeout=30,
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "requires_capture"


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        ("payment_intent.succeeded", {"metadata": "not a map"}),
        ("payment_intent.succeeded", {"amount_received": "lots"}),
        ("payment_intent.succeeded", {"id": 42}),
        ("charge.refunded", {"refunds": {"data": [1, 2]}}),
        ("charge.refunded", {"refunds": "none"}),
        ("payment_intent.payment_failed", {"last_payment_error": "declined"}),
    ],
)
def test_a_signed_body_that_is_not_shaped_like_a_stripe_event_is_400(
    stack: RunningStack, user: ApiClient, event_type: str, change: dict[str, Any]
) -> None:
    # Given a signed event of a handled type whose object is not shaped as Stripe sends it
    payment = user.pay(1000, capture_method="manual").json()
    event = stripe_event(event_type, intent_object(payment, user_id_of(user), "succeeded") | change)
    # When it is delivered, Then it is not a Stripe event (400), not a server error, and changes nothing
    response = deliver(stack, event)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_signature"
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "requires_capture"


def test_a_signed_event_with_no_status_changes_nothing(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1000, capture_method="manual").json()
    intent = intent_object(payment, user_id_of(user), "succeeded")
    del intent["status"]
    assert deliver(stack, stripe_event("payment_intent.succeeded", intent)).status_code == 200
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "requires_capture"


def refund_at_stripe(stack: RunningStack, payment: dict[str, Any], amount: int) -> dict[str, Any]:
    """A refund made at the provider, not through our API (as on Stripe's dashboard): no id of ours."""
    refund = stripe_dashboard(stack).v1.refunds.create(
        params={"payment_intent": payment["provider_payment_id"], "amount": amount}
    )
    made: dict[str, Any] = json.loads(json.dumps(refund.to_dict()))
    assert not made.get("metadata"), "made outside our API: it names no refund of ours"
    return made


def charge_refunded(payment: dict[str, Any], refunds: list[dict[str, Any]]) -> dict[str, Any]:
    return stripe_event(
        "charge.refunded",
        {
            "id": "ch_" + uuid.uuid4().hex[:24],
            "object": "charge",
            "payment_intent": payment["provider_payment_id"],
            "currency": payment["currency"],
            "amount_refunded": sum(int(r["amount"]) for r in refunds),
            "refunds": {"object": "list", "data": refunds},
        },
    )


def test_a_refund_made_on_stripes_dashboard_is_recorded_once(stack: RunningStack) -> None:
    # Given a payment of 25.00, and 7.00 of it refunded on Stripe's dashboard
    user = new_user(stack.api_url)
    payment = user.pay(2500).json()
    pid = payment["payment_id"]
    made = refund_at_stripe(stack, payment, 700)
    # When Stripe announces it: refund.created (delivered twice), then charge.refunded listing it
    created = stripe_event("refund.created", made)
    for event in (created, created, charge_refunded(payment, [made])):
        response = deliver(stack, event)
        assert response.status_code == 200, response.text
    # Then the payment holds it once, as succeeded, and the bus heard of it once
    stored = user.call("GET", f"/payments/{pid}").json()
    assert (stored["status"], stored["amount_refunded"]) == ("partially_refunded", 700)
    assert [(r["amount"], r["status"]) for r in stored["refunds"]] == [(700, "succeeded")]
    assert stack.events_for(pid).count("RefundSucceeded") == 1

    # And the ledger has its entry next to the charge's
    def both_entries() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = user.call("GET", "/transactions").json()["items"]
        return items if len(items) == 2 else None

    ledger = wait_for(both_entries, message="the charge's and the refund's ledger entries")
    assert sorted((t["type"], t["amount"]) for t in ledger) == [("charge", 2500), ("refund", 700)]
    # And what remains refundable through the API is what the dashboard left: 18.00, then nothing
    rest = user.refund(pid)
    assert (rest.status_code, rest.json()["amount"]) == (201, 1800), rest.text
    over = user.refund(pid, 100)
    assert (over.status_code, over.json()["error"]["code"]) == (409, "refund_exceeds_remaining")
    assert user.call("GET", f"/payments/{pid}").json()["status"] == "refunded"


def deferred_marks(stack: RunningStack, user_id: str, payment_id: str) -> list[str]:
    """The events a stored payment is marked as waiting for (its document's ``deferred_events``)."""
    key = {"PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"PAY#{payment_id}"}}
    item = stack.client("dynamodb").get_item(TableName="AppTable", Key=key, ConsistentRead=True)["Item"]
    return list(json.loads(item["doc"]["S"]).get("deferred_events", []))


def deferred_item(stack: RunningStack, event_id: str) -> dict[str, Any] | None:
    """The reconciler's record of an event answered "deliver again", if it is still there."""
    key = {"PK": {"S": f"DEFERRED#{event_id}"}, "SK": {"S": "DEFERRED"}}
    found: dict[str, Any] | None = stack.client("dynamodb").get_item(TableName="AppTable", Key=key).get("Item")
    return found


def strict_stripe(stack: RunningStack) -> bool:
    """Whether the local Stripe refuses what Stripe refuses (an over-refund, say), as localstripe does not."""
    return requests.get(f"{stack.stripe_url}/_strict/requests", timeout=5).status_code == 200


def test_a_dashboard_refund_still_reserved_by_a_pending_one_of_ours_is_delivered_again(
    stack: RunningStack,
) -> None:
    if not strict_stripe(stack):
        pytest.skip("needs the strict local Stripe, which refuses an over-refund")
    # Given a payment of 10.00 with a refund of ours of 6.00 reserved but not yet sent to Stripe
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    pid, user_id = payment["payment_id"], user_id_of(user)
    key = "refund-" + uuid.uuid4().hex
    ours = Refund(
        refund_id=operation_id("ref", user_id, pid, key),
        payment_id=pid,
        amount=600,
        currency="usd",
        status="pending",
        created_at=payment["created_at"],
    )
    store_refunds(stack, user_id, pid, [ours])
    # When Stripe reports 6.00 refunded on its dashboard
    dashboard = stripe_event("refund.created", refund_at_stripe(stack, payment, 600))
    first = deliver(stack, dashboard)
    # Then it is not applied yet: not a 2xx, so Stripe delivers it again, and nothing changed
    assert first.status_code == 500, first.text
    assert first.json()["error"]["code"] == "internal_error"
    stored = user.call("GET", f"/payments/{pid}").json()
    assert [r["status"] for r in stored["refunds"]] == ["pending"]
    assert "RefundSucceeded" not in stack.events_for(pid)
    # (remembered as deferred: marked on the payment, and counted for the reconciler; the local
    # Stripe's own deliveries of the refund are deferred alike)
    assert dashboard["id"] in deferred_marks(stack, user_id, pid)
    assert deferred_item(stack, dashboard["id"]) is not None
    # And once ours has been sent (and refused by Stripe: only 4.00 is left there), the same delivery
    # again is applied
    expect_refusal("amount_too_large", "/v1/refunds", payment_intent=payment["provider_payment_id"], amount="600")
    retried = user.refund(pid, 600, key=key)
    assert (retried.status_code, retried.json()["status"]) == (201, "failed"), retried.text
    again = deliver(stack, dashboard)
    assert again.status_code == 200, again.text
    stored = user.call("GET", f"/payments/{pid}").json()
    assert sorted((r["amount"], r["status"]) for r in stored["refunds"]) == [(600, "failed"), (600, "succeeded")]
    assert stored["amount_refunded"] == 600
    assert stack.events_for(pid).count("RefundSucceeded") == 1
    # and the write that applied it cleared its mark, so it is no longer counted as deferred
    assert dashboard["id"] not in deferred_marks(stack, user_id, pid)
    assert deferred_item(stack, dashboard["id"]) is None


def test_a_dashboard_refund_that_does_not_fit_yet_holds_up_nothing_else(stack: RunningStack) -> None:
    if not strict_stripe(stack):
        pytest.skip("needs the strict local Stripe, which refuses an over-refund")
    # Given a payment of 10.00 with two refunds of ours pending: 6.00 not yet sent to Stripe, and 4.00
    # that Stripe made but whose answer was lost
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    pid, user_id = payment["payment_id"], user_id_of(user)
    key = "refund-" + uuid.uuid4().hex
    unsent = Refund(
        refund_id=operation_id("ref", user_id, pid, key),
        payment_id=pid,
        amount=600,
        currency="usd",
        status="pending",
        created_at=payment["created_at"],
    )
    sent = unsent.model_copy(update={"refund_id": operation_id("ref", user_id, pid, "lost-answer"), "amount": 400})
    store_refunds(stack, user_id, pid, [unsent, sent])
    stripe_dashboard(stack).v1.refunds.create(
        params={
            "payment_intent": payment["provider_payment_id"],
            "amount": 400,
            "metadata": {"refund_id": sent.refund_id},
        }
    )
    # When Stripe reports 6.00 refunded on its dashboard, which our reservations leave no room for yet
    dashboard = stripe_event("refund.created", refund_at_stripe(stack, payment, 600))
    first = deliver(stack, dashboard)
    # Then that refund waits for a later delivery (not a 2xx, marked and counted as deferred)...
    assert first.status_code == 500, first.text
    assert dashboard["id"] in deferred_marks(stack, user_id, pid)
    assert deferred_item(stack, dashboard["id"]) is not None
    # ...but the rest of what Stripe holds is applied now: ours of 4.00 succeeded, announced once
    stored = user.call("GET", f"/payments/{pid}").json()
    assert sorted((r["amount"], r["status"]) for r in stored["refunds"]) == [(400, "succeeded"), (600, "pending")]
    assert (stored["status"], stored["amount_refunded"]) == ("partially_refunded", 400)
    assert stack.events_for(pid).count("RefundSucceeded") == 1
    # And once ours of 6.00 has been sent (and refused: nothing is left at Stripe), the same delivery
    # again records the dashboard's refund and clears what counted it as deferred
    expect_refusal(
        "charge_already_refunded", "/v1/refunds", payment_intent=payment["provider_payment_id"], amount="600"
    )
    retried = user.refund(pid, 600, key=key)
    assert (retried.status_code, retried.json()["status"]) == (201, "failed"), retried.text
    again = deliver(stack, dashboard)
    assert again.status_code == 200, again.text
    stored = user.call("GET", f"/payments/{pid}").json()
    assert sorted((r["amount"], r["status"]) for r in stored["refunds"]) == [
        (400, "succeeded"), (600, "failed"), (600, "succeeded"),
    ]  # fmt: skip
    assert (stored["status"], stored["amount_refunded"]) == ("refunded", 1000)
    assert stack.events_for(pid).count("RefundSucceeded") == 2
    assert dashboard["id"] not in deferred_marks(stack, user_id, pid)
    assert deferred_item(stack, dashboard["id"]) is None


def test_a_dashboard_refund_announced_before_the_capture_is_applied_with_it(stack: RunningStack) -> None:
    # Given a hold, captured and partly refunded on Stripe's dashboard, the refund's event first
    user = new_user(stack.api_url)
    hold = user.pay(2000, capture_method="manual").json()
    stripe_dashboard(stack).v1.payment_intents.capture(hold["provider_payment_id"])
    refund = stripe_event("refund.created", refund_at_stripe(stack, hold, 500))
    # When it arrives before the payment's own event, Then both are applied, the capture first
    assert deliver(stack, refund).status_code == 200
    stored = user.call("GET", f"/payments/{hold['payment_id']}").json()
    assert (stored["status"], stored["amount_captured"], stored["amount_refunded"]) == ("partially_refunded", 2000, 500)
    events = stack.events_for(hold["payment_id"])
    assert (events.count("PaymentSucceeded"), events.count("RefundSucceeded")) == (1, 1)


def test_a_charge_refunded_snapshot_is_not_believed(stack: RunningStack) -> None:
    # Given a payment of 10.00 with nothing refunded at Stripe, and a signed charge.refunded listing a
    # refund of 3.00 (a lie), its metadata null as Stripe's schema allows
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    invented = {"id": "re_" + uuid.uuid4().hex[:24], "object": "refund", "amount": 300, "status": "succeeded"}
    event = charge_refunded(payment, [invented | {"metadata": None, "payment_intent": payment["provider_payment_id"]}])
    # When it is delivered, Then it is acknowledged (not a 400 retried for 3 days) and nothing is recorded
    assert deliver(stack, event).status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert (stored["refunds"], stored["amount_refunded"]) == ([], 0)


def test_a_charge_refunded_listing_no_refunds_still_records_the_ones_stripe_holds(stack: RunningStack) -> None:
    # Given a payment of 10.00, 7.00 of it refunded on Stripe's dashboard, and a charge.refunded that
    # lists no refunds (as at this API version)
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    refund_at_stripe(stack, payment, 700)
    event = charge_refunded(payment, [])
    del event["data"]["object"]["refunds"]
    # When it is delivered, Then Stripe's refunds are fetched and the dashboard refund recorded
    assert deliver(stack, event).status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert (stored["status"], stored["amount_refunded"]) == ("partially_refunded", 700)


def test_a_thin_event_is_acknowledged_and_logged(stack: RunningStack) -> None:
    thin = {
        "id": "evt_" + uuid.uuid4().hex,
        "object": "v2.core.event",
        "type": "v1.payment_intent.succeeded",
        "created": "2026-12-04T12:00:00.000Z",
        "related_object": {"id": "pi_123", "type": "payment_intent", "url": "/v1/payment_intents/pi_123"},
    }
    response = deliver(stack, thin)
    assert response.status_code == 200, response.text
    assert "thin event acknowledged, not applied" in stack.log()


def test_an_event_about_an_object_stripe_does_not_hold_changes_nothing(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1000, capture_method="manual").json()
    ghost = intent_object(payment, user_id_of(user), "succeeded") | {"id": "pi_" + uuid.uuid4().hex[:24]}
    assert deliver(stack, stripe_event("payment_intent.succeeded", ghost)).status_code == 200
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "requires_capture"
    assert "webhook for an object the provider does not hold" in stack.log()
