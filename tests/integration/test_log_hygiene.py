"""Log hygiene of the local stack. The scan of everything the session's stack logged (card numbers,
client secrets, API keys, webhook secrets, tokens, one-time codes) runs when the ``stack`` fixture
ends, after every test that used it, in whatever order they ran (conftest, log_hygiene.py). Here: the
scan finds each thing it looks for, and the stack driven through every route with what no log may
hold leaves none of it in the log."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from devstack.webhook_event import stripe_event
from tests.integration.conftest import ApiClient, RunningStack, wait_for
from tests.integration.log_hygiene import card_numbers, codes_sent, handler_lines, leaks
from tests.integration.test_otp import codes_for
from tests.integration.test_payments import three_ds_method
from tests.integration.test_webhooks import deliver

pytestmark = pytest.mark.integration


def test_luhn_check_finds_a_card_number() -> None:
    assert card_numbers("x 4242424242424242 y") == ["4242424242424242"]
    assert card_numbers("4242424242424241") == []
    assert card_numbers("pay_0a3726539287422f") == []  # digits inside an opaque hex id are not a card


def test_the_scan_finds_each_thing_no_log_may_hold() -> None:
    handler = {"level": "INFO", "service": "payments", "message": "ok"}
    clean = "\n".join(
        [
            "[email] to a@example.com: Your code is 123456",  # the developer's copy of the email: allowed
            json.dumps(handler),
            "POST /payments 201 pay_0a3726539287422f",
            # Random ids that merely hold "eyJ" or the six digits of a code sent: no token, no code.
            '{"intent_id": "pi_SOxVw7eyJrncWh", "request_id": "3dc62d47-3bde-4feb-878a-e9d123456b8e"}',
        ]
    )
    assert leaks(clean, webhook_secret="whsec_abc", outbox=[]) == []
    planted = {
        "card number 4242424242424242": "card 4242424242424242",
        "client secret _secret_abc123": "pi_1_secret_abc123",
        "a Stripe API key": "key sk_test_123",
        "the webhook signing secret": "whsec_abc",
        "a JWT": "Bearer eyJhbGciOiJIUzI1NiJ9",
        "a JWT (": '{"token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.sig"}',
        "one-time code 123456": "verify 123456",
        "SchemaValidationError": "aws_lambda_powertools SchemaValidationError",
        "without the template's service": json.dumps({**handler, "service": "service_undefined"}),
    }
    for finding, line in planted.items():
        found = leaks(clean + "\n" + line, webhook_secret="whsec_abc", outbox=[])
        assert len(found) == 1, (finding, found)
        assert finding in found[0]
        assert "log line 5" in found[0]
    in_the_bus = leaks(clean, webhook_secret="whsec_abc", outbox=[{"detail": {"note": "code 123456"}}])
    assert in_the_bus == ["one-time code 123456 in an outbox event"]


def test_every_route_driven_with_what_no_log_may_hold_leaves_none_of_it(stack: RunningStack, user: ApiClient) -> None:
    # Given the stack driven through every route: a password and a token (the user fixture, a wrong
    # password), card numbers typed in, a client secret (3-D Secure), holds, a refund, a one-time code
    # and a signed webhook
    api = stack.api_url
    assert requests.get(f"{api}/health", timeout=30).status_code == 200
    wrong = requests.post(f"{api}/auth/signin", json={"email": user.email, "password": "not it"}, timeout=30)
    assert wrong.status_code == 401
    assert user.pay(700, description="my card is 4242424242424242").status_code == 422
    assert user.pay(700, metadata={"note": "4000056655665556"}).status_code == 422
    raw_card = {
        "amount": 100,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "card": {"number": "4242424242424242"},
    }
    assert user.call("POST", "/payments", raw_card, key=uuid.uuid4().hex).status_code == 422
    action = user.pay(2000, payment_method=three_ds_method(stack)).json()
    assert action["client_secret"]
    paid = user.pay(2500).json()
    assert user.refund(paid["payment_id"], 500).status_code == 201
    hold = user.pay(4000, capture_method="manual").json()
    assert user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key=uuid.uuid4().hex).status_code == 200
    held = user.pay(4000, capture_method="manual").json()
    assert user.call("POST", f"/payments/{held['payment_id']}/cancel", {}, key=uuid.uuid4().hex).status_code == 200
    large = user.pay(50_000).json()
    assert large["status"] == "requires_otp"
    code = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]
    verified = user.call("POST", f"/payments/{large['payment_id']}/otp/verify", {"code": code})
    assert verified.status_code == 200, verified.text
    resend = user.call("POST", f"/payments/{large['payment_id']}/otp")
    assert resend.json()["error"]["code"] == "otp_not_required"
    assert user.call("GET", "/payments").status_code == 200
    assert user.call("GET", f"/payments/{paid['payment_id']}").status_code == 200
    assert user.call("GET", "/transactions").status_code == 200
    assert deliver(stack, stripe_event("customer.created", {"id": "cus_1", "object": "customer"})).status_code == 200

    # Then the log covers that traffic and holds none of it (the scan at the session's end covers the rest)
    wait_for(lambda: code in codes_sent(stack.log()), 10, "the console's copy of the code email")
    log = stack.log()
    assert "POST /payments" in log, "the scan must cover the traffic"
    assert handler_lines(log)
    assert leaks(log, webhook_secret=stack.webhook_secret, outbox=stack.outbox()) == []
