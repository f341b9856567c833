"""One-time codes for payments at or above the threshold, over HTTP on the local stack."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import requests

from tests.integration.conftest import ApiClient, RunningStack, user_id_of, wait_for
from tests.integration.test_payments import stripe_intents_for

pytestmark = pytest.mark.integration
THRESHOLD = 50_000
SEEN_RESPONSES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def no_response_carried_a_code(stack: RunningStack) -> Iterator[None]:
    """Once the module's last test has run, in whatever order they ran: no verify answer held a code
    (a failure: at its teardown)."""
    yield
    assert responses_carrying_a_code(stack) == []


def responses_carrying_a_code(stack: RunningStack) -> list[str]:
    codes = set(re.findall(r"Your code is (\d{6})", stack.log()))
    return [code for code in codes for text in SEEN_RESPONSES if f'"{code}"' in text or f" {code}" in text]


def codes_for(stack: RunningStack, email: str) -> list[str]:
    """Codes emailed to ``email``, newest first."""
    items = requests.get(f"{stack.api_url}/_local/emails", timeout=10).json()["items"]
    return [
        m.group(1) for item in items if item["to"] == email and (m := re.search(r"Your code is (\d{6})", item["body"]))
    ]


def codes_numbering(stack: RunningStack, email: str, count: int) -> list[str]:
    """The codes emailed to ``email``, newest first, once there are ``count`` of them; else none."""
    codes = codes_for(stack, email)
    return codes if len(codes) == count else []


def large_payment(stack: RunningStack, user: ApiClient) -> dict[str, Any]:
    response = user.pay(THRESHOLD)
    assert response.status_code == 201, response.text
    return dict(response.json())


def verify(user: ApiClient, payment_id: str, code: str) -> requests.Response:
    response = user.call("POST", f"/payments/{payment_id}/otp/verify", {"code": code})
    SEEN_RESPONSES.append(response.text)
    return response


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_below_the_threshold_nothing_changes(user: ApiClient) -> None:
    assert user.pay(THRESHOLD - 1).json()["status"] == "succeeded"


def test_at_the_threshold_the_payment_waits_for_an_emailed_code(stack: RunningStack, user: ApiClient) -> None:
    payment = large_payment(stack, user)
    assert payment["status"] == "requires_otp"
    assert payment["provider_payment_id"] is None
    assert stripe_intents_for(stack, payment["payment_id"]) == [], "no money moves yet"
    codes = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")
    assert len(codes) == 1
    # The right code confirms it with the provider
    confirmed = verify(user, payment["payment_id"], codes[0])
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment["payment_id"])) == 1
    # The same code again confirms nothing more
    again = verify(user, payment["payment_id"], codes[0])
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "otp_not_required"
    assert len(stripe_intents_for(stack, payment["payment_id"])) == 1
    assert stack.events_for(payment["payment_id"]).count("PaymentSucceeded") == 1


def test_wrong_codes_count_down_then_cancel(stack: RunningStack, user: ApiClient) -> None:
    payment = large_payment(stack, user)
    code = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]
    for remaining in (4, 3, 2, 1):
        response = verify(user, payment["payment_id"], wrong(code))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == {
            **response.json()["error"],
            "code": "invalid_otp",
            "attempts_remaining": remaining,
        }
    fifth = verify(user, payment["payment_id"], wrong(code))
    assert fifth.status_code == 429, fifth.text
    assert fifth.json()["error"]["code"] == "too_many_attempts"
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "canceled"
    # Even the right code is refused now
    assert verify(user, payment["payment_id"], code).status_code == 409


def test_twenty_concurrent_wrong_guesses_get_at_most_five_checks(stack: RunningStack, user: ApiClient) -> None:
    payment = large_payment(stack, user)
    code = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: verify(user, payment["payment_id"], wrong(code)), range(20)))
    statuses = Counter(r.status_code for r in responses)
    bodies = Counter(r.text[:80] for r in responses if r.status_code not in (400, 409, 429))
    assert statuses[400] == 4, (statuses, bodies)  # four checked and wrong, one more checked and canceling
    assert statuses[429] + statuses[409] == 16, (statuses, bodies)
    dynamodb = stack.client("dynamodb")
    user_id = user_id_of(user)
    item = dynamodb.get_item(
        TableName="AppTable", Key={"PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"OTP#{payment['payment_id']}"}}
    )
    assert item["Item"]["attempts"]["N"] == "5"
    assert user.call("GET", f"/payments/{payment['payment_id']}").json()["status"] == "canceled"


def race_a_cancel_against_four_verifies(stack: RunningStack, user: ApiClient) -> None:
    """Four verifies of the right code (a double-clicking client) and a cancel, all at once: either the
    cancel or one verify wins; ours says which, and the provider agrees."""
    pid = large_payment(stack, user)["payment_id"]
    code = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]

    def send(job: str) -> requests.Response:
        if job == "cancel":
            return user.call("POST", f"/payments/{pid}/cancel", key=f"cancel-{pid}")
        return verify(user, pid, code)

    jobs = ["v1", "v2", "v3", "v4", "cancel"]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = dict(zip(jobs, pool.map(send, jobs), strict=True))
    ours = user.call("GET", f"/payments/{pid}").json()["status"]
    charged = [pi["status"] for pi in stripe_intents_for(stack, pid)]
    winners = [job for job, answer in answers.items() if answer.status_code == 200]
    assert len(winners) == 1, {job: answer.text for job, answer in answers.items()}
    if winners == ["cancel"]:
        assert (ours, charged) == ("canceled", []), "a canceled payment was charged"
    else:
        assert (ours, charged) == ("succeeded", ["succeeded"])
        assert answers["cancel"].json()["error"]["code"] == "payment_not_cancelable"


def test_a_cancel_sent_with_the_right_code_leaves_ours_and_the_provider_agreeing(
    stack: RunningStack, user: ApiClient
) -> None:
    for _ in range(3):
        race_a_cancel_against_four_verifies(stack, user)


def test_a_resend_invalidates_the_old_code_and_a_fourth_send_is_refused(stack: RunningStack, user: ApiClient) -> None:
    payment = large_payment(stack, user)
    first = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]
    sent = user.call("POST", f"/payments/{payment['payment_id']}/otp")
    assert sent.status_code == 202, sent.text
    assert sent.json()["expires_at"].endswith("Z")
    second = wait_for(lambda: (c := codes_for(stack, user.email)) and len(c) == 2 and c, 10, "a second code")[0]
    if second != first:  # one time in a million the fresh code equals the old one
        assert verify(user, payment["payment_id"], first).status_code == 400
    assert user.call("POST", f"/payments/{payment['payment_id']}/otp").status_code == 202  # 3rd send
    fourth = user.call("POST", f"/payments/{payment['payment_id']}/otp")
    assert fourth.status_code == 429
    assert fourth.json()["error"]["code"] == "rate_limited"
    assert 0 < int(fourth.headers["Retry-After"]) <= 900
    latest = wait_for(lambda: (c := codes_for(stack, user.email)) and len(c) == 3 and c, 10, "a third code")[0]
    assert verify(user, payment["payment_id"], latest).json()["status"] == "succeeded"


def test_a_guesser_opening_payment_after_payment_gets_twenty_wrong_codes_a_day(
    stack: RunningStack, user: ApiClient
) -> None:
    # Given four large payments, each canceled by five wrong codes (sent five at a time)
    for sent in range(1, 5):
        payment_id = large_payment(stack, user)["payment_id"]
        codes = wait_for(partial(codes_numbering, stack, user.email, sent), 10, "its code")
        guesses = [(payment_id, wrong(codes[0]))] * 5
        with ThreadPoolExecutor(max_workers=5) as pool:
            answers = list(pool.map(lambda guess: verify(user, *guess), guesses))
        assert sorted(a.status_code for a in answers) == [400, 400, 400, 400, 429], [a.text for a in answers]
    # When a fifth is opened, no guess at it is answered (not even the right one) until the day is over
    fifth = large_payment(stack, user)
    codes = wait_for(lambda: (c := codes_for(stack, user.email)) and len(c) == 5 and c, 10, "the fifth code")
    refused = verify(user, fifth["payment_id"], codes[0])
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited"), refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    # And the payment still waits (no guess was made at it), with no money moved
    assert user.call("GET", f"/payments/{fifth['payment_id']}").json()["status"] == "requires_otp"
    assert stripe_intents_for(stack, fifth["payment_id"]) == []


def test_a_user_is_emailed_at_most_thirty_codes_a_day(stack: RunningStack, user: ApiClient) -> None:
    # Given ten large payments, each code sent three times (the first and two more): 30 emails
    payment_ids = [large_payment(stack, user)["payment_id"] for _ in range(10)]
    for payment_id in payment_ids:
        for _ in range(2):
            assert user.call("POST", f"/payments/{payment_id}/otp").status_code == 202
    wait_for(partial(codes_numbering, stack, user.email, 30), 20, "thirty codes")
    # When the 31st is asked for, as a new large payment, it is refused before anything is stored
    listed = len(user.call("GET", "/payments?limit=100").json()["items"])
    refused = user.pay(THRESHOLD)
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited"), refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert len(user.call("GET", "/payments?limit=100").json()["items"]) == listed
    # Then a payment below the threshold still goes through, and no 31st email was sent
    assert user.pay(THRESHOLD - 1).json()["status"] == "succeeded"
    assert len(codes_for(stack, user.email)) == 30


def test_otp_routes_for_a_payment_that_needs_none(stack: RunningStack, user: ApiClient) -> None:
    payment = user.pay(1000).json()
    assert user.call("POST", f"/payments/{payment['payment_id']}/otp").json()["error"]["code"] == "otp_not_required"
    assert verify(user, payment["payment_id"], "123456").status_code == 409
    assert verify(user, "pay_unknown", "123456").status_code == 404
    assert user.call("POST", f"/payments/{payment['payment_id']}/otp/verify", {"code": "12ab"}).status_code == 422


def test_no_response_carried_a_code(stack: RunningStack, user: ApiClient) -> None:
    # A round of its own, wrong code then right, so this test stands alone (the fixture above checks
    # the answers of the tests that run after it)
    payment = large_payment(stack, user)
    code = wait_for(lambda: codes_for(stack, user.email), 10, "the code email")[0]
    assert verify(user, payment["payment_id"], wrong(code)).status_code == 400
    assert verify(user, payment["payment_id"], code).status_code == 200
    codes = wait_for(lambda: set(re.findall(r"Your code is (\d{6})", stack.log())), 10, "the console's copy")
    assert codes
    assert responses_carrying_a_code(stack) == []
