"""A card number typed into free text is refused, named by field and never echoed (reliability 15)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from payments_core.api import validation_details
from payments_core.card_numbers import holds_card_number
from payments_core.payments.create_request import CreatePaymentRequest

BASE = {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa"}


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "card 4242 4242 4242 4242 exp 12/40",
        "4242-4242-4242-4242",
        "amex 378282246310005",  # 15 digits
        "4222222222222",  # 13 digits, Visa's short test number
        "6011000990139424",
        "1234 5678 9012 3456 4242 4242 4242 4242 99",  # within a longer grouped run
        "ref4242424242424242x",  # letters around it do not hide it
        # Nor do other separators: one-digit groups, dots, a dash between spaces, invisible characters
        "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",
        "4242.4242.4242.4242",
        "4242 - 4242 - 4242 - 4242",
        "4242\u200b4242\u200b4242\u200b4242",  # zero-width spaces: it looks whole
        "4242\u00a04242\u20094242\u00ad4242",  # no-break and thin space, soft hyphen
        "\uff14\uff12\uff14\uff12" * 4,  # full-width digits
        "4242\uff0e4242\uff0e4242\uff0e4242",  # full-width dots
        "4\u03002424242424242\u034f42",  # combining marks
        "4242/4242/4242/4242",
        "4242  4242 4242 4242",  # a double space is one separator
        "4\u20e32\u20e34\u20e32\u20e3" * 4,  # keycaps
        "4242\u20664242\u20694242\u20664242",  # direction isolates
    ],
)
def test_a_luhn_valid_run_of_13_to_19_digits_is_a_card_number(text: str) -> None:
    assert holds_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "Order 1042",
        "4242424242424241",  # fails the Luhn check
        "424242424242",  # 12 digits
        "42424242424242424242",  # 20 digits in one run: no card number is that long
        "+1 555-123-4567",
        "2026-11-22 18:30",
        "4242, 4242, 4242, 4242",  # other punctuation ends a run: a list of numbers is no card
        "4242  .  4242  .  4242  .  4242",  # nor do separators longer than three characters
        # Groups split in different ways make no number: dates, amounts, phone numbers, lines
        "Subscription 11.03.2026 - 21.01.2021",
        "893.722.2458 / 886.261.9831",
        "531.23 / 565.32 / 642.18 / 63.07",
        "220.189.211.220 / 126.184.240.77",
        "44 9333.98\n98 5015.22\n19 7873.27",
    ],
)
def test_other_text_is_not(text: str) -> None:
    assert not holds_card_number(text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"description": "Card 4242 4242 4242 4242, thanks"}, "description"),
        ({"metadata": {"order_id": "1042", "note": "4242424242424242"}}, "metadata.note"),
        ({"metadata": {"4242424242424242": "x"}}, "metadata.<card number>"),
    ],
)
def test_a_payment_with_a_card_number_in_its_text_is_refused_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate({**BASE, **fields})

    # Then: the client's answer names the field (a key that is a card number masked), never the number
    details = validation_details(raised.value)
    assert details[0]["field"].startswith(field)
    assert "card number" in details[0]["message"]
    assert "4242424242424242" not in str(details)


def test_a_long_key_is_echoed_cut_short_and_read_only_that_far() -> None:
    # A metadata key of 60,000 characters: its error names it by its first 100 characters only
    key = "k" * 60_000
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate({**BASE, "metadata": {key: "v"}})
    [detail] = validation_details(raised.value)
    assert detail["field"] == "metadata." + "k" * 100 + "….[key]"
    # and no digit of one is shown, however it is spread out
    key = "k" * 90 + "4242424242" + "\u200b" * 101 + "424242"
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate({**BASE, "metadata": {key: "v"}})
    assert validation_details(raised.value)[0]["field"].startswith("metadata." + "k" * 90 + "#" * 10 + "…")


def test_ordinary_descriptions_and_metadata_pass() -> None:
    request = CreatePaymentRequest.model_validate(
        {**BASE, "description": "Order 1042", "metadata": {"order_id": "1042", "sku": "A-100-7"}}
    )
    assert request.description == "Order 1042"


def test_stripe_refuses_a_metadata_key_with_square_brackets_and_a_payment_method_not_its_own() -> None:
    from payments_core.payments.providers.stripe.gateway import StripeGateway

    # Our request model takes them (another provider might); Stripe's own rules refuse them, field by
    # field, before the payment is stored (PaymentService.create).
    request = CreatePaymentRequest.model_validate({**BASE, "metadata": {"items[0]": "shirt", "k": "v"}})
    gateway = StripeGateway("sk_test_unused", "http://127.0.0.1:9")
    problems = gateway.request_problems(payment_method=request.payment_method, metadata=request.metadata)
    assert [p["field"] for p in problems] == ["metadata.items[0]"]
    problems = gateway.request_problems(payment_method="card_4242", metadata={"x" * 41: "v"})
    assert [p["field"] for p in problems] == ["payment_method", "metadata." + "x" * 40]
