"""Amounts are integers in minor units; zero-decimal currencies are never scaled."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payments_core.currencies import (
    ISO_4217,
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    decimals,
    format_amount,
)
from payments_core.payments.models import CreatePaymentRequest


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


@pytest.mark.parametrize("amount", [25.5, 2500.01, float("inf"), float("nan"), "2500", True, 0, -1, 100_000_000, 1e9])
def test_amounts_must_be_positive_integers(amount: object) -> None:
    with pytest.raises(ValidationError):
        CreatePaymentRequest.model_validate({"amount": amount, "currency": "jpy", "payment_method": "pm_card_visa"})


def test_a_number_written_with_a_zero_fraction_is_that_integer() -> None:
    # JSON Schema's integer (the OpenAPI document's type for amounts) includes 2500.0
    request = CreatePaymentRequest.model_validate({"amount": 2500.0, "currency": "usd", "payment_method": "pm_card_x"})
    assert request.amount == 2500
    assert type(request.amount) is int


def test_a_yen_amount_is_kept_as_given() -> None:
    request = CreatePaymentRequest.model_validate({"amount": 2500, "currency": "jpy", "payment_method": "pm_card_visa"})
    assert request.amount == 2500


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [(1250, "kwd", "1.250 KWD"), (5, "bhd", "0.005 BHD"), (100_000, "tnd", "100.000 TND")],
)
def test_receipts_show_three_decimal_currencies_in_thousandths(amount: int, currency: str, shown: str) -> None:
    assert format_amount(amount, currency) == shown


@pytest.mark.parametrize("currency", ["xyz", "abc", "xau", "xts", "xxx", "usn", "hrk"])
def test_a_code_that_is_not_a_currency_one_can_pay_in_is_refused(currency: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate({"amount": 2500, "currency": currency, "payment_method": "pm_card_visa"})
    assert [error["loc"] for error in raised.value.errors()] == [("currency",)]
    assert "ISO 4217" in raised.value.errors()[0]["msg"]


@pytest.mark.parametrize("currency", ["usd", "eur", "gbp", "jpy", "kwd", "xcg", "ang"])
def test_currencies_one_can_pay_in_are_taken(currency: str) -> None:
    request = CreatePaymentRequest.model_validate(
        {"amount": 2500, "currency": currency, "payment_method": "pm_card_visa"}
    )
    assert request.currency == currency


def test_stripes_zero_and_three_decimal_lists_are_iso_currencies() -> None:
    assert ZERO_DECIMAL_CURRENCIES | THREE_DECIMAL_CURRENCIES <= ISO_4217
    assert {decimals(code) for code in THREE_DECIMAL_CURRENCIES} == {3}


@pytest.mark.parametrize(
    ("amount", "currency", "taken"), [(1255, "kwd", False), (1250, "kwd", True), (1255, "usd", True)]
)
def test_a_three_decimal_amount_must_end_in_zero_as_stripe_requires(amount: int, currency: str, taken: bool) -> None:
    body = {"amount": amount, "currency": currency, "payment_method": "pm_card_visa"}
    if taken:
        assert CreatePaymentRequest.model_validate(body).amount == amount
        return
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate(body)
    assert [error["loc"] for error in raised.value.errors()] == [("amount",)]
    assert "multiple of 10" in raised.value.errors()[0]["msg"]
