"""The payment scenarios against Stripe itself, in test mode (opt-in: ``make test-stripe`` with
``STRIPE_SECRET_KEY=sk_test_...``). Our code talks to api.stripe.com at the pinned API version; the
store is moto in-process. CI does not run these: it has no Stripe key, and they skip without one.

``STRIPE_API_BASE`` points them elsewhere (the local stack's strict Stripe, say) to try them offline.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.provision import create_tables
from devstack.template import Template
from payments_core.errors import DomainError
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.service import PaymentService
from payments_core.payments.webhook import WebhookProcessor
from tests.conftest import ROOT, clear_caches
from tests.domain import build_payments, create, notice_of

KEY = os.environ.get("STRIPE_SECRET_KEY", "")
pytestmark = [
    pytest.mark.stripe_test_mode,
    pytest.mark.skipif(not KEY.startswith("sk_test_"), reason="needs STRIPE_SECRET_KEY=sk_test_... (never a live key)"),
]
USER = "usr_stripe_test_mode"
# Stripe's test payment methods: one that succeeds, one whose charge is declined (card_declined).
WORKS, DECLINED = "pm_card_visa", "pm_card_chargeCustomerFail"


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway(KEY, os.environ.get("STRIPE_API_BASE"))


@pytest.fixture
def service(gateway: StripeGateway) -> Iterator[PaymentService]:
    with mock_aws():
        clear_caches()
        create_tables(Template(ROOT / "template.yaml"), boto3.client("dynamodb"))
        yield build_payments(PaymentRepository("AppTable"), gateway, otp_threshold=10**8)
    clear_caches()


def pay(service: PaymentService, amount: int = 2500, key: str | None = None, **fields: Any) -> dict[str, Any]:
    request = CreatePaymentRequest(amount=amount, currency="usd", **({"payment_method": WORKS} | fields))
    return create(service, USER, request, key or uuid.uuid4().hex, "req_test_mode")


def test_a_direct_charge_succeeds(service: PaymentService, gateway: StripeGateway) -> None:
    outcome = pay(service)
    assert outcome["status"] == 201, outcome
    assert (outcome["body"]["status"], outcome["body"]["amount_captured"]) == ("succeeded", 2500)
    intent = gateway.retrieve_intent(outcome["body"]["provider_payment_id"])
    assert (intent.status, intent.amount_received, intent.metadata["payment_id"]) == (
        "succeeded",
        2500,
        outcome["body"]["payment_id"],
    )


def test_a_declined_card_is_402(service: PaymentService) -> None:
    outcome = pay(service, payment_method=DECLINED)
    assert outcome["status"] == 402, outcome
    assert outcome["body"]["error"]["code"] == "payment_declined"


def test_a_hold_is_captured_in_part_then_refunded_in_part_and_in_full(service: PaymentService) -> None:
    hold = pay(service, 4000, capture_method="manual")["body"]
    assert hold["status"] == "requires_capture"
    captured = service.capture(USER, hold["payment_id"], CaptureRequest(amount=3000), uuid.uuid4().hex)
    assert (captured.status, captured.amount_captured) == ("succeeded", 3000)
    part = service.refund(USER, hold["payment_id"], RefundRequest(amount=1000), uuid.uuid4().hex)
    assert part.status in ("pending", "succeeded")
    rest = service.refund(USER, hold["payment_id"], RefundRequest(), uuid.uuid4().hex)
    assert rest.amount == 2000
    with pytest.raises(DomainError) as over:
        service.refund(USER, hold["payment_id"], RefundRequest(amount=1), uuid.uuid4().hex)
    assert over.value.code == "refund_exceeds_remaining"


def test_a_hold_is_canceled(service: PaymentService) -> None:
    hold = pay(service, 1500, capture_method="manual")["body"]
    canceled = service.cancel(USER, hold["payment_id"], uuid.uuid4().hex)
    assert canceled.status == "canceled"


def test_an_idempotent_retry_makes_one_intent(service: PaymentService) -> None:
    key = uuid.uuid4().hex
    first, again = pay(service, 1200, key=key), pay(service, 1200, key=key)
    assert first["body"]["payment_id"] == again["body"]["payment_id"]
    assert first["body"]["provider_payment_id"] == again["body"]["provider_payment_id"]


def test_a_webhook_applies_what_stripe_holds_not_what_the_event_says(
    service: PaymentService, gateway: StripeGateway
) -> None:
    # Given a hold, and an event that says it succeeded with more received than was held
    hold = pay(service, 2000, capture_method="manual")["body"]
    event = {
        "id": "evt_" + uuid.uuid4().hex,
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": hold["provider_payment_id"], "status": "succeeded", "amount_received": 99_999}},
    }
    webhooks = WebhookProcessor(service.repository, gateway)
    # Then the payment follows Stripe: still a hold
    webhooks.process(notice_of(event))
    assert service.get(USER, hold["payment_id"]).status == "requires_capture"


def crash_after(gateway: StripeGateway, operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripe does ``operation``'s next call; the Lambda that asked dies before it hears back."""
    real = getattr(gateway, operation)

    def crashed(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(gateway, operation, real)
        real(*args, **kwargs)
        raise TimeoutError("the Lambda timed out")

    monkeypatch.setattr(gateway, operation, crashed)


def lease_lapsed(monkeypatch: pytest.MonkeyPatch) -> None:
    from payments_core import clock
    from payments_core.payments.leases import LEASE_SECONDS

    later = clock.epoch_seconds() + LEASE_SECONDS
    monkeypatch.setattr(clock, "epoch_seconds", lambda: later)


def test_a_capture_retried_after_a_crash_is_answered_by_stripe_once_and_replayed_after(
    service: PaymentService, gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a hold whose capture Stripe made, the Lambda dying before it stored the answer
    hold = pay(service, 4000, capture_method="manual")["body"]
    crash_after(gateway, "capture", monkeypatch)
    with pytest.raises(TimeoutError):
        service.capture(USER, hold["payment_id"], CaptureRequest(amount=3000), "cap-crash")
    # When its retry comes once the lease has lapsed: Stripe answers the same key with what it did
    lease_lapsed(monkeypatch)
    resumed, _ = service.capture_once(USER, hold["payment_id"], CaptureRequest(amount=3000), "cap-crash")
    assert (resumed.status, resumed.amount_captured) == ("succeeded", 3000)
    assert gateway.retrieve_intent(hold["provider_payment_id"]).amount_received == 3000
    # And a later retry is a replay of the payment as it is; another body is refused
    assert service.capture_once(USER, hold["payment_id"], CaptureRequest(amount=3000), "cap-crash")[1] is True
    with pytest.raises(DomainError) as reused:
        service.capture(USER, hold["payment_id"], CaptureRequest(amount=2000), "cap-crash")
    assert reused.value.code == "idempotency_key_reused"


def test_a_refund_retried_after_a_crash_refunds_once_at_stripe(
    service: PaymentService, gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid = pay(service, 3000)["body"]
    crash_after(gateway, "refund", monkeypatch)
    with pytest.raises(TimeoutError):
        service.refund(USER, paid["payment_id"], RefundRequest(amount=1000), "ref-crash")
    lease_lapsed(monkeypatch)
    resumed = service.refund(USER, paid["payment_id"], RefundRequest(amount=1000), "ref-crash")
    assert (resumed.amount, resumed.status in ("pending", "succeeded")) == (1000, True)
    assert len(gateway.list_refunds(paid["provider_payment_id"])) == 1
