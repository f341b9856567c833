"""The scan of everything a local stack logged: card numbers, client secrets, API keys, webhook secrets,
tokens and one-time codes, and handler lines without the template's service. conftest's ``stack``
fixture runs it on the session's stack once every test that used the stack has run, whatever their
order, and fails the session with what it found; test_log_hygiene.py checks the scan itself."""

from __future__ import annotations

import json
import re
from typing import Any

from payments_core.card_numbers import luhn_valid

CODE_EMAILED = re.compile(r"Your code is (\d{6})")
# A JWT (or any part of one) starts a token with its base64url JSON header ("eyJ" is '{"'); inside a
# random id it is no token (an intent id "pi_SOxVw7eyJrncWh" once failed a run).
JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}")
# A code counts only as a number of its own: six digits inside an id (a request id's "...e9d380351b8e")
# are no code.


def card_numbers(text: str) -> list[str]:
    return [match for match in re.findall(r"\b\d{13,19}\b", text) if luhn_valid(match)]


def log_lines(log: str) -> list[str]:
    """Everything the stack logged, but the emails it echoes for the developer (they hold the codes)."""
    return [line for line in log.splitlines() if "[email]" not in line]


def codes_sent(log: str) -> set[str]:
    return set(CODE_EMAILED.findall(log))


def handler_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_lines(log) if line.startswith('{"level"')]


def leaks(log: str, *, webhook_secret: str, outbox: list[dict[str, Any]]) -> list[str]:
    """What must not be there, one finding per line, each naming the log line it is on; [] when clean."""
    codes = codes_sent(log)
    found: list[str] = []
    for number, line in enumerate(log.splitlines(), start=1):
        where = f"log line {number}: {line[:300]}"
        if "SchemaValidationError" in line:
            found.append(f"Metrics' SchemaValidationError (a handler without the template's settings) on {where}")
        if "[email]" in line:
            continue
        found += [f"card number {card} on {where}" for card in card_numbers(line)]
        # PaymentIntent client secrets
        found += [f"client secret {secret} on {where}" for secret in re.findall(r"_secret_[A-Za-z0-9]+", line)]
        if "sk_test_" in line:
            found.append(f"a Stripe API key (sk_test_) on {where}")
        if webhook_secret and webhook_secret in line:
            found.append(f"the webhook signing secret on {where}")
        if JWT.search(line):
            found.append(f"a JWT (eyJ...) on {where}")
        found += [
            f"one-time code {code} on {where}"
            for code in codes
            if re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", line)
        ]
        if line.startswith('{"level"') and json.loads(line).get("service") != "payments":
            found.append(f"a handler line without the template's service (payments) on {where}")
    bus = json.dumps(outbox)
    found += [
        f"one-time code {code} in an outbox event"
        for code in codes
        if re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", bus)
    ]
    return found
