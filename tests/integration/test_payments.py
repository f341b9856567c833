"""Payments, holds and refunds end to end: HTTP client -> local API front -> handlers -> moto and localstripe."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from payments_core.payments.models import Refund
from payments_core.payments.transitions import MAX_REFUNDS_PER_PAYMENT
from tests.integration.conftest import ApiClient, RunningStack, new_user, store_refunds, user_id_of

pytestmark = pytest.mark.integration
TOO_MUCH_METADATA = {str(i): "v" for i in range(21)}


def stripe_intents_for(stack: RunningStack, payment_id: str) -> list[dict[str, Any]]:
    """PaymentIntents at the provider carrying our payment id (counted at localstripe itself)."""
    found: list[dict[str, Any]] = []
    starting_after = None
    while True:
        params: dict[str, Any] = {"limit": 100}
        if starting_after:
            params["starting_after"] = starting_after
        page = requests.get(f"{stack.stripe_url}/v1/payment_intents", params=params, auth=("sk_test_x", ""), timeout=10)
        data = page.json()
        found += [pi for pi in data["data"] if (pi.get("metadata") or {}).get("payment_id") == payment_id]
        if not data.get("has_more") or not data["data"]:
            return found
        starting_after = data["data"][-1]["id"]


def three_ds_method(stack: RunningStack) -> str:
    response = requests.post(
        f"{stack.stripe_url}/v1/payment_methods",
        data={
            "type": "card",
            "card[number]": "4000002500003155",
            "card[exp_month]": "12",
            "card[exp_year]": "2040",
            "card[cvc]": "123",
        },
        auth=("sk_test_x", ""),
        timeout=10,
    )
    return str(response.json()["id"])


# --- create --------------------------------------------------------------------------------------


def test_a_card_that_works_gives_a_succeeded_payment(stack: RunningStack, user: ApiClient) -> None:
    # When
    response = user.pay(2500, description="Order 1042", metadata={"order_id": "1042"})
    # Then
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "succeeded"
    assert payment["payment_id"].startswith("pay_")
    assert payment["provider_payment_id"].startswith("pi_")
    assert payment["metadata"] == {"order_id": "1042"}
    assert payment["client_secret"] is None
    assert set(payment) == {
        "payment_id",
        "status",
        "amount",
        "currency",
        "amount_captured",
        "amount_refunded",
        "description",
        "metadata",
        "provider",
        "provider_payment_id",
        "next_action",
        "client_secret",
        "refunds",
        "dispute",
        "created_at",
        "updated_at",
    }
    assert payment["dispute"] is None
    fetched = user.call("GET", f"/payments/{payment['payment_id']}")
    assert fetched.status_code == 200
    assert fetched.json()["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment["payment_id"])) == 1


def test_a_declined_card_is_402_with_a_decline_code_and_a_failed_payment(stack: RunningStack, user: ApiClient) -> None:
    key = uuid.uuid4().hex
    response = user.pay(2500, payment_method="pm_card_chargeCustomerFail", key=key)
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert error["code"] == "payment_declined"
    assert error["decline_code"] == "card_declined"  # localstripe gives no decline_code: the error code stands in
    listing = user.call("GET", "/payments").json()["items"]
    assert [p["status"] for p in listing] == ["failed"]
    # The same key and body replays the same answer without a second attempt at the provider.
    replay = user.pay(2500, payment_method="pm_card_chargeCustomerFail", key=key)
    assert replay.status_code == 402
    # The payment is its own idempotency record: the same error, with the retry's own request id
    first, again = response.json()["error"], replay.json()["error"]
    assert {k: v for k, v in again.items() if k != "request_id"} == {
        k: v for k, v in first.items() if k != "request_id"
    }
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_3ds_card_requires_action_with_next_action(stack: RunningStack, user: ApiClient) -> None:
    response = user.pay(2500, payment_method=three_ds_method(stack))
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "requires_action"
    assert payment["next_action"]
    assert payment["client_secret"]


def test_a_hold_is_captured(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(4000, capture_method="manual").json()
    assert hold["status"] == "requires_capture"
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 3000}, key="cap-1")
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "succeeded"
    # The local provider reports what it captured, as Stripe does: its succeeded webhook, sent a second
    # later, may reach us before our own update, and must not say the whole hold moved.
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{hold['provider_payment_id']}", auth=("sk_test_x", ""), timeout=10
    ).json()
    assert at_provider["amount_received"] == 3000
    # It can be refunded up to what was captured, not what was held.
    assert user.refund(hold["payment_id"], 3001).status_code == 409
    assert user.refund(hold["payment_id"], 3000).status_code == 201
    again = user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key="cap-2")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "payment_not_capturable"


def test_concurrent_captures_of_one_hold_capture_once_and_ours_matches_the_provider(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given a hold of 40.00, and six captures of different amounts sent at once with their own keys
    hold = user.pay(4000, capture_method="manual").json()
    pid = hold["payment_id"]
    amounts = [1000, 1500, 2000, 2500, 3000, 4000]

    def capture(amount: int) -> requests.Response:
        return user.call("POST", f"/payments/{pid}/capture", {"amount": amount}, key=uuid.uuid4().hex)

    with ThreadPoolExecutor(len(amounts)) as pool:
        answers = list(pool.map(capture, amounts))
    # Then exactly one was captured, the others were refused, and what we hold is what moved there
    winners = [(answer, amount) for answer, amount in zip(answers, amounts, strict=True) if answer.status_code == 200]
    assert len(winners) == 1, [answer.text for answer in answers]
    assert {answer.json()["error"]["code"] for answer in answers if answer.status_code != 200} <= {
        "request_in_progress",
        "payment_not_capturable",
    }
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{hold['provider_payment_id']}", auth=("sk_test_x", ""), timeout=10
    ).json()
    ours = user.call("GET", f"/payments/{pid}").json()
    assert ours["amount_captured"] == at_provider["amount_received"] == winners[0][1]


def test_a_hold_is_canceled(user: ApiClient) -> None:
    hold = user.pay(4000, capture_method="manual").json()
    canceled = user.call("POST", f"/payments/{hold['payment_id']}/cancel", key="c-1")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    assert user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key="c-2").status_code == 409
    assert user.refund(hold["payment_id"]).json()["error"]["code"] == "payment_not_refundable"


def test_a_succeeded_payment_cannot_be_canceled(user: ApiClient) -> None:
    payment = user.pay().json()
    response = user.call("POST", f"/payments/{payment['payment_id']}/cancel", key="c-1")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "payment_not_cancelable"


# --- idempotency ---------------------------------------------------------------------------------


def test_twenty_concurrent_identical_requests_make_one_intent(stack: RunningStack, user: ApiClient) -> None:
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: user.pay(3100, key=key), range(20)))
    assert {r.status_code for r in responses} == {201}
    bodies = {r.text for r in responses}
    assert len(bodies) == 1, "every response is the same payment"
    payment_id = responses[0].json()["payment_id"]
    assert len(stripe_intents_for(stack, payment_id)) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    # The same key with another body is refused.
    other = user.pay(3200, key=key)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_are_per_user(stack: RunningStack, user: ApiClient) -> None:
    other = new_user(stack.api_url)
    first = user.pay(1000, key="shared-key").json()
    second = other.pay(1000, key="shared-key").json()
    assert first["payment_id"] != second["payment_id"]


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\there"])
def test_a_missing_or_bad_idempotency_key_is_422(user: ApiClient, key: str | None) -> None:
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = user.call(
        "POST", "/payments", {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa"}, headers=headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 25.5, "currency": "usd", "payment_method": "pm_card_visa"}, "amount"),
        ({"amount": "2500", "currency": "usd", "payment_method": "pm_card_visa"}, "amount"),
        ({"amount": 0, "currency": "usd", "payment_method": "pm_card_visa"}, "amount"),
        ({"amount": 100, "currency": "USD", "payment_method": "pm_card_visa"}, "currency"),
        ({"amount": 100, "currency": "xyz", "payment_method": "pm_card_visa"}, "currency"),
        ({"amount": 1255, "currency": "kwd", "payment_method": "pm_card_visa"}, "amount"),
        (
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "description": "a\u0000b"},
            "description",
        ),
        (
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "metadata": {"k": "\u001b[31mred"}},
            "metadata",
        ),
        # Our own ids take these keys at Stripe, where the client's value would be replaced unseen.
        (
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "metadata": {"payment_id": "o-77"}},
            "metadata.payment_id",
        ),
        (
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "metadata": {"user_id": "u-1"}},
            "metadata.user_id",
        ),
        ({"amount": 100, "currency": "usd", "payment_method": "card_123"}, "payment_method"),
        (
            {
                "amount": 100,
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "metadata": {str(i): "v" for i in range(21)},
            },
            "metadata",
        ),
        (
            {"amount": 100, "currency": "usd", "payment_method": "pm_card_visa", "capture_method": "later"},
            "capture_method",
        ),
    ],
)
def test_invalid_payment_bodies_are_422(user: ApiClient, body: dict[str, Any], field: str) -> None:
    response = user.call("POST", "/payments", body, key=uuid.uuid4().hex)
    assert response.status_code == 422, response.text
    assert any(detail["field"].startswith(field) for detail in response.json()["error"]["details"])


def test_an_amount_written_with_a_zero_fraction_is_charged_as_that_integer(user: ApiClient) -> None:
    # Given a client whose JSON writes 2371.0 (a valid JSON Schema integer, as the OpenAPI document types it)
    key = uuid.uuid4().hex
    response = user.call(
        "POST", "/payments", {"amount": 2371.0, "currency": "usd", "payment_method": "pm_card_visa"}, key=key
    )
    # Then it is a payment of 2371, and the same request written 2371 is its replay, not another body
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 2371
    replay = user.call(
        "POST", "/payments", {"amount": 2371, "currency": "usd", "payment_method": "pm_card_visa"}, key=key
    )
    assert replay.status_code == 201
    assert replay.json()["payment_id"] == response.json()["payment_id"]


def test_three_decimal_amounts_move_only_in_tens_as_stripe_requires(user: ApiClient) -> None:
    # Given a payment of 1.250 KWD and a hold of 2.000 KWD
    paid = user.pay(1250, currency="kwd").json()
    hold = user.pay(2000, currency="kwd", capture_method="manual").json()
    assert (paid["status"], hold["status"]) == ("succeeded", "requires_capture")
    # When a refund or a capture asks for thousandths Stripe would refuse, Then it is a 422 on amount
    for response in (
        user.refund(paid["payment_id"], 5),
        user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 1005}, key="cap-1"),
    ):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "amount"
    # And amounts in tens go through
    assert user.refund(paid["payment_id"], 10).status_code == 201
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 1000}, key="cap-2")
    assert captured.json()["amount_captured"] == 1000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "amount": 1}',
            '"amount" appears more than once',
        ),
        (
            b'{"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "metadata": {"a": "1", "a": "2"}}',
            '"a"',
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"metadata": ' * 50_000 + b"{}" + b"}" * 50_000, "nested too deeply"),
    ],
)
def test_an_ambiguous_or_absurdly_nested_body_is_422_and_charges_nothing(
    stack: RunningStack, user: ApiClient, raw: bytes, message: str
) -> None:
    # When the body repeats a key (which value counts?) or nests past any parser's depth
    headers = {"Authorization": f"Bearer {user.token}", "Idempotency-Key": uuid.uuid4().hex}
    headers["Content-Type"] = "application/json"
    response = user.session.post(f"{user.base}/payments", data=raw, headers=headers, timeout=60)
    # Then it is a client error in the envelope, not a 500, and no payment exists
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["details"][0]["message"]
    assert user.call("GET", "/payments").json()["items"] == []


def test_raw_card_fields_are_rejected_and_never_echoed(stack: RunningStack, user: ApiClient) -> None:
    body = {
        "amount": 100,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "card": {"number": "4242424242424242", "cvc": "123", "exp_month": 12},
    }
    response = user.call("POST", "/payments", body, key=uuid.uuid4().hex)
    assert response.status_code == 422
    assert "4242424242424242" not in response.text
    assert "4242424242424242" not in stack.log()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"description": "my card is 4242 4242 4242 4242"}, "description"),
        ({"metadata": {"note": "4242-4242-4242-4242"}}, "metadata.note"),
        ({"metadata": {"4242 4242 4242 4242": "card"}}, "metadata.<card number>"),
    ],
)
def test_a_card_number_typed_into_free_text_is_refused_and_never_echoed(
    stack: RunningStack, user: ApiClient, fields: dict[str, Any], field: str
) -> None:
    # Given: a client pastes a card number where Stripe asks for none
    before = intents_at_provider(stack)
    # When
    response = user.pay(700, **fields)
    # Then: 422 naming the field, and the number reaches neither the provider, the answer nor a log
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert any(detail["field"].startswith(field) for detail in response.json()["error"]["details"])
    assert intents_at_provider(stack) == before
    for written in ("4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242"):
        assert written not in response.text
        assert written not in stack.log()


def intents_at_provider(stack: RunningStack) -> int:
    listed = requests.get(
        f"{stack.stripe_url}/v1/payment_intents", params={"limit": 100}, auth=("sk_test_x", ""), timeout=10
    ).json()
    return len(listed["data"])


# --- ownership and listing -----------------------------------------------------------------------


def test_another_users_payment_is_not_found(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay().json()
    intruder = new_user(stack.api_url)
    calls: list[tuple[str, str, dict[str, int] | None]] = [
        ("GET", f"/payments/{payment['payment_id']}", None),
        ("POST", f"/payments/{payment['payment_id']}/refunds", {}),
        ("POST", f"/payments/{payment['payment_id']}/capture", {}),
        ("POST", f"/payments/{payment['payment_id']}/cancel", None),
    ]
    for method, path, body in calls:
        response = intruder.call(method, path, body, key="k")
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("payment_id", ["p" * 1100, "pay_" + "%E2%82%AC" * 400, "pay_x%27%20OR%201"])
def test_a_payment_id_that_cannot_be_ours_is_404_on_every_route(user: ApiClient, payment_id: str) -> None:
    # When a client names a payment by an id no payment of ours can have (over DynamoDB's 1024-byte
    # sort key, which it refuses on a read and the local stack refuses as it does; or other characters)
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/payments/{payment_id}", None),
        ("POST", f"/payments/{payment_id}/refunds", {}),
        ("POST", f"/payments/{payment_id}/capture", {}),
        ("POST", f"/payments/{payment_id}/cancel", None),
        ("POST", f"/payments/{payment_id}/otp", None),
        ("POST", f"/payments/{payment_id}/otp/verify", {"code": "123456"}),
    ]
    for method, path, body in calls:
        response = user.call(method, path, body, key="k")
        # Then it is not found, in the contract's envelope (not a 500 that pages whoever is on call)
        assert response.status_code == 404, (path[:40], response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_a_forged_cursor_naming_a_key_dynamodb_refuses_is_422(user: ApiClient) -> None:
    from payments_core.cursors import encode_cursor

    # When a cursor is forged with a key value DynamoDB refuses in an ExclusiveStartKey (empty, or a
    # sort key over 1024 bytes), then it is the contract's 422 for a cursor, not a 500
    for route, forged in [
        ("/payments", encode_cursor(["PAY#pay_1", ""])),
        ("/payments", encode_cursor(["PAY#" + "x" * 1100, "2026-01-01T00:00:00.000Z"])),
        ("/transactions", encode_cursor("TXN#" + "x" * 1100)),
    ]:
        response = user.call("GET", f"{route}?cursor={forged}")
        assert response.status_code == 422, (route, response.text)
        assert response.json()["error"]["code"] == "validation_error"


def test_protected_routes_need_a_valid_token(stack: RunningStack) -> None:
    anonymous = ApiClient(stack.api_url)
    assert anonymous.call("GET", "/payments").status_code == 401
    forged = ApiClient(stack.api_url, token="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    response = forged.call("GET", "/payments")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("DELETE", "/payments"), ("PUT", "/health"), ("GET", "/payments/a/b/c")]
)
def test_a_request_no_route_matches_is_404_in_the_envelope(stack: RunningStack, method: str, path: str) -> None:
    # When a client calls a path or a method the API does not have (no token needed to learn that)
    response = ApiClient(stack.api_url).call(method, path)
    # Then the answer is the contract's 404, not API Gateway's {"message": "Not Found"}
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["request_id"]


def test_listing_pages_newest_first(stack: RunningStack) -> None:
    client = new_user(stack.api_url)
    ids = [client.pay(100 + i).json()["payment_id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    page_cursor = ""
    while True:
        path = "/payments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.call("GET", path).json()
        assert len(page["items"]) <= 2
        seen += [item["payment_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        page_cursor = page_cursor or cursor or ""
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert client.call("GET", "/payments?limit=0").status_code == 422
    assert client.call("GET", "/payments?limit=101").status_code == 422
    assert client.call("GET", "/payments?cursor=bogus").status_code == 422
    assert client.call("GET", "/transactions?cursor=bogus").status_code == 422
    # A payments cursor is not a ledger cursor, and the other way round.
    assert client.call("GET", f"/transactions?cursor={page_cursor}").status_code == 422


# --- refunds -------------------------------------------------------------------------------------


def test_partial_refunds_up_to_the_captured_amount(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1000).json()
    pid = payment["payment_id"]
    first = user.refund(pid, 300)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "succeeded"
    assert first.json()["amount"] == 300
    assert user.call("GET", f"/payments/{pid}").json()["status"] == "partially_refunded"
    assert user.refund(pid, 700).status_code == 201
    over = user.refund(pid, 1)
    assert over.status_code == 409
    assert over.json()["error"]["code"] == "refund_exceeds_remaining"
    final = user.call("GET", f"/payments/{pid}").json()
    assert final["status"] == "refunded"
    assert final["amount_refunded"] == 1000
    assert [r["amount"] for r in final["refunds"]] == [300, 700]


def test_a_refund_without_amount_refunds_what_remains(user: ApiClient) -> None:
    pid = user.pay(900).json()["payment_id"]
    assert user.refund(pid, 200).status_code == 201
    rest = user.refund(pid)
    assert rest.json()["amount"] == 700


def test_concurrent_refunds_never_exceed_the_captured_amount(user: ApiClient) -> None:
    pid = user.pay(1000).json()["payment_id"]
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: user.refund(pid, 300), range(10)))
    accepted = [r for r in responses if r.status_code == 201]
    assert {r.status_code for r in responses} <= {201, 409}
    assert sum(r.json()["amount"] for r in accepted) <= 1000
    assert len(accepted) == 3
    assert user.call("GET", f"/payments/{pid}").json()["amount_refunded"] == 900


def test_a_payment_takes_at_most_a_hundred_refunds(stack: RunningStack, user: ApiClient) -> None:
    # Given a payment of 10.00 already refunded a cent at a time 99 times (written into the store:
    # 99 requests through the stack would take a while)
    payment = user.pay(1000).json()
    pid = payment["payment_id"]
    seeded = [
        Refund(
            refund_id=f"ref_seeded{n:014d}",
            payment_id=pid,
            amount=1,
            currency="usd",
            status="succeeded",
            created_at=payment["created_at"],
            provider_refund_id=f"re_seeded{n}",
        )
        for n in range(MAX_REFUNDS_PER_PAYMENT - 1)
    ]
    store_refunds(stack, user_id_of(user), pid, seeded)
    # When it is refunded once more, and then again
    last = user.refund(pid, 1)
    over = user.refund(pid, 1)
    # Then the hundredth refund is made, and the next is refused in the envelope before any money moves
    assert last.status_code == 201, last.text
    assert over.status_code == 409, over.text
    assert over.json()["error"]["code"] == "refund_limit_reached"
    assert over.json()["error"]["request_id"]
    final = user.call("GET", f"/payments/{pid}").json()
    assert len(final["refunds"]) == MAX_REFUNDS_PER_PAYMENT
    assert final["amount_refunded"] == MAX_REFUNDS_PER_PAYMENT


def test_a_refund_retry_with_the_same_key_refunds_once(user: ApiClient) -> None:
    pid = user.pay(1000).json()["payment_id"]
    first = user.refund(pid, 400, key="r-1")
    second = user.refund(pid, 400, key="r-1")
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert user.call("GET", f"/payments/{pid}").json()["amount_refunded"] == 400


def forget_idempotency_records(stack: RunningStack, before: set[str]) -> None:
    """Deletes the API idempotency records made since ``before``, as their 48 h expiry would."""
    dynamodb = stack.client("dynamodb")
    for item in dynamodb.scan(TableName="IdempotencyTable")["Items"]:  # a test, not a request path
        if item["id"]["S"] not in before:
            dynamodb.delete_item(TableName="IdempotencyTable", Key={"id": item["id"]})


def idempotency_records(stack: RunningStack) -> set[str]:
    items = stack.client("dynamodb").scan(TableName="IdempotencyTable")["Items"]
    return {item["id"]["S"] for item in items}


@pytest.mark.parametrize("operation", ["payment", "refund"])
def test_a_key_reused_with_another_body_after_its_record_expired_is_still_refused(
    stack: RunningStack, user: ApiClient, operation: str
) -> None:
    # Given a payment (and a refund of it) made with a key whose idempotency record has since expired
    pid = user.pay(1000).json()["payment_id"]
    before = idempotency_records(stack)
    first = user.pay(1500, key="k-reused") if operation == "payment" else user.refund(pid, 400, key="k-reused")
    assert first.status_code == 201, first.text
    forget_idempotency_records(stack, before)
    # When the key comes back with another amount, then it is refused and nothing more moves
    other = user.pay(1600, key="k-reused") if operation == "payment" else user.refund(pid, 500, key="k-reused")
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # And with the same body, it is the same operation again, not a second one
    again = user.pay(1500, key="k-reused") if operation == "payment" else user.refund(pid, 400, key="k-reused")
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    if operation == "refund":
        assert user.call("GET", f"/payments/{pid}").json()["amount_refunded"] == 400


def stripe_refunds_of(stack: RunningStack, intent_id: str) -> list[dict[str, Any]]:
    """Refunds of an intent at the provider (counted at localstripe itself)."""
    page = requests.get(
        f"{stack.stripe_url}/v1/refunds", params={"payment_intent": intent_id}, auth=("sk_test_x", ""), timeout=10
    )
    return list(page.json()["data"])


def test_a_capture_retried_with_its_key_answers_the_payment_as_it_is_now(stack: RunningStack, user: ApiClient) -> None:
    # Given a hold captured in part with a key, and part of it refunded since
    hold = user.pay(4000, capture_method="manual").json()
    pid = hold["payment_id"]
    first = user.call("POST", f"/payments/{pid}/capture", {"amount": 3000}, key="cap-1")
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert user.refund(pid, 1000).status_code == 201
    # When the capture is retried with its key and body
    again = user.call("POST", f"/payments/{pid}/capture", {"amount": 3000}, key="cap-1")
    # Then it is answered the payment as it is now, as a replay (not 409 payment_not_capturable)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.json()["status"], again.json()["amount_captured"]) == ("partially_refunded", 3000)
    # And the same key with another body is refused; another key finds nothing left to capture
    other = user.call("POST", f"/payments/{pid}/capture", {"amount": 2000}, key="cap-1")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    late = user.call("POST", f"/payments/{pid}/capture", {"amount": 3000}, key="cap-2")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "payment_not_capturable")
    # And Stripe captured once
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{hold['provider_payment_id']}", auth=("sk_test_x", ""), timeout=10
    ).json()
    assert at_provider["amount_received"] == 3000
    assert stack.events_for(pid).count("PaymentSucceeded") == 1


def test_a_cancel_retried_with_its_key_is_answered_the_canceled_payment(stack: RunningStack, user: ApiClient) -> None:
    hold = user.pay(4000, capture_method="manual").json()
    pid = hold["payment_id"]
    before = idempotency_records(stack)
    first = user.call("POST", f"/payments/{pid}/cancel", key="can-1")
    assert first.status_code == 200, first.text
    # The payment is the cancel's record, for as long as it exists (not a record that expires in 48 h)
    forget_idempotency_records(stack, before)
    again = user.call("POST", f"/payments/{pid}/cancel", key="can-1")
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    late = user.call("POST", f"/payments/{pid}/cancel", key="can-2")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "payment_not_cancelable")
    assert stack.events_for(pid).count("PaymentCanceled") == 1


def test_concurrent_identical_captures_capture_once_and_all_get_the_payment(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given a hold, and eight identical captures (one key, one body) sent at once
    hold = user.pay(4000, capture_method="manual").json()
    pid = hold["payment_id"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: user.call("POST", f"/payments/{pid}/capture", {"amount": 2500}, key="cap-x"), range(8))
        )
    # Then every one is answered the captured payment, one of them first and the rest as its replays
    assert {answer.status_code for answer in answers} == {200}, [answer.text for answer in answers]
    assert {answer.json()["amount_captured"] for answer in answers} == {2500}
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 7
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{hold['provider_payment_id']}", auth=("sk_test_x", ""), timeout=10
    ).json()
    assert at_provider["amount_received"] == 2500
    assert stack.events_for(pid).count("PaymentSucceeded") == 1


def test_concurrent_identical_refunds_refund_once_at_the_provider(stack: RunningStack, user: ApiClient) -> None:
    # Given a payment, and eight identical refunds sent at once (localstripe ignores Idempotency-Key:
    # our own store must keep them to one)
    payment = user.pay(1000).json()
    pid = payment["payment_id"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: user.refund(pid, 400, key="ref-x"), range(8)))
    assert {answer.status_code for answer in answers} == {201}, [answer.text for answer in answers]
    assert len({answer.json()["refund_id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 7
    assert len(stripe_refunds_of(stack, payment["provider_payment_id"])) == 1
    assert user.call("GET", f"/payments/{pid}").json()["amount_refunded"] == 400


# --- outbox --------------------------------------------------------------------------------------


def test_every_state_change_leaves_one_outbox_item(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1000).json()
    user.refund(payment["payment_id"], 400)
    events = stack.events_for(payment["payment_id"])
    assert events == sorted(["PaymentCreated", "PaymentSucceeded", "RefundCreated", "RefundSucceeded"])
    for item in stack.outbox():
        detail = item["detail"]
        assert set(detail) == {"event_id", "event_version", "occurred_at", "user_id", "payment", "refund"}
        assert "client_secret" not in detail["payment"]


@pytest.mark.parametrize("description", ["Order 1042", "x" * 1000, None])
def test_a_payment_carries_its_description_to_the_provider(
    stack: RunningStack, user: ApiClient, description: str | None
) -> None:
    # Given / When
    payment = user.pay(900, description=description).json()
    # Then: Stripe's dashboard and receipts show what the client wrote
    assert payment["description"] == description
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/payment_intents/{payment['provider_payment_id']}", auth=("sk_test_x", ""), timeout=10
    ).json()
    assert at_provider.get("description") == description


@pytest.mark.parametrize("reason", ["duplicate", "fraudulent", "requested_by_customer"])
def test_a_refund_carries_its_reason_to_the_provider(stack: RunningStack, user: ApiClient, reason: str) -> None:
    payment = user.pay(800).json()
    pid = payment["payment_id"]
    refund = user.call("POST", f"/payments/{pid}/refunds", {"amount": 300, "reason": reason}, key=uuid.uuid4().hex)
    assert refund.status_code == 201, refund.text
    assert refund.json()["reason"] == reason
    refund_id = refund.json()["refund_id"]
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/refunds",
        params={"payment_intent": payment["provider_payment_id"], "limit": 100},
        auth=("sk_test_x", ""),
        timeout=10,
    ).json()["data"]
    assert [r.get("reason") for r in at_provider if (r.get("metadata") or {}).get("refund_id") == refund_id] == [reason]


def at_provider(stack: RunningStack, intent_id: str, action: str, settles_as: str) -> None:
    """Acts on an intent at the provider directly, as Stripe itself or its dashboard would, and waits
    until the provider reports it settled (localstripe captures asynchronously)."""
    url = f"{stack.stripe_url}/v1/payment_intents/{intent_id}"
    response = requests.post(f"{url}/{action}", auth=("sk_test_x", ""), timeout=10)
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 10
    while requests.get(url, auth=("sk_test_x", ""), timeout=10).json()["status"] != settles_as:
        assert time.monotonic() < deadline, f"{intent_id} never became {settles_as}"
        time.sleep(0.1)


def test_a_hold_canceled_at_the_provider_is_not_capturable_and_ours_follows(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given a hold the provider has since canceled (as Stripe does when a hold expires)
    hold = user.pay(4000, capture_method="manual").json()
    at_provider(stack, hold["provider_payment_id"], "cancel", settles_as="canceled")

    # When the client captures it
    capture = user.call("POST", f"/payments/{hold['payment_id']}/capture", {}, key=uuid.uuid4().hex)

    # Then it is told the payment cannot be captured (not a 502 to retry), and ours is canceled too
    assert capture.status_code == 409, capture.text
    assert capture.json()["error"]["code"] == "payment_not_capturable"
    assert user.call("GET", f"/payments/{hold['payment_id']}").json()["status"] == "canceled"
    assert stack.events_for(hold["payment_id"]) == ["PaymentCanceled", "PaymentCreated"]


def test_a_hold_captured_at_the_provider_is_not_cancelable_and_ours_follows(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given a hold captured at the provider (on Stripe's dashboard, say)
    hold = user.pay(4000, capture_method="manual").json()
    at_provider(stack, hold["provider_payment_id"], "capture", settles_as="succeeded")

    # When the client cancels it
    cancel = user.call("POST", f"/payments/{hold['payment_id']}/cancel", None, key=uuid.uuid4().hex)

    # Then it is told the payment cannot be canceled, and ours shows the money moved
    assert cancel.status_code == 409, cancel.text
    assert cancel.json()["error"]["code"] == "payment_not_cancelable"
    payment = user.call("GET", f"/payments/{hold['payment_id']}").json()
    assert (payment["status"], payment["amount"]) == ("succeeded", 4000)
    assert "PaymentSucceeded" in stack.events_for(hold["payment_id"])
