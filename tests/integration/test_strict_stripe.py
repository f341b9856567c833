"""The strict Stripe of the local stack (devstack/strict_stripe.py): what it refuses as Stripe does at the
pinned API version, the events it delivers, and the controls that make Stripe-side things happen.

Requests made here to provoke a refusal carry ``X-Strict-Probe: 1`` (the session's final check skips
them); everything else goes through our API, as in production."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from devstack.strict_stripe import StrictStripe
from tests.integration.conftest import PROBE, ApiClient, RunningStack, free_port, wait_for
from tests.integration.test_payments import three_ds_method

pytestmark = pytest.mark.integration

AUTH = ("sk_test_strict", "")
PINNED = "2026-10-28.endive"


def at_stripe(stack: RunningStack, method: str, path: str, probe: bool = True, **kwargs: Any) -> requests.Response:
    headers = {**(PROBE if probe else {}), **kwargs.pop("headers", {})}
    return requests.request(method, stack.stripe_url + path, auth=AUTH, headers=headers, timeout=30, **kwargs)


def control(stack: RunningStack, route: str, **form: Any) -> dict[str, Any]:
    answer = requests.post(f"{stack.stripe_url}/_strict/{route}", data=form, timeout=30)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def seen_requests(stack: RunningStack) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = requests.get(f"{stack.stripe_url}/_strict/requests", timeout=30).json()["data"]
    return data


def events(stack: RunningStack, object_id: str, event_type: str | None = None) -> list[dict[str, Any]]:
    data = requests.get(f"{stack.stripe_url}/_strict/events", timeout=30).json()["data"]
    return [e for e in data if e["object_id"] == object_id and event_type in (None, e["type"])]


def delivered(stack: RunningStack, object_id: str, event_type: str, count: int = 1) -> list[dict[str, Any]]:
    """Waits until ``count`` events of the type about the object reached our webhook with a 2xx."""

    def done() -> list[dict[str, Any]] | None:
        found = events(stack, object_id, event_type)
        ok = [e for e in found if e["status"] == "delivered"]
        return found if len(ok) >= count else None

    found: list[dict[str, Any]] = wait_for(done, seconds=30, message=f"{event_type} for {object_id} delivered")
    assert all(all(200 <= s < 300 for s in e["attempts"][-1]["status"]) for e in found if e["status"] == "delivered")
    return found


def intent(stack: RunningStack, intent_id: str) -> dict[str, Any]:
    found: dict[str, Any] = at_stripe(stack, "GET", f"/v1/payment_intents/{intent_id}", probe=False).json()
    return found


def event_object(event_id: str, stack: RunningStack) -> dict[str, Any]:
    """The event as the strict Stripe delivered it (its envelope and object)."""
    data = requests.get(f"{stack.stripe_url}/_strict/events", timeout=30).json()["data"]
    return next(e for e in data if e["id"] == event_id)


# --- requests refused as Stripe refuses them -----------------------------------------------------------


def test_an_unknown_parameter_is_refused_as_parameter_unknown(stack: RunningStack) -> None:
    answer = at_stripe(
        stack,
        "POST",
        "/v1/payment_intents",
        data={
            "amount": 1000,
            "currency": "usd",
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[foo]": "x",
        },
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameter_unknown",
        "automatic_payment_methods[foo]",
    )
    assert error["message"] == "Received unknown parameter: automatic_payment_methods[foo]"
    seen = [r for r in seen_requests(stack) if r["request_id"] == answer.headers["Request-Id"]]
    assert [(r["refused_by"], r["error"]["code"], r["probe"]) for r in seen] == [("strict", "parameter_unknown", True)]


def test_payment_method_types_is_refused_as_no_longer_supported(stack: RunningStack) -> None:
    answer = at_stripe(
        stack,
        "POST",
        "/v1/payment_intents",
        data={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "payment_method_types[]": "card"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "payment_method_types_no_longer_supported"
    assert answer.json()["error"]["param"] == "payment_method_types"


def test_our_requests_pin_the_api_version_and_never_record_the_key(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(2500).json()
    ours = [r for r in seen_requests(stack) if ["metadata[payment_id]", payment["payment_id"]] in r["params"]]
    assert [(r["method"], r["path"], r["stripe_version"], r["status"]) for r in ours] == [
        ("POST", "/v1/payment_intents", PINNED, 200)
    ]
    assert ours[0]["idempotency_key"]
    assert "sk_test" not in json.dumps(seen_requests(stack))


def test_the_same_idempotency_key_replays_and_other_parameters_are_refused(stack: RunningStack) -> None:
    key = uuid.uuid4().hex
    marker = uuid.uuid4().hex
    body = {
        "amount": 1500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "metadata[marker]": marker,
    }
    first = at_stripe(stack, "POST", "/v1/payment_intents", probe=False, data=body, headers={"Idempotency-Key": key})
    again = at_stripe(stack, "POST", "/v1/payment_intents", probe=False, data=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert at_stripe(stack, "GET", f"/v1/payment_intents/{first.json()['id']}", probe=False).json()["metadata"] == {
        "marker": marker
    }

    other = at_stripe(
        stack, "POST", "/v1/payment_intents", data={**body, "amount": 1600}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 400
    assert other.json()["error"]["type"] == "idempotency_error"
    # Only the first reached localstripe: the second was replayed, the third refused
    with_key = [r for r in seen_requests(stack) if r["idempotency_key"] == key]
    assert [(r["status"], r["replayed"], r["refused_by"]) for r in with_key] == [
        (200, False, None),
        (200, True, None),
        (400, False, "strict"),
    ]


def test_a_refund_beyond_what_remains_or_of_a_hold_is_refused(stack: RunningStack, user: ApiClient) -> None:
    paid = user.pay(1000).json()
    assert user.refund(paid["payment_id"], 400).status_code == 201
    over = at_stripe(stack, "POST", "/v1/refunds", data={"payment_intent": paid["provider_payment_id"], "amount": 601})
    assert over.status_code == 400
    assert (over.json()["error"]["code"], over.json()["error"]["param"]) == ("amount_too_large", "amount")
    assert over.json()["error"]["message"] == (
        "Refund amount ($6.01) is greater than unrefunded amount on charge ($6.00)"
    )
    # Our own check refuses it first, and Stripe never hears of it
    before = len(seen_requests(stack))
    assert user.refund(paid["payment_id"], 601).status_code == 409
    assert not [r for r in seen_requests(stack)[before:] if r["path"] == "/v1/refunds" and r["method"] == "POST"]

    hold = user.pay(1000, capture_method="manual").json()
    uncaptured = at_stripe(stack, "POST", "/v1/refunds", data={"payment_intent": hold["provider_payment_id"]})
    assert uncaptured.status_code == 400
    assert uncaptured.json()["error"]["message"] == (
        f"This PaymentIntent ({hold['provider_payment_id']}) does not have a successful charge to refund."
    )
    assert user.refund(hold["payment_id"], 100).status_code == 409  # ours: only a succeeded payment


def test_a_charge_under_the_minimum_is_refused_by_stripe_and_first_by_us(stack: RunningStack, user: ApiClient) -> None:
    answer = at_stripe(
        stack,
        "POST",
        "/v1/payment_intents",
        data={"amount": 49, "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    )
    assert answer.status_code == 400
    assert (answer.json()["error"]["code"], answer.json()["error"]["param"]) == ("amount_too_small", "amount")

    before = len(seen_requests(stack))
    ours = user.pay(49)
    assert ours.status_code == 422, ours.text
    assert [d["field"] for d in ours.json()["error"]["details"]] == ["amount"]
    assert not [r for r in seen_requests(stack)[before:] if r["path"] == "/v1/payment_intents"]
    hold = user.pay(1000, capture_method="manual").json()
    capture = user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 49}, key=uuid.uuid4().hex)
    assert capture.status_code == 422, capture.text


# --- events our webhook gets -------------------------------------------------------------------------


def test_a_3ds_hold_authenticated_is_announced_requires_action_then_capturable(
    stack: RunningStack, user: ApiClient
) -> None:
    payment = user.pay(2500, payment_method=three_ds_method(stack), capture_method="manual").json()
    intent_id = payment["provider_payment_id"]
    assert payment["status"] == "requires_action"
    delivered(stack, intent_id, "payment_intent.requires_action")
    assert control(stack, f"payment_intents/{intent_id}/authenticate", outcome="succeeded")["status"] == (
        "requires_capture"
    )
    [event] = delivered(stack, intent_id, "payment_intent.amount_capturable_updated")
    assert event_object(event["id"], stack)["type"] == "payment_intent.amount_capturable_updated"
    assert intent(stack, intent_id)["amount_capturable"] == 2500
    # And ours follows (the webhook reads the intent from Stripe): the hold can be captured
    wait_for(lambda: user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "requires_capture")


def test_a_3ds_payment_authenticated_succeeds_once(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(2500, payment_method=three_ds_method(stack)).json()
    intent_id = payment["provider_payment_id"]
    control(stack, f"payment_intents/{intent_id}/authenticate", outcome="succeeded")
    delivered(stack, intent_id, "payment_intent.succeeded")
    wait_for(lambda: user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "succeeded")
    time.sleep(1.5)  # localstripe's own copy would have arrived by now
    assert len(events(stack, intent_id, "payment_intent.succeeded")) == 1


def test_a_3ds_authentication_that_fails_is_announced_once(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(2500, payment_method=three_ds_method(stack)).json()
    intent_id = payment["provider_payment_id"]
    assert control(stack, f"payment_intents/{intent_id}/authenticate", outcome="failed")["status"] == (
        "requires_payment_method"
    )
    delivered(stack, intent_id, "payment_intent.payment_failed")
    time.sleep(1.5)
    assert len(events(stack, intent_id, "payment_intent.payment_failed")) == 1


def test_a_cancel_is_announced_and_a_hold_that_expires_shows_expired(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(3000, capture_method="manual").json()
    delivered(stack, hold["provider_payment_id"], "payment_intent.amount_capturable_updated")
    assert user.call("POST", f"/payments/{hold['payment_id']}/cancel", key=uuid.uuid4().hex).status_code == 200
    delivered(stack, hold["provider_payment_id"], "payment_intent.canceled")

    expiring = user.pay(3000, capture_method="manual").json()
    expired = control(stack, f"payment_intents/{expiring['provider_payment_id']}/expire")
    # (at the pinned version, after 2025-03-31.basil: "expired", where it was "automatic")
    assert (expired["status"], expired["cancellation_reason"]) == ("canceled", "expired")
    assert intent(stack, expiring["provider_payment_id"])["cancellation_reason"] == "expired"
    delivered(stack, expiring["provider_payment_id"], "payment_intent.canceled")
    wait_for(lambda: user.call("GET", f"/payments/{expiring['payment_id']}").json()["status"] == "canceled")


def test_an_intent_is_captured_or_canceled_only_in_the_statuses_stripe_acts_on(
    stack: RunningStack, user: ApiClient
) -> None:
    # A hold that expired: Stripe refuses to capture it, and no money moves (localstripe alone captured it)
    expiring = user.pay(3000, capture_method="manual").json()
    intent_id = expiring["provider_payment_id"]
    control(stack, f"payment_intents/{intent_id}/expire")
    capture = at_stripe(stack, "POST", f"/v1/payment_intents/{intent_id}/capture", data={"amount_to_capture": 3000})
    assert capture.status_code == 400
    error = capture.json()["error"]
    assert (error["type"], error["code"], error["payment_intent"]["status"]) == (
        "invalid_request_error",
        "payment_intent_unexpected_state",
        "canceled",
    )
    assert error["message"] == (
        "This PaymentIntent could not be captured because it has a status of canceled. Only a PaymentIntent"
        " with one of the following statuses may be acted upon: requires_capture."
    )
    shown = intent(stack, intent_id)
    assert (shown["status"], shown["amount_received"]) == ("canceled", 0)
    charge = at_stripe(stack, "GET", f"/v1/charges/{shown['latest_charge']}", probe=False).json()
    assert (charge["captured"], charge["amount_captured"]) == (False, 0)

    # A payment that succeeded: neither captured again nor canceled
    paid = user.pay(2000).json()["provider_payment_id"]
    again = at_stripe(stack, "POST", f"/v1/payment_intents/{paid}/capture")
    assert (again.status_code, again.json()["error"]["code"]) == (400, "payment_intent_unexpected_state")
    assert (
        again.json()["error"]["message"]
        == "This PaymentIntent could not be captured because it has already been captured."
    )
    cancel = at_stripe(stack, "POST", f"/v1/payment_intents/{paid}/cancel")
    assert (cancel.status_code, cancel.json()["error"]["code"]) == (400, "payment_intent_unexpected_state")
    assert intent(stack, paid)["status"] == "succeeded"
    assert not events(stack, paid, "payment_intent.canceled")


def test_a_refund_is_announced_and_can_fail_afterwards(stack: RunningStack, user: ApiClient) -> None:
    paid = user.pay(2000).json()
    intent_id = paid["provider_payment_id"]
    made = user.refund(paid["payment_id"], 700)
    assert made.status_code == 201, made.text
    [refund] = at_stripe(stack, "GET", "/v1/refunds", probe=False, params={"payment_intent": intent_id}).json()["data"]
    delivered(stack, refund["id"], "refund.created")
    charge_id = intent(stack, intent_id)["latest_charge"]
    delivered(stack, charge_id, "charge.refunded")
    shown = at_stripe(stack, "GET", f"/v1/charges/{charge_id}", probe=False).json()
    assert (shown["payment_intent"], shown["amount_refunded"], "refunds" in shown) == (intent_id, 700, False)

    failed = control(stack, f"refunds/{refund['id']}/fail", failure_reason="expired_or_canceled_card")
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert at_stripe(stack, "GET", f"/v1/refunds/{refund['id']}", probe=False).json()["status"] == "failed"
    listed = at_stripe(stack, "GET", "/v1/refunds", probe=False, params={"payment_intent": intent_id}).json()["data"]
    assert [r["status"] for r in listed] == ["failed"]
    assert at_stripe(stack, "GET", f"/v1/charges/{charge_id}", probe=False).json()["amount_refunded"] == 0
    delivered(stack, refund["id"], "refund.updated")
    delivered(stack, refund["id"], "refund.failed")
    # And ours follows: the refund failed, its amount refundable again

    def ours_failed() -> dict[str, Any] | None:
        stored: dict[str, Any] = user.call("GET", f"/payments/{paid['payment_id']}").json()
        return stored if [r["status"] for r in stored["refunds"]] == ["failed"] else None

    assert wait_for(ours_failed, message="our refund failed")["amount_refunded"] == 0


def test_a_partial_capture_releases_the_rest_without_a_refund(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(4000, capture_method="manual").json()
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 3000}, key=uuid.uuid4().hex)
    assert captured.status_code == 200, captured.text
    intent_id = hold["provider_payment_id"]
    refunds = at_stripe(stack, "GET", "/v1/refunds", probe=False, params={"payment_intent": intent_id}).json()
    assert refunds["data"] == []
    charge = at_stripe(stack, "GET", f"/v1/charges/{intent(stack, intent_id)['latest_charge']}", probe=False).json()
    assert (charge["amount_captured"], charge["amount_refunded"]) == (3000, 0)


def test_a_dispute_opens_withdraws_and_closes(stack: RunningStack, user: ApiClient) -> None:
    paid = user.pay(2500).json()
    intent_id = paid["provider_payment_id"]
    opened = control(stack, f"payment_intents/{intent_id}/dispute", reason="product_not_received")
    dispute_id = opened["id"]
    assert dispute_id.startswith("dp_")
    assert (opened["status"], opened["amount"], opened["payment_intent"], opened["reason"], opened["currency"]) == (
        "needs_response",
        2500,
        intent_id,
        "product_not_received",
        "usd",
    )
    [withdrawal] = opened["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["reporting_category"]) == (-2500, "dispute")
    assert at_stripe(stack, "GET", f"/v1/disputes/{dispute_id}", probe=False).json()["status"] == "needs_response"
    for params in (
        {"payment_intent": intent_id},
        {"charge": opened["charge"]},
        {"created[gte]": opened["created"], "payment_intent": intent_id},
    ):
        listed = at_stripe(stack, "GET", "/v1/disputes", probe=False, params=params).json()["data"]
        assert [d["id"] for d in listed] == [dispute_id]
    assert (
        at_stripe(
            stack,
            "GET",
            "/v1/disputes",
            probe=False,
            params={"created[lt]": opened["created"], "payment_intent": intent_id},
        ).json()["data"]
        == []
    )
    delivered(stack, dispute_id, "charge.dispute.created")
    delivered(stack, dispute_id, "charge.dispute.funds_withdrawn")
    ours = wait_for(lambda: user.call("GET", f"/payments/{paid['payment_id']}").json()["dispute"], message="dispute")
    assert (ours["dispute_id"], ours["amount_withdrawn"]) == (dispute_id, 2500)
    refund = at_stripe(stack, "POST", "/v1/refunds", data={"payment_intent": intent_id, "amount": 100})
    assert refund.json()["error"]["code"] == "charge_disputed"

    won = control(stack, f"disputes/{dispute_id}/close", outcome="won")
    assert won["status"] == "won"
    assert [(t["amount"], t["reporting_category"]) for t in won["balance_transactions"]] == [
        (-2500, "dispute"),
        (2500, "dispute_reversal"),
    ]
    delivered(stack, dispute_id, "charge.dispute.funds_reinstated")
    delivered(stack, dispute_id, "charge.dispute.closed")

    def ours_won() -> dict[str, Any] | None:
        dispute: dict[str, Any] = user.call("GET", f"/payments/{paid['payment_id']}").json()["dispute"]
        return dispute if dispute["status"] == "won" else None

    assert wait_for(ours_won, message="our dispute won")["amount_reinstated"] == 2500

    lost_payment = user.pay(1200).json()
    lost = control(stack, f"payment_intents/{lost_payment['provider_payment_id']}/dispute")
    assert lost["reason"] == "fraudulent"
    assert control(stack, f"disputes/{lost['id']}/close", outcome="lost")["status"] == "lost"
    delivered(stack, lost["id"], "charge.dispute.closed")
    assert events(stack, lost["id"], "charge.dispute.funds_reinstated") == []


def test_an_event_envelope_is_stripes(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(3000, capture_method="manual").json()
    [event] = delivered(stack, hold["provider_payment_id"], "payment_intent.amount_capturable_updated")
    assert event["request"]["id"].startswith("req_")
    assert event["request"]["idempotency_key"]


# --- controls ------------------------------------------------------------------------------------------


def test_a_dropped_delivery_is_not_made_until_resent(stack: RunningStack, user: ApiClient) -> None:
    control(stack, "webhooks/drop", type="payment_intent.canceled")
    hold = user.pay(3000, capture_method="manual").json()
    assert user.call("POST", f"/payments/{hold['payment_id']}/cancel", key=uuid.uuid4().hex).status_code == 200
    wait_for(lambda: events(stack, hold["provider_payment_id"], "payment_intent.canceled"))
    time.sleep(0.5)
    [dropped] = events(stack, hold["provider_payment_id"], "payment_intent.canceled")
    assert (dropped["status"], dropped["dropped"], dropped["attempts"]) == ("dropped", True, [])
    control(stack, f"events/{dropped['id']}/resend")
    delivered(stack, hold["provider_payment_id"], "payment_intent.canceled")


def test_a_lost_answer_is_retried_by_the_sdk_and_replayed(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(3000, capture_method="manual").json()
    control(stack, "answers/lose", method="POST", path=f"{hold['provider_payment_id']}/capture")
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key=uuid.uuid4().hex)
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "succeeded"
    tries = [r for r in seen_requests(stack) if r["path"].endswith(f"{hold['provider_payment_id']}/capture")]
    assert [(r["answer_lost"], r["replayed"]) for r in tries] == [(True, False), (False, True)]
    assert intent(stack, hold["provider_payment_id"])["amount_received"] == 3000


# --- delivery, without the stack ---------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[int, bytes, str]]]]:
    """A webhook endpoint answering 500 twice, then 200; it records each delivery."""
    got: list[tuple[int, bytes, str]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        status = 500 if len(got) < 2 else 200
        got.append((status, request.get_data(), request.headers.get("Stripe-Signature", "")))
        return Response(status=status)(environ, start_response)

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def test_a_delivery_answered_500_is_retried_with_backoff_and_signed(
    receiver: tuple[str, list[tuple[int, bytes, str]]],
) -> None:
    url, got = receiver
    layer = StrictStripe("http://127.0.0.1:9", "127.0.0.1", free_port(), log=lambda _: None, retry_delays=(0.1, 0.2))
    layer.start()
    try:
        layer.webhooks["test"] = (url, "whsec_test")
        layer.disputes["dp_1"] = {"id": "dp_1", "object": "dispute", "status": "needs_response"}
        event_id = layer.emit("charge.dispute.created", "dispute", "dp_1", None)
        wait_for(lambda: layer.deliveries[event_id].status in ("delivered", "failed"), seconds=10)
    finally:
        layer.stop()
    assert layer.deliveries[event_id].status == "delivered"
    assert [status for status, _, _ in got] == [500, 500, 200]
    payload, signature = got[-1][1], got[-1][2]
    event = stripe.Webhook.construct_event(payload.decode(), signature, "whsec_test")
    assert (event["id"], event["type"], event["api_version"], event["data"]["object"]["id"]) == (
        event_id,
        "charge.dispute.created",
        PINNED,
        "dp_1",
    )


def test_payment_intents_are_listed_newest_first_as_stripe_pages_them(stack: RunningStack, user: ApiClient) -> None:
    # Given two payments made one after the other
    first = user.pay(1100).json()["provider_payment_id"]
    second = user.pay(1200).json()["provider_payment_id"]
    # Then the list starts with the newest, and its next page follows on from it
    page = at_stripe(stack, "GET", "/v1/payment_intents?limit=1", probe=False).json()
    assert [i["id"] for i in page["data"]] == [second]
    assert page["has_more"]
    after = at_stripe(stack, "GET", f"/v1/payment_intents?limit=1&starting_after={second}", probe=False).json()
    assert [i["id"] for i in after["data"]] == [first]


def test_search_finds_an_intent_by_our_metadata_only_once_stripe_has_indexed_it(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given a payment just made
    paid = user.pay(1300).json()
    query = {"query": f"metadata['payment_id']:'{paid['payment_id']}'"}
    # When Stripe's search is asked for it at once, then it is not found yet (Stripe indexes within a
    # minute): search never tells that an intent does not exist
    fresh = at_stripe(stack, "GET", "/v1/payment_intents/search", probe=False, params=query).json()
    assert (fresh["object"], fresh["data"], fresh["has_more"]) == ("search_result", [], False)
    # And once indexed, it is found by that metadata, and by nothing else's
    control(stack, "search", lag_seconds=0)
    try:
        found = at_stripe(stack, "GET", "/v1/payment_intents/search", probe=False, params=query).json()
        other = {"query": "metadata['payment_id']:'pay_nobody' AND status:'succeeded'"}
        none = at_stripe(stack, "GET", "/v1/payment_intents/search", probe=False, params=other).json()
    finally:
        control(stack, "search", lag_seconds=60)
    assert [i["id"] for i in found["data"]] == [paid["provider_payment_id"]]
    assert found["data"][0]["metadata"]["payment_id"] == paid["payment_id"]
    assert none["data"] == []
    # And a query this layer cannot answer as Stripe would is refused, never answered wrongly
    for query_text in ("amount>1000", "metadata['payment_id']:'a' OR status:'succeeded'", ""):
        refused = at_stripe(stack, "GET", "/v1/payment_intents/search", params={"query": query_text})
        assert refused.status_code == 400, query_text
        assert refused.json()["error"]["param"] == "query"


def test_concurrent_identical_captures_and_refunds_each_reach_stripe_once(stack: RunningStack, user: ApiClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    # Given a hold, captured by six identical requests at once, then refunded by six identical ones
    hold = user.pay(4000, capture_method="manual").json()
    pid, intent_id = hold["payment_id"], hold["provider_payment_id"]
    with ThreadPoolExecutor(6) as pool:
        captures = list(
            pool.map(lambda _: user.call("POST", f"/payments/{pid}/capture", {"amount": 3000}, key="cap-s"), range(6))
        )
    with ThreadPoolExecutor(6) as pool:
        refunds = list(pool.map(lambda _: user.refund(pid, 1000, key="ref-s"), range(6)))
    # Then every request is answered, five of each as replays of the first
    assert {answer.status_code for answer in captures} == {200}, [answer.text for answer in captures]
    assert {answer.status_code for answer in refunds} == {201}, [answer.text for answer in refunds]
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in captures + refunds) == 10
    # And Stripe was asked once for each: our own store kept the others from it, not Stripe's key replay
    refund_id = refunds[0].json()["refund_id"]
    asked = [r for r in seen_requests(stack) if r["method"] == "POST"]
    assert len([r for r in asked if r["path"].endswith(f"{intent_id}/capture")]) == 1
    assert len([r for r in asked if r["idempotency_key"] == f"{refund_id}-create"]) == 1
    assert intent(stack, intent_id)["amount_received"] == 3000
    assert user.call("GET", f"/payments/{pid}").json()["amount_refunded"] == 1000
