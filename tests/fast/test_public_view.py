"""The relay renders bus events from a stored payment document without the models (public_view): what it
publishes must be what Payment.public() and Refund.public() say, for payments in every state, and those
are what the API reference documents (reference_models)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payments_core.payments import public_view
from payments_core.payments.models import Dispute, Payment, Refund
from payments_core.payments.outbox import event_detail, outbox_refs, rendered_events
from payments_core.payments.reference_models import PaymentOut, RefundOut

STAMP = st.sampled_from(["2026-12-04T12:00:00.000Z", "2026-12-04T12:00:01.500Z", "2026-12-05T00:00:00.000Z"])
STATUSES = ["requires_otp", "requires_action", "requires_capture", "processing", "succeeded", "failed", "canceled",
            "refunded", "partially_refunded"]  # fmt: skip
OPTIONAL_TEXT = st.none() | st.text(min_size=1, max_size=12)


def refunds(payment_id: str) -> st.SearchStrategy[dict[str, Refund]]:
    one = st.builds(
        Refund,
        refund_id=st.sampled_from(["ref_a", "ref_b", "ref_c"]),
        payment_id=st.just(payment_id),
        amount=st.integers(1, 5000),
        currency=st.just("usd"),
        status=st.sampled_from(["pending", "succeeded", "failed"]),
        reason=st.none() | st.sampled_from(["duplicate", "fraudulent", "requested_by_customer"]),
        created_at=STAMP,
        provider_refund_id=st.none() | st.just("re_1"),
        provider_attempts=st.integers(0, 2),
        failure_reason=OPTIONAL_TEXT,
        failed_after_success=st.booleans(),
        request_fingerprint=st.none() | st.just("fp"),
    )
    return st.lists(one, max_size=3, unique_by=lambda refund: refund.refund_id).map(
        lambda found: {refund.refund_id: refund for refund in found}
    )


disputes = st.none() | st.builds(
    Dispute,
    dispute_id=st.just("dp_1"),
    status=st.sampled_from(["needs_response", "won", "lost", "warning_needs_response"]),
    amount=st.integers(1, 5000),
    currency=st.just("usd"),
    reason=OPTIONAL_TEXT,
    amount_withdrawn=st.integers(0, 5000),
    amount_reinstated=st.integers(0, 5000),
    created_at=STAMP,
    charge_refundable=st.booleans(),  # ours, never shown
)
payments = st.builds(
    Payment,
    payment_id=st.just("pay_1"),
    user_id=st.just("usr_1"),
    status=st.sampled_from(STATUSES),
    amount=st.integers(1, 10_000),
    currency=st.sampled_from(["usd", "eur"]),
    amount_captured=st.integers(0, 10_000),
    amount_refunded=st.integers(0, 10_000),
    description=OPTIONAL_TEXT,
    metadata=st.dictionaries(st.sampled_from(["order", "sku"]), st.text(max_size=8), max_size=2),
    capture_method=st.sampled_from(["automatic", "manual"]),
    payment_method=st.just("pm_card_visa"),
    request_fingerprint=st.just("fp"),
    provider=st.sampled_from(["stripe", "fakepay"]),
    provider_payment_id=st.none() | st.just("pi_1"),
    next_action=st.none() | st.just({"type": "redirect_to_url", "redirect_to_url": {"url": "https://x"}}),
    client_secret=st.none() | st.just("pi_1_secret_x"),
    dispute=disputes,
    refunds=refunds("pay_1"),
    created_at=STAMP,
    updated_at=STAMP,
)


def stored(payment: Payment) -> dict[str, Any]:
    """The document as the payment item stores it (repository: defaults left out)."""
    loaded: dict[str, Any] = json.loads(payment.model_dump_json(exclude_defaults=True, exclude={"version"}))
    return loaded


@settings(max_examples=300, deadline=None)
@given(payments)
def test_a_stored_payment_reads_as_its_model_says(payment: Payment) -> None:
    for with_secret in (True, False):
        assert public_view.public_payment(stored(payment), with_secret=with_secret) == payment.public(
            with_secret=with_secret
        )


@settings(max_examples=300, deadline=None)
@given(payments)
def test_what_clients_see_is_what_the_api_reference_says(payment: Payment) -> None:
    # The functions answer Payment.public() and Refund.public() as plain dicts; the API reference
    # documents them with PaymentOut and RefundOut: every field it names is there, nothing else, and
    # each value is valid for it and unchanged by it
    shown = payment.public()
    assert list(shown) == list(PaymentOut.model_fields)
    assert PaymentOut.model_validate(shown).model_dump() == shown
    for refund in payment.refunds.values():
        assert list(refund.public()) == list(RefundOut.model_fields)
        assert RefundOut.model_validate(refund.public()).model_dump() == refund.public()


@settings(max_examples=200, deadline=None)
@given(payments)
def test_the_relay_publishes_what_the_write_meant(payment: Payment) -> None:
    changed = [("PaymentSucceeded", None), *(("RefundCreated", refund) for refund in payment.refunds.values())]
    refs = outbox_refs(changed)
    assert refs is not None
    rendered = rendered_events(stored(payment), refs)
    expected = [
        (ref["type"], event_detail(payment, payment.refunds.get(ref.get("refund", "")), ref["at"], ref["id"]))
        for ref in json.loads(refs)
    ]
    assert rendered == expected
    assert all("client_secret" not in detail["payment"] for _, detail in rendered)


def test_the_defaults_it_fills_in_are_the_models_own() -> None:
    for model, defaults in (
        (Payment, public_view.PAYMENT_DEFAULTS),
        (Refund, public_view.REFUND_DEFAULTS),
        (Dispute, public_view.DISPUTE_DEFAULTS),
    ):
        for name, value in defaults.items():
            assert model.model_fields[name].get_default(call_default_factory=True) == value, (model, name)
