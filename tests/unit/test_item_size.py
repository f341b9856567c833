"""The largest payment we can store fits DynamoDB's item limit, and its bus events EventBridge's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from payments_core.payments.models import Change, Payment, Refund
from payments_core.payments.outbox import event_detail
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.transitions import MAX_REFUNDS_PER_PAYMENT
from payments_core.relay import entry_size

DYNAMODB_ITEM_LIMIT = 400 * 1024
EVENTBRIDGE_ENTRY_LIMIT = 256 * 1024
NOW = "2026-12-02T12:00:00.000000Z"
WIDEST = "\U0001f600"


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
            lease_holder="l" * 32,
            lease_until=1_800_000_000,
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
        # The free text at its longest (CreatePaymentRequest: 1000 characters; 20 metadata keys of 100 and
        # values of 500), in the character that takes the most room: one outside the Basic Multilingual
        # Plane (an emoji), a twelve-byte JSON escape (a surrogate pair) where a payment is stored as JSON
        # and on the bus, however the models count it (one character).
        description=WIDEST * 1000,
        metadata={f"{n:02d}".ljust(100, WIDEST): WIDEST * 500 for n in range(20)},
        capture_method="manual",
        payment_method="pm_" + "m" * 250,
        request_fingerprint="a" * 64,
        provider_payment_id="pi_" + "x" * 60,
        provider_attempts=99,
        last_event_id="evt_" + "e" * 60,
        deferred_events=["evt_" + "e" * 60] * 10,  # webhook.MAX_DEFERRED_MARKS
        lease_holder="l" * 32,
        lease_until=1_800_000_000,
        settled_by="cap_" + "c" * 24,
        settled_fingerprint="a" * 64,
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
    assert size < DYNAMODB_ITEM_LIMIT * 0.75, size


def test_its_bus_events_fit_an_eventbridge_entry() -> None:
    payment = largest_payment()
    refund = next(iter(payment.refunds.values()))
    detail = json.dumps(event_detail(payment, refund, datetime.now(UTC)), separators=(",", ":"))
    entry = {"Source": "payments", "DetailType": "RefundSucceeded", "Detail": detail}
    # It fits an entry, so the relay can always send it (alone, if need be: relay.batches)
    assert entry_size(entry) < EVENTBRIDGE_ENTRY_LIMIT * 0.75, entry_size(entry)


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


def dynamodb_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it for write units (attribute names and values), near enough."""
    return sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return -(-dynamodb_size(item) // 1024)


def test_a_captures_key_and_a_refunds_lease_cost_no_write_unit() -> None:
    """What makes a capture and a refund their own idempotency records is small: a hold's lease write
    with its capture's key (``settled_by``) and the capture's answer stay one write unit each, and a
    refund's lease adds no write unit to its reservation (which ends the lease's bytes with the answer)."""
    from payments_core.payments.models import Payment

    hold = Payment(
        payment_id="pay_" + "a" * 24,
        user_id="usr_" + "b" * 12,
        status="requires_capture",
        amount=2500,
        currency="usd",
        capture_method="manual",
        payment_method="pm_card_visa",
        request_fingerprint="f" * 64,
        provider_payment_id="pi_" + "d" * 24,
        provider_attempts=1,
        metadata={"order_id": "1042"},
        created_at=NOW,
        updated_at=NOW,
    )
    repository = PaymentRepository("AppTable")
    key = {"settled_by": "cap_" + "e" * 24, "settled_fingerprint": "f" * 32}
    leased = hold.model_copy(update={"lease_holder": "c" * 32, "lease_until": 1_800_000_030, **key})
    captured = leased.model_copy(
        update={"status": "succeeded", "amount_captured": 2500, "lease_holder": None, "lease_until": None}
    )
    assert write_units(repository._item(Change(leased))) == 1
    assert write_units(repository._item(Change(captured, [("PaymentSucceeded", None)]))) == 1

    refund = Refund(
        refund_id="ref_" + "g" * 24,
        payment_id=hold.payment_id,
        amount=2500,
        currency="usd",
        status="pending",
        reason="requested_by_customer",
        created_at=NOW,
        request_fingerprint="f" * 64,
        provider_attempts=1,
    )
    with_lease = refund.model_copy(update={"lease_holder": "h" * 32, "lease_until": 1_800_000_030})

    def reservation(of: Refund) -> dict[str, Any]:
        payment = captured.model_copy(update={"amount_reserved": 2500, "refunds": {of.refund_id: of}})
        return repository._item(Change(payment, [("RefundCreated", of)]))

    assert write_units(reservation(with_lease)) == write_units(reservation(refund))
