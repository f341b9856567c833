"""Amounts are integers in minor units; zero-decimal currencies are never scaled."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from payments_core.currencies import (
    ISO_4217,
    MINIMUM_CHARGE_AMOUNTS,
    THREE_DECIMAL_CURRENCIES,
    WHOLE_UNITS_WRITTEN_WITH_TWO_DECIMALS,
    ZERO_DECIMAL_CURRENCIES,
    amount_problem,
    charge_amount_problem,
    decimals,
    format_amount,
)
from payments_core.payments.create_request import CreatePaymentRequest


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


# --- what Stripe refuses (https://docs.stripe.com/currencies) ------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "refused"),
    [
        (49, "usd", True),
        (50, "usd", False),
        (29, "gbp", True),
        (30, "gbp", False),
        (49, "jpy", True),
        (50, "jpy", False),
        (17_499, "huf", True),
        (17_500, "huf", False),
        (1_499, "czk", True),
        (999, "mxn", True),
        (1, "xcg", False),  # no published minimum: left to the settlement currency's, unknown here
    ],
)
def test_a_charge_under_stripes_minimum_is_refused(amount: int, currency: str, refused: bool) -> None:
    problem = charge_amount_problem(amount, currency)
    assert (problem is not None) == refused
    if refused:
        assert "at least" in str(problem)


def test_refunds_are_not_held_to_the_minimum_charge() -> None:
    assert amount_problem(1, "usd") is None
    assert charge_amount_problem(1, "usd") is not None


@pytest.mark.parametrize("currency", ["isk", "ugx"])
def test_isk_and_ugx_are_whole_units_written_with_two_decimals(currency: str) -> None:
    assert amount_problem(550, currency) is not None
    assert charge_amount_problem(550, currency) is not None
    assert amount_problem(500, currency) is None
    assert decimals(currency) == 2
    assert format_amount(500, currency) == f"5.00 {currency.upper()}"


@pytest.mark.parametrize("currency", ["huf", "twd"])
def test_huf_and_twd_charges_may_carry_decimals(currency: str) -> None:
    assert amount_problem(17_545, currency) is None
    assert charge_amount_problem(17_545, currency) is None


def test_the_minimums_are_for_currencies_one_can_pay_in() -> None:
    assert set(MINIMUM_CHARGE_AMOUNTS) <= ISO_4217
    assert WHOLE_UNITS_WRITTEN_WITH_TWO_DECIMALS <= ISO_4217


@pytest.mark.parametrize(("amount", "taken"), [(49, False), (50, True)])
def test_a_payment_under_the_minimum_is_a_validation_error(amount: int, taken: bool) -> None:
    body = {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa"}
    if taken:
        assert CreatePaymentRequest.model_validate(body).amount == amount
        return
    with pytest.raises(ValidationError) as raised:
        CreatePaymentRequest.model_validate(body)
    assert [error["loc"] for error in raised.value.errors()] == [("amount",)]
