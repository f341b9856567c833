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
from payments_core.dynamo import from_item
from payments_core.payments.models import Refund
from tests.integration.conftest import ApiClient, RunningStack, new_user, store_refunds, user_id_of, wait_for

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
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        dynamodb = stack.client("dynamodb")
        items = [from_item(i) for i in dynamodb.scan(TableName="AppTable")["Items"]]
        delivered = [
            i for i in items if str(i["PK"]).startswith("WEBHOOK#") and i["type"] == "payment_intent.succeeded"
        ]
        if delivered:
            break
        time.sleep(0.2)
    assert delivered, "localstripe's signed payment_intent.succeeded reached /webhooks/stripe"
    # It found the payment already succeeded: no second PaymentSucceeded.
    assert stack.events_for(payment["payment_id"]).count("PaymentSucceeded") == 1


def test_a_webhook_moves_a_payment_forward_once(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold, and Stripe telling us it was captured elsewhere (e.g. in the dashboard)
    payment = user.pay(2000, capture_method="manual").json()
    event = stripe_event("payment_intent.succeeded", intent_object(payment, user_id_of(user), "succeeded"))
    # When the event is delivered twice
    first = deliver(stack, event)
    second = deliver(stack, event)
    # Then both are acknowledged, and it had one effect
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True}
    assert second.status_code == 200
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "succeeded"
    assert stack.events_for(payment["payment_id"]).count("PaymentSucceeded") == 1


def test_an_event_about_another_intent_never_moves_a_payment(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold of 20.00, and a signed event saying it succeeded for 9,000.00, but about an intent
    # that is not the hold's (its metadata pointing at the hold: edited on Stripe, or a stray intent)
    payment = user.pay(2000, capture_method="manual").json()
    stray = intent_object(payment, user_id_of(user), "succeeded") | {
        "id": "pi_" + uuid.uuid4().hex[:24],
        "amount": 900_000,
        "amount_received": 900_000,
    }
    before = stack.events_for(payment["payment_id"])
    # When it is delivered
    response = deliver(stack, stripe_event("payment_intent.succeeded", stray))
    # Then it is acknowledged (Stripe need not retry it) and the hold is untouched
    assert response.status_code == 200, response.text
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    assert stored["status"] == "requires_capture"
    assert stored["provider_payment_id"] == payment["provider_payment_id"]
    assert stored["amount_captured"] == 0
    assert stack.events_for(payment["payment_id"]) == before
    assert "webhook for another intent" in stack.log()


def test_an_event_about_another_refund_never_moves_ours(stack: RunningStack, user: ApiClient) -> None:
    # Given a payment of 10.00 with a refund of 3.00 still pending at Stripe as re_ours
    payment = user.pay(1000).json()
    pid, user_id = payment["payment_id"], user_id_of(user)
    pending = store_pending_refund(stack, user_id, payment, 300)

    def refund_event(refund_id: str, intent_id: str) -> dict[str, Any]:
        refund = {
            "id": refund_id,
            "object": "refund",
            "status": "succeeded",
            "amount": 300,
            "payment_intent": intent_id,
            "metadata": {"refund_id": pending.refund_id, "payment_id": pid, "user_id": user_id},
        }
        return stripe_event("charge.refund.updated", refund)

    # When Stripe reports that a refund succeeded whose metadata names ours, but which is another
    # refund, or a refund of another intent
    for stray in (
        refund_event("re_stray", payment["provider_payment_id"]),
        refund_event(pending.provider_refund_id or "", "pi_other"),
    ):
        assert deliver(stack, stray).status_code == 200
    # Then ours is still pending and nothing was refunded
    stored = user.call("GET", f"/payments/{pid}").json()
    assert [r["status"] for r in stored["refunds"]] == ["pending"]
    assert stored["amount_refunded"] == 0
    # And the event about ours still moves it
    assert (
        deliver(stack, refund_event(pending.provider_refund_id or "", payment["provider_payment_id"])).status_code
        == 200
    )
    stored = user.call("GET", f"/payments/{pid}").json()
    assert [r["status"] for r in stored["refunds"]] == ["succeeded"]
    assert stored["amount_refunded"] == 300


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


def test_a_dispute_is_announced_once(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1200).json()
    dispute = {
        "id": "dp_" + uuid.uuid4().hex[:12],
        "object": "dispute",
        "payment_intent": payment["provider_payment_id"],
        "amount": 1200,
        "status": "needs_response",
    }
    assert deliver(stack, stripe_event("charge.dispute.created", dispute)).status_code == 200
    assert deliver(stack, stripe_event("charge.dispute.created", dispute)).status_code == 200
    assert stack.events_for(payment["payment_id"]).count("DisputeOpened") == 1


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


def stripe_dashboard(stack: RunningStack) -> stripe.StripeClient:
    """Stripe itself, as its dashboard acts on it: calls that bypass our API."""
    return stripe.StripeClient("sk_test_dashboard", base_addresses={"api": stack.stripe_url})


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


def test_a_dashboard_refund_still_reserved_by_a_pending_one_of_ours_is_delivered_again(
    stack: RunningStack,
) -> None:
    # Given a payment of 10.00 with a refund of ours of 6.00 still pending at Stripe
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    pid, user_id = payment["payment_id"], user_id_of(user)
    ours = store_pending_refund(stack, user_id, payment, 600)
    # When Stripe reports 6.00 refunded on its dashboard (so ours is about to fail there)
    dashboard = stripe_event("refund.created", refund_at_stripe(stack, payment, 600))
    first = deliver(stack, dashboard)
    # Then it is not applied yet: not a 2xx, so Stripe delivers it again, and nothing changed
    assert first.status_code == 500, first.text
    assert first.json()["error"]["code"] == "internal_error"
    stored = user.call("GET", f"/payments/{pid}").json()
    assert [r["status"] for r in stored["refunds"]] == ["pending"]
    assert "RefundSucceeded" not in stack.events_for(pid)
    # And once ours has failed, the same delivery again is applied
    failed = {
        "id": ours.provider_refund_id,
        "object": "refund",
        "status": "failed",
        "amount": 600,
        "payment_intent": payment["provider_payment_id"],
        "metadata": {"refund_id": ours.refund_id, "payment_id": pid, "user_id": user_id},
    }
    assert deliver(stack, stripe_event("refund.failed", failed)).status_code == 200
    again = deliver(stack, dashboard)
    assert again.status_code == 200, again.text
    stored = user.call("GET", f"/payments/{pid}").json()
    assert sorted((r["amount"], r["status"]) for r in stored["refunds"]) == [(600, "failed"), (600, "succeeded")]
    assert stored["amount_refunded"] == 600
    assert stack.events_for(pid).count("RefundSucceeded") == 1


def test_a_dashboard_refund_arriving_before_the_payment_succeeded_waits_for_it(stack: RunningStack) -> None:
    # Given a hold, captured and partly refunded on Stripe's dashboard, the refund's event first
    user = new_user(stack.api_url)
    hold = user.pay(2000, capture_method="manual").json()
    stripe_dashboard(stack).v1.payment_intents.capture(hold["provider_payment_id"])
    refund = stripe_event("refund.created", refund_at_stripe(stack, hold, 500))
    # When it arrives before the payment's own event, Then it waits (Stripe delivers it again)
    assert deliver(stack, refund).status_code == 500
    assert user.call("GET", f"/payments/{hold['payment_id']}").json()["refunds"] == []
    # And once the capture is known here, it is recorded
    succeeded = stripe_event("payment_intent.succeeded", intent_object(hold, user_id_of(user), "succeeded"))
    assert deliver(stack, succeeded).status_code == 200
    assert deliver(stack, refund).status_code == 200
    stored = user.call("GET", f"/payments/{hold['payment_id']}").json()
    assert (stored["status"], stored["amount_refunded"]) == ("partially_refunded", 500)


def test_a_refund_made_at_stripe_of_another_intent_or_currency_is_not_recorded(stack: RunningStack) -> None:
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    made = refund_at_stripe(stack, payment, 300)
    # When the payment's charge lists a refund of another intent, or in another currency
    for stray in (made | {"payment_intent": "pi_other"}, made | {"currency": "eur"}):
        assert deliver(stack, charge_refunded(payment, [stray])).status_code == 200
    stored = user.call("GET", f"/payments/{payment['payment_id']}").json()
    # Then neither is recorded, and both are logged for a person to look at
    assert (stored["refunds"], stored["amount_refunded"]) == ([], 0)
    assert "webhook for a refund of another intent" in stack.log()
    assert "provider refund in another currency" in stack.log()


def test_a_charge_refunded_beyond_what_we_hold_without_its_refunds_is_logged(stack: RunningStack) -> None:
    # Given a payment of 10.00, and a charge.refunded saying 7.00 was refunded, listing no refunds
    # (API versions from 2022-11-15, before refund.created was sent for every refund)
    user = new_user(stack.api_url)
    payment = user.pay(1000).json()
    event = charge_refunded(payment, [])
    event["data"]["object"]["amount_refunded"] = 700
    del event["data"]["object"]["refunds"]
    # When it is delivered, Then it is acknowledged, nothing is invented, and a person is told
    assert deliver(stack, event).status_code == 200
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["amount_refunded"] == 0
    assert "the provider refunded more than we hold" in stack.log()
