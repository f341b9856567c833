"""Runs after the rest of the end-to-end suite: everything the local stack logged, scanned for
card numbers, client secrets, API keys, webhook secrets and tokens."""

from __future__ import annotations

import json
import re

import pytest

from payments_core.card_numbers import luhn_valid
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def card_numbers(text: str) -> list[str]:
    return [match for match in re.findall(r"\b\d{13,19}\b", text) if luhn_valid(match)]


def test_luhn_check_finds_a_card_number() -> None:
    assert card_numbers("x 4242424242424242 y") == ["4242424242424242"]
    assert card_numbers("4242424242424241") == []
    assert card_numbers("pay_0a3726539287422f") == []  # digits inside an opaque hex id are not a card


def log_lines(stack: RunningStack) -> str:
    """Everything the stack logged, but the emails it echoes for the developer (they hold the codes)."""
    return "\n".join(line for line in stack.log().splitlines() if "[email]" not in line)


def test_the_stack_log_holds_no_secret(stack: RunningStack) -> None:
    log = log_lines(stack)
    assert "POST /payments" in log, "the scan must cover the suite's traffic"
    assert card_numbers(log) == []
    assert re.findall(r"_secret_[A-Za-z0-9]+", log) == []  # PaymentIntent client secrets
    assert "sk_test_" not in log
    assert stack.webhook_secret not in log
    assert "eyJ" not in log  # no JWT


def test_no_one_time_code_in_any_log_line_event_or_response(stack: RunningStack) -> None:
    codes = set(re.findall(r"Your code is (\d{6})", stack.log()))
    assert codes, "the OTP tests sent codes"
    log = log_lines(stack)
    assert [code for code in codes if re.search(rf"(?<!\d){code}(?!\d)", log)] == []
    bus = json.dumps(stack.outbox())
    assert [code for code in codes if re.search(rf"(?<!\d){code}(?!\d)", bus)] == []


def test_handlers_log_with_the_template_configuration(stack: RunningStack) -> None:
    """Powertools reads its settings once, when payments_core is first imported: the local stack must
    apply the template's environment before that, or log lines lose their service and metrics their
    namespace (a 500 after the money moved, seen in a load run)."""
    handler_lines = [json.loads(line) for line in log_lines(stack).splitlines() if line.startswith('{"level"')]
    assert handler_lines
    assert {line.get("service") for line in handler_lines} == {"payments"}
    assert "SchemaValidationError" not in stack.log()
