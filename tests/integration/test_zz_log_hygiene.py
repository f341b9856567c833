"""Runs after the rest of the end-to-end suite: everything the local stack logged, scanned for
card numbers, client secrets, API keys, webhook secrets and tokens (reliability item 15)."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_numbers(text: str) -> list[str]:
    return [match for match in re.findall(r"(?<!\d)\d{13,19}(?!\d)", text) if luhn_valid(match)]


def test_luhn_check_finds_a_card_number() -> None:
    assert card_numbers("x 4242424242424242 y") == ["4242424242424242"]
    assert card_numbers("4242424242424241") == []


def test_the_stack_log_holds_no_secret(stack: RunningStack) -> None:
    log = stack.log()
    assert "POST /payments" in log, "the scan must cover the suite's traffic"
    assert card_numbers(log) == []
    assert re.findall(r"_secret_[A-Za-z0-9]+", log) == []  # PaymentIntent client secrets
    assert "sk_test_" not in log
    assert stack.webhook_secret not in log
    assert "eyJ" not in log  # no JWT
