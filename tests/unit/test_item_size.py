"""The largest payment we can store fits DynamoDB's item limit, and its bus events EventBridge's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from payments_core.payments.models import Change, Payment, Refund
from payments_core.payments.outbox import event_detail
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.transitions import MAX_REFUNDS_PER_PAYMENT

DYNAMODB_ITEM_LIMIT = 400 * 1024
EVENTBRIDGE_ENTRY_LIMIT = 256 * 1024
NOW = "2026-12-02T12:00:00.000000Z"


def largest_payment() -> Payment:
    """Every field at the most the models let a client or the provider put there."""
    refunds = {
        f"ref_{n:024x}": Refund(
            refund_id=f"ref_{n:024x}",
            payment_id="pay_" + "f" * 24,
            amount=99_999_999,
            currency="usd",
            status="failed",
            reason="requested_by_customer",
            created_at=NOW,
            provider_refund_id="re_" + "x" * 60,
            provider_attempts=99,
            request_fingerprint="a" * 64,
        )
        for n in range(MAX_REFUNDS_PER_PAYMENT)
    }
    return Payment(
        payment_id="pay_" + "f" * 24,
        user_id="usr_" + "f" * 32,
        status="partially_refunded",
        amount=99_999_999,
        currency="usd",
        amount_captured=99_999_999,
        amount_refunded=99_999_998,
        amount_reserved=99_999_998,
        description="d" * 1000,
        # 20 keys of 40 characters and values of 500 (CreatePaymentRequest), each character stored as a
        # six-byte JSON escape: more than any character the models accept takes (four bytes at most).
        metadata={f"{n:02d}".ljust(40, "k"): "\u0001" * 500 for n in range(20)},
        capture_method="manual",
        payment_method="pm_" + "m" * 250,
        request_fingerprint="a" * 64,
        provider_payment_id="pi_" + "x" * 60,
        provider_attempts=99,
        last_event_id="evt_" + "e" * 60,
        deferred_events=["evt_" + "e" * 60] * 10,  # webhook.MAX_DEFERRED_MARKS
        lease_holder="l" * 32,
        lease_until=1_800_000_000,
        next_action={"type": "redirect_to_url", "redirect_to_url": {"url": "https://" + "u" * 2000}},
        client_secret="pi_" + "x" * 60 + "_secret_" + "s" * 60,
        decline_code="d" * 100,
        refunds=refunds,
        created_at=NOW,
        updated_at=NOW,
        version=10_000,
    )


def test_a_payment_with_the_most_refunds_fits_a_dynamodb_item_with_room_to_spare() -> None:
    payment = largest_payment()
    item = PaymentRepository("AppTable")._item(
        Change(payment, [("RefundSucceeded", next(iter(payment.refunds.values())))])
    )
    # The typed JSON of an item is longer than DynamoDB counts it (type tags, quotes): an upper bound.
    size = len(json.dumps(item).encode())
    assert size < DYNAMODB_ITEM_LIMIT / 2, size


def test_its_bus_events_fit_an_eventbridge_entry() -> None:
    payment = largest_payment()
    refund = next(iter(payment.refunds.values()))
    detail = json.dumps(event_detail(payment, refund, datetime.now(UTC)), separators=(",", ":"))
    assert len(detail.encode()) < EVENTBRIDGE_ENTRY_LIMIT / 2, len(detail)


def test_a_card_payments_item_is_one_write_unit_at_each_of_its_writes() -> None:
    """What makes a card payment cost few write units: its item stays under 1 KB when created (with its
    PaymentCreated event) and when it succeeds (with PaymentSucceeded, from the create's answer or from
    its webhook, which names its event), as DynamoDB counts item size (attribute names and values)."""
    from payments_core.payments.models import Payment

    payment = Payment(
        payment_id="pay_" + "a" * 24,
        user_id="usr_" + "b" * 12,
        status="processing",
        amount=2500,
        currency="usd",
        payment_method="pm_card_visa",
        request_fingerprint="f" * 64,
        provider_attempts=1,
        lease_holder="c" * 32,
        lease_until=1_800_000_030,
        metadata={"order_id": "1042"},
        created_at=NOW,
        updated_at=NOW,
    )
    repository = PaymentRepository("AppTable")
    created = repository._item(Change(payment, [("PaymentCreated", None)]))
    succeeded = payment.model_copy(
        update={"status": "succeeded", "provider_payment_id": "pi_" + "d" * 24, "amount_captured": 2500}
    )
    succeeded.lease_holder = succeeded.lease_until = None
    paid = repository._item(Change(succeeded, [("PaymentSucceeded", None)]))
    # or when its provider's webhook moves it (3-D Secure), naming the event on the same write
    by_webhook = repository._item(
        Change(succeeded.model_copy(update={"last_event_id": "evt_" + "e" * 24}), [("PaymentSucceeded", None)])
    )
    for item in (created, paid, by_webhook):
        size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
        assert size < 1024, size
