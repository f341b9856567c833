"""The Stripe webhook over HTTP: signature on the raw body, de-duplication, forward-only status."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from devstack.webhook_event import sign, stripe_event
from payments_core.dynamo import from_item
from payments_core.payments.models import Refund
from tests.integration.conftest import ApiClient, RunningStack, store_refunds, user_id_of

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
    pending = Refund(
        refund_id="ref_" + uuid.uuid4().hex[:24],
        payment_id=pid,
        amount=300,
        currency="usd",
        status="pending",
        created_at=payment["created_at"],
        provider_refund_id="re_ours" + uuid.uuid4().hex[:8],
    )
    store_refunds(stack, user_id, pid, [pending])

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
