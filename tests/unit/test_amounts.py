"""Amounts are integers in minor units; zero-decimal currencies are never scaled (reliability item 9)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payments_core.notifications import format_amount
from payments_core.payments.models import ZERO_DECIMAL_CURRENCIES, CreatePaymentRequest


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(2500, "usd", "25.00 USD"), (5, "eur", "0.05 EUR"), (2500, "jpy", "2500 JPY"), (990, "krw", "990 KRW")],
)
def test_receipts_show_minor_units_and_never_scale_zero_decimal_currencies(
    amount: int, currency: str, shown: str
) -> None:
    assert format_amount(amount, currency) == shown


def test_the_zero_decimal_list_is_the_one_stripe_documents() -> None:
    assert {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    } == ZERO_DECIMAL_CURRENCIES


@pytest.mark.parametrize("amount", [25.0, 25.5, "2500", True, 0, -1, 100_000_000])
def test_amounts_must_be_positive_integers(amount: object) -> None:
    with pytest.raises(ValidationError):
        CreatePaymentRequest.model_validate({"amount": amount, "currency": "jpy", "payment_method": "pm_card_visa"})


def test_a_yen_amount_is_kept_as_given() -> None:
    request = CreatePaymentRequest.model_validate({"amount": 2500, "currency": "jpy", "payment_method": "pm_card_visa"})
    assert request.amount == 2500
