"""Stripe's webhook events read as Notices: only which objects to look at, never what they say."""

from __future__ import annotations

import json

import pytest

from devstack.webhook_event import sign  # as Stripe documents it: HMAC-SHA256 of "t.body"
from payments_core.errors import BadRequest
from payments_core.payments.providers.stripe.webhook import notice_of, verified_notice

SECRET = "whsec_fast"


def signed(event: dict[str, object]) -> tuple[str, str]:
    body = json.dumps(event)
    return body, sign(body, SECRET)


def test_an_intent_event_names_its_intent_only() -> None:
    event = {
        "id": "evt_1",
        "type": "payment_intent.succeeded",
        "created": 5,
        "data": {"object": {"id": "pi_1", "amount_received": 10**9, "metadata": {"payment_id": "pay_x"}}},
    }
    notice = notice_of(event)
    assert (notice.event_id, notice.intent_id, notice.refunds, notice.dispute_id) == ("evt_1", "pi_1", False, None)
    assert notice.created == 5
    # What its metadata names is kept apart, unverified: only where to mark a delivery deferred
    assert notice.named_payment is None  # it names no user
    named = notice_of(event | {"data": {"object": {"id": "pi_1", "metadata": {"payment_id": "p", "user_id": "u"}}}})
    assert named.named_payment == ("u", "p")


def test_a_refund_event_names_the_intent_and_its_refunds_and_a_dispute_event_the_dispute() -> None:
    refund = notice_of(
        {"id": "e", "type": "charge.refunded", "data": {"object": {"id": "ch_1", "payment_intent": "pi_2"}}}
    )
    assert (refund.intent_id, refund.refunds) == ("pi_2", True)
    dispute = notice_of(
        {"id": "e", "type": "charge.dispute.created", "data": {"object": {"id": "dp_1", "payment_intent": "pi_3"}}}
    )
    assert (dispute.intent_id, dispute.dispute_id) == ("pi_3", "dp_1")


def test_unhandled_and_thin_events_and_events_naming_no_intent() -> None:
    assert not notice_of({"id": "e", "type": "payout.paid", "data": {"object": {"id": "po_1"}}}).handled
    assert notice_of({"id": "e", "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered"}).thin
    assert notice_of({"id": "e", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}).intent_id is None


def test_a_delivery_is_read_only_under_a_current_secret() -> None:
    body, header = signed({"id": "evt_s", "type": "payment_intent.canceled", "data": {"object": {"id": "pi_9"}}})
    assert verified_notice(body, header, ["whsec_old", SECRET]).intent_id == "pi_9"
    with pytest.raises(BadRequest):
        verified_notice(body, header, ["whsec_other"])
    with pytest.raises(BadRequest):
        verified_notice(body.replace("pi_9", "pi_8"), header, [SECRET])


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("payment_intent.succeeded", {"id": "../../v1/charges"}),
        ("payment_intent.succeeded", {"id": "pi_" + "a" * 10_000}),
        ("payment_intent.payment_failed", {"id": "pi_1?expand[]=x"}),
        ("charge.refunded", {"id": "ch_1", "payment_intent": "pi_1/../../v1/refunds"}),
        ("charge.dispute.created", {"id": "dp_1 ", "payment_intent": "pi_1"}),
    ],
)
def test_a_signed_event_naming_no_stripe_id_is_refused_before_anything_is_fetched(
    event_type: str, obj: dict[str, object]
) -> None:
    # Given a correctly signed delivery whose object names something that is not a Stripe id
    body, header = signed({"id": "evt_odd", "type": event_type, "data": {"object": obj}})
    # Then it is not a Stripe event: a 400 as the notice is read, so nothing is fetched by it
    with pytest.raises(BadRequest) as refused:
        verified_notice(body, header, [SECRET])
    assert refused.value.code == "invalid_signature"


@pytest.mark.parametrize("depth", [10_000, 100_000])
def test_a_signed_body_nested_thousands_deep_is_refused_not_a_crash(depth: int) -> None:
    # Given a correctly signed delivery whose object nests lists thousands of levels deep
    nested = "[" * depth + "]" * depth
    body = json.dumps({"id": "evt_deep", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}})
    body = body.replace('"pi_1"', f'"pi_1", "x": {nested}')
    header = sign(body, SECRET)
    # Then it is bad input, a 400, not the parser's recursion limit as a 500
    with pytest.raises(BadRequest) as refused:
        verified_notice(body, header, [SECRET])
    assert refused.value.code == "invalid_signature"
