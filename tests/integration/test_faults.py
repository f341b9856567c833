"""Faults the system must survive (docs/testing.md), injected at the HTTP client (Stripe) and at botocore (DynamoDB).

The payment service runs in-process on moto's DynamoDB (tables from template.yaml) against the
session's localstripe, so every PaymentIntent can be counted at the provider.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from botocore.awsrequest import AWSResponse

from payments_core import clock
from payments_core.api import status_of
from payments_core.aws import dynamodb_client
from payments_core.errors import DomainError
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.leases import LEASE_SECONDS
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.providers.stripe.http import Urllib3Client
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.service import SETTLED_FINGERPRINT_LENGTH, PaymentService
from tests.conftest import published_events
from tests.domain import build_payments, create
from tests.integration.conftest import RunningStack, run_meanwhile
from tests.integration.test_payments import stripe_intents_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]


class FaultyStripeClient(Urllib3Client):
    """Forwards to localstripe, then misbehaves as told for matching calls."""

    def __init__(self) -> None:
        super().__init__(timeout=(2, 6))
        self.plan: list[tuple[str, str, str]] = []  # (method, path suffix, fault)
        self.seen: list[str] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **kwargs: Any) -> Any:
        self.seen.append(f"{method.upper()} {url}")
        for index, (fault_method, suffix, fault) in enumerate(self.plan):
            if method.upper() == fault_method and url.split("?")[0].endswith(suffix):
                self.plan.pop(index)
                if fault == "lost_answer":  # the provider processes it; the answer never arrives
                    super().request(method, url, headers, post_data, **kwargs)
                    raise stripe.APIConnectionError("injected: connection reset after the request was sent")  # type: ignore[no-untyped-call]
                if fault == "crash_after":  # the Lambda dies (timeout) right after the provider processed it
                    super().request(method, url, headers, post_data, **kwargs)
                    raise TimeoutError("injected: Lambda timed out")
                if fault == "unreachable":
                    raise stripe.APIConnectionError("injected: connection refused")  # type: ignore[no-untyped-call]
                if fault == "refused":  # Stripe refuses the request itself (e.g. refunded on its dashboard)
                    error = {"type": "invalid_request_error", "code": "charge_already_refunded", "message": "injected"}
                    return json.dumps({"error": error}), 400, {"request-id": "req_injected"}
                status = int(fault)
                body = json.dumps({"error": {"type": "api_error", "message": "injected"}})
                return body, status, {"request-id": "req_injected"}
        return super().request(method, url, headers, post_data, **kwargs)


@pytest.fixture
def faulty(stack: RunningStack) -> tuple[PaymentService, FaultyStripeClient]:
    client = FaultyStripeClient()
    gateway = StripeGateway("sk_test_faults", stack.stripe_url, http_client=client)
    return build_payments(PaymentRepository("AppTable"), gateway, otp_threshold=50_000), client


def order(amount: int = 2500) -> CreatePaymentRequest:
    return CreatePaymentRequest(amount=amount, currency="usd", payment_method="pm_card_visa")


def test_a_lost_answer_is_recovered_without_a_second_intent(stack: RunningStack, faulty: Any) -> None:
    service, client = faulty
    client.plan = [("POST", "/v1/payment_intents", "lost_answer")]
    outcome = create(service, "usr_1", order(), uuid.uuid4().hex, "req")
    assert outcome["status"] == 201
    assert outcome["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, outcome["body"]["payment_id"])) == 1


def test_a_retry_after_a_lost_answer_and_no_lookup_still_makes_one_intent(stack: RunningStack, faulty: Any) -> None:
    service, client = faulty
    key = uuid.uuid4().hex
    client.plan = [("POST", "/v1/payment_intents", "lost_answer"), ("GET", "/v1/payment_intents", "unreachable")]
    with pytest.raises(DomainError) as first:
        create(service, "usr_1", order(), key, "req")
    assert status_of(first.value) == 503
    retry = create(service, "usr_1", order(), key, "req")
    assert retry["status"] == 201
    assert len(stripe_intents_for(stack, retry["body"]["payment_id"])) == 1


def test_a_lambda_timeout_after_the_provider_call_then_a_retry_makes_one_intent(
    stack: RunningStack, faulty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, client = faulty
    key = uuid.uuid4().hex
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    client.plan = [("POST", "/v1/payment_intents", "crash_after")]
    with pytest.raises(TimeoutError):
        create(service, "usr_1", order(), key, "req")
    # Until no Lambda could still be running the first attempt, a retry is asked to come back
    with pytest.raises(DomainError) as early:
        create(service, "usr_1", order(), key, "req")
    assert (status_of(early.value), early.value.code) == (409, "request_in_progress")
    now[0] += LEASE_SECONDS
    retry = create(service, "usr_1", order(), key, "req")
    assert retry["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, retry["body"]["payment_id"])) == 1


@pytest.mark.parametrize(
    ("fault", "status", "code"), [("500", 502, "provider_error"), ("429", 503, "provider_unavailable")]
)
def test_provider_errors_map_to_the_contract_and_a_retry_succeeds(
    stack: RunningStack, faulty: Any, fault: str, status: int, code: str
) -> None:
    service, client = faulty
    key = uuid.uuid4().hex
    client.plan = [("POST", "/v1/payment_intents", fault)]
    with pytest.raises(DomainError) as error:
        create(service, "usr_1", order(), key, "req")
    assert (status_of(error.value), error.value.code) == (status, code)
    retry = create(service, "usr_1", order(), key, "req")
    assert retry["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, retry["body"]["payment_id"])) == 1


def test_a_payment_the_provider_refuses_as_a_whole_fails_and_its_retry_gets_the_same_answer(
    stack: RunningStack, faulty: Any
) -> None:
    service, client = faulty
    user, key = f"usr_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex

    # When the provider refuses the create itself (a 400 about no field the client chose)
    client.plan = [("POST", "/v1/payment_intents", "refused")]
    first = create(service, user, order(), key, "req-1")

    # Then the client is told in the envelope, with nothing of the provider's answer
    assert first["status"] == 502
    assert first["body"] == {
        "error": {"code": "provider_error", "message": "The payment provider returned an error.", "request_id": "req-1"}
    }
    # And the payment is failed, not left `processing` for ever, with its failure on its way to the bus
    [payment], _ = service.repository.list(user, 10, None)
    assert (payment.status, payment.provider_payment_id, payment.provider_refused) == ("failed", None, True)
    events = [
        {"detail_type": kind, "detail": detail}
        for kind, detail in published_events()
        if payment.payment_id in json.dumps(detail)
    ]
    assert sorted(event["detail_type"] for event in events) == ["PaymentCreated", "PaymentFailed"]

    # And a retry with the same key gets the same answer without asking the provider again
    retry = create(service, user, order(), key, "req-1")
    assert retry == first
    assert [call for call in client.seen if call.startswith("POST") and "/v1/payment_intents" in call] == [
        f"POST {stack.stripe_url}/v1/payment_intents"
    ]
    assert stripe_intents_for(stack, payment.payment_id) == []


def test_a_lost_refund_answer_refunds_once(stack: RunningStack, faulty: Any) -> None:
    service, client = faulty
    payment = create(service, "usr_1", order(1000), uuid.uuid4().hex, "req")["body"]
    client.plan = [("POST", "/v1/refunds", "lost_answer")]
    refund = service.refund("usr_1", payment["payment_id"], RefundRequest(amount=400), "r-1")
    assert refund.status == "succeeded"
    import requests

    refunds = requests.get(
        f"{stack.stripe_url}/v1/refunds",
        params={"payment_intent": payment["provider_payment_id"]},
        auth=("sk_test_x", ""),
        timeout=10,
    ).json()["data"]
    assert len(refunds) == 1


def test_a_refund_the_provider_refuses_fails_and_releases_its_amount(stack: RunningStack, faulty: Any) -> None:
    service, client = faulty
    payment = create(service, "usr_1", order(1000), uuid.uuid4().hex, "req")["body"]
    pid = payment["payment_id"]

    # When the provider refuses the refund as invalid
    client.plan = [("POST", "/v1/refunds", "refused")]
    refused = service.refund("usr_1", pid, RefundRequest(amount=1000), "r-refused")

    # Then the client is told it failed (not a 5xx to retry forever), nothing was refunded, the amount
    # is no longer reserved, and its failure is on its way to the bus
    assert refused.status == "failed"
    stored = service.repository.get("usr_1", pid)
    assert stored is not None
    assert (stored.amount_reserved, stored.amount_refunded, stored.status) == (0, 0, "succeeded")
    events = [
        {"detail_type": kind, "detail": detail}
        for kind, detail in published_events()
        if refused.refund_id in json.dumps(detail)
    ]
    assert sorted(event["detail_type"] for event in events) == ["RefundCreated", "RefundFailed"]
    # And the whole amount can still be refunded
    again = service.refund("usr_1", pid, RefundRequest(amount=1000), "r-again")
    assert again.status == "succeeded"


def _throttle_first(operation: str, count: int, code: str, extra: dict[str, Any] | None = None) -> list[int]:
    """Makes the next ``count`` calls of ``operation`` fail with ``code`` before reaching moto."""
    seen: list[int] = []

    def handler(request: Any, **_: Any) -> AWSResponse | None:
        if len(seen) >= count:
            return None
        seen.append(1)
        body = json.dumps(
            {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **(extra or {})}
        )
        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": code}, _RawBody(body.encode()))  # type: ignore[arg-type]

    dynamodb_client().meta.events.register_first(f"before-send.dynamodb.{operation}", handler)  # type: ignore[arg-type]
    return seen


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def test_dynamodb_throttling_is_absorbed_by_retries(stack: RunningStack, faulty: Any) -> None:
    service, _ = faulty
    seen = _throttle_first("PutItem", 2, "ProvisionedThroughputExceededException")
    outcome = create(service, "usr_1", order(), uuid.uuid4().hex, "req")
    assert len(seen) == 2
    assert outcome["body"]["status"] == "succeeded"


def test_a_write_that_loses_a_race_is_read_again_and_retried(stack: RunningStack, faulty: Any) -> None:
    service, _ = faulty
    payment = create(service, "usr_1", order(1000), uuid.uuid4().hex, "req")["body"]
    # Another writer got there between our read and our conditional write: its condition fails once
    seen = _throttle_first("PutItem", 1, "ConditionalCheckFailedException")
    refund = service.refund("usr_1", payment["payment_id"], RefundRequest(amount=100), "r-1")
    assert seen == [1]
    assert refund.status == "succeeded"


def test_a_creation_applied_before_its_lost_answer_is_retried_is_still_this_requests_own(
    stack: RunningStack, faulty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DynamoDB whose answer to the creation write is lost, so the client sends it again
    service, _ = faulty
    client = dynamodb_client()
    real = client.put_item
    calls: list[int] = []

    def lost_answer_then_retry(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            real(**kwargs)  # applied...
            return real(**kwargs)  # ...and the retry meets its own write: ConditionalCheckFailed
        return real(**kwargs)

    monkeypatch.setattr(client, "put_item", lost_answer_then_retry)
    # When the payment is created
    outcome = create(service, "usr_1", order(), uuid.uuid4().hex, "req")
    # Then it is confirmed at once, not taken for an earlier request still confirming it
    assert outcome["status"] == 201, outcome
    assert outcome["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, outcome["body"]["payment_id"])) == 1


def test_a_second_capture_racing_the_first_waits_its_turn_and_changes_nothing(stack: RunningStack, faulty: Any) -> None:
    from payments_core.payments.capture_request import CaptureRequest

    # Given a hold of 40.00, captured for 30.00 by one request
    service, _ = faulty
    user = f"usr_{uuid.uuid4().hex[:12]}"
    hold = create(service, user, order(4000).model_copy(update={"capture_method": "manual"}), uuid.uuid4().hex, "req")
    pid = hold["body"]["payment_id"]
    # When a second request, for 10.00, lands before the first has stored the provider's answer
    second = run_meanwhile(
        service.providers["stripe"],
        "capture",
        lambda: service.capture(user, pid, CaptureRequest(amount=1000), uuid.uuid4().hex),
    )
    first = service.capture(user, pid, CaptureRequest(amount=3000), uuid.uuid4().hex)
    # Then the second never reached the provider (localstripe would have captured again), what is
    # stored is what moved there, and a retry of the second, once the first is done, is refused
    assert isinstance(second[0], DomainError)
    assert (status_of(second[0]), second[0].code) == (409, "request_in_progress")
    assert second[0].retry_after == 1
    stored = service.repository.get(user, pid)
    assert stored is not None
    assert stored.amount_captured == first.amount_captured == 3000
    with pytest.raises(DomainError) as retry:
        service.capture(user, pid, CaptureRequest(amount=1000), uuid.uuid4().hex)
    assert (status_of(retry.value), retry.value.code) == (409, "payment_not_capturable")
    assert service.repository.get(user, pid).amount_captured == 3000


def test_a_cancel_racing_a_verified_code_cancels_only_a_payment_still_waiting_for_it() -> None:
    from payments_core.payments.models import Payment
    from payments_core.payments.transitions import cancel_locally

    # A verified code moves the payment to `processing` and confirms it with the provider; a cancel
    # that read it before the move must not cancel it after (the provider may be charging it).
    waiting = Payment(
        payment_id="pay_1", user_id="usr_1", status="requires_otp", amount=60_000, currency="usd",
        payment_method="pm_card_visa", request_fingerprint="f", created_at="t", updated_at="t",
    )  # fmt: skip
    change = cancel_locally(waiting)
    assert change is not None
    assert change.payment.status == "canceled"
    assert cancel_locally(waiting.model_copy(update={"status": "processing"})) is None


def test_the_provider_key_of_a_capture_is_the_client_operations_own(stack: RunningStack, faulty: Any) -> None:
    from payments_core.payments.capture_request import CaptureRequest

    # Given a hold whose first capture the provider refuses (Stripe keeps that answer for its key)
    service, client = faulty
    user = f"usr_{uuid.uuid4().hex[:12]}"
    pid = create(service, user, order(4000).model_copy(update={"capture_method": "manual"}), uuid.uuid4().hex, "r")[
        "body"
    ]["payment_id"]
    sent: list[str] = []
    forward = client.request

    def recording(method: str, url: str, headers: Any, post_data: Any = None, **kwargs: Any) -> Any:
        if url.split("?")[0].endswith("/capture"):
            sent.append(headers.get("Idempotency-Key"))
        return forward(method, url, headers, post_data, **kwargs)

    client.request = recording
    client.plan = [("POST", "/capture", "refused")]
    with pytest.raises(DomainError) as failed:
        service.capture(user, pid, CaptureRequest(amount=3000), "client-key-1")
    assert status_of(failed.value) == 502
    # When the client sends another capture under a new key, then the provider is asked under a new key
    captured = service.capture(user, pid, CaptureRequest(amount=2000), "client-key-2")
    assert captured.amount_captured == 2000
    assert len(sent) == 2
    assert sent[0] != sent[1], "a second capture would meet the first one's stored error at Stripe"
    # And the provider key is derived from our stored ids and the body, so a retry of one operation
    # (same key, same body) re-sends its key
    from payments_core.idempotency_keys import fingerprint
    from payments_core.payments.transitions import operation_id

    def provider_key(client_key: str, amount: int) -> str:
        body = fingerprint(CaptureRequest(amount=amount).model_dump(mode="json"))[:SETTLED_FINGERPRINT_LENGTH]
        return f"{operation_id('cap', user, pid, client_key)}-{body}"

    assert sent == [provider_key("client-key-1", 3000), provider_key("client-key-2", 2000)]


# --- capture, cancel and refunds are their own idempotency records -------------------------------
def provider_posts(client: FaultyStripeClient, suffix: str) -> int:
    return sum(1 for call in client.seen if call.startswith("POST") and call.split("?")[0].endswith(suffix))


def manual_hold(service: PaymentService, user: str, amount: int = 4000) -> str:
    request = order(amount).model_copy(update={"capture_method": "manual"})
    return str(create(service, user, request, uuid.uuid4().hex, "req")["body"]["payment_id"])


def test_a_capture_meeting_its_keys_first_request_at_the_provider_waits_and_stripe_captures_once(
    stack: RunningStack, faulty: Any
) -> None:
    import threading

    from payments_core.payment_outcomes import patiently
    from payments_core.payments.capture_request import CaptureRequest
    from payments_core.payments.leases import KEY_IN_PROGRESS

    # Given a capture whose call to the provider takes a while
    service, client = faulty
    user = f"usr_{uuid.uuid4().hex[:12]}"
    pid = manual_hold(service, user)
    gateway = service.providers["stripe"]
    real, entered, gate = gateway.capture, threading.Event(), threading.Event()

    def slow(*args: Any) -> Any:
        entered.set()
        gate.wait(10)
        return real(*args)

    gateway.capture = slow
    first: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: first.update(answer=service.capture_once(user, pid, CaptureRequest(amount=3000), "cap-1"))
    )
    thread.start()
    assert entered.wait(10)
    threading.Timer(0.5, gate.set).start()
    # When the same request arrives meanwhile, as the capture route runs it
    second = patiently(
        lambda: service.capture_once(user, pid, CaptureRequest(amount=3000), "cap-1"), waits_for=KEY_IN_PROGRESS
    )
    thread.join()
    # Then it waited for the first and answers what it did, as a replay; the provider was asked once
    assert first["answer"][1] is False
    assert (second[0].status, second[0].amount_captured, second[1]) == ("succeeded", 3000, True)
    assert provider_posts(client, "/capture") == 1


def test_a_capture_whose_lambda_died_after_the_provider_captured_is_resumed_once_by_its_retry(
    stack: RunningStack, faulty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments.capture_request import CaptureRequest

    service, client = faulty
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    user = f"usr_{uuid.uuid4().hex[:12]}"
    pid = manual_hold(service, user)
    # Given a capture the provider made, whose Lambda timed out before it stored the answer
    client.plan = [("POST", "/capture", "crash_after")]
    with pytest.raises(TimeoutError):
        service.capture(user, pid, CaptureRequest(amount=3000), "cap-1")
    # Until no Lambda could still be running it, its retry is asked to come back
    with pytest.raises(DomainError) as early:
        service.capture(user, pid, CaptureRequest(amount=3000), "cap-1")
    assert (status_of(early.value), early.value.code) == (409, "request_in_progress")
    # Then the retry resumes it: what the provider captured is stored, and the payment is answered
    now[0] += LEASE_SECONDS
    resumed = service.capture(user, pid, CaptureRequest(amount=3000), "cap-1")
    assert (resumed.status, resumed.amount_captured, resumed.lease_holder) == ("succeeded", 3000, None)
    intent = service.providers["stripe"].retrieve_intent(resumed.provider_payment_id or "")
    assert intent.amount_received == 3000
    # And every later retry is a replay of it, with no further call to the provider
    calls = provider_posts(client, "/capture")
    assert service.capture_once(user, pid, CaptureRequest(amount=3000), "cap-1") == (resumed, True)
    assert provider_posts(client, "/capture") == calls


def test_a_refund_whose_lambda_died_after_the_provider_refunded_is_resumed_once_by_its_retry(
    stack: RunningStack, faulty: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    service, client = faulty
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    user = f"usr_{uuid.uuid4().hex[:12]}"
    payment = create(service, user, order(1000), uuid.uuid4().hex, "req")["body"]
    pid = payment["payment_id"]
    # Given a refund the provider made, whose Lambda timed out before it stored the answer
    client.plan = [("POST", "/v1/refunds", "crash_after")]
    with pytest.raises(TimeoutError):
        service.refund(user, pid, RefundRequest(amount=400), "r-1")
    # Until no Lambda could still be sending it, its retry is asked to come back (not sent again)
    with pytest.raises(DomainError) as early:
        service.refund(user, pid, RefundRequest(amount=400), "r-1")
    assert (status_of(early.value), early.value.code) == (409, "request_in_progress")
    # Then the retry finds the provider's refund and stores it: one refund, at the provider and here
    now[0] += LEASE_SECONDS
    resumed = service.refund(user, pid, RefundRequest(amount=400), "r-1")
    assert (resumed.status, resumed.amount) == ("succeeded", 400)
    at_provider = requests.get(
        f"{stack.stripe_url}/v1/refunds",
        params={"payment_intent": payment["provider_payment_id"]},
        auth=("sk_test_x", ""),
        timeout=10,
    ).json()["data"]
    assert len(at_provider) == 1
    assert provider_posts(client, "/v1/refunds") == 1
    stored = service.repository.get(user, pid)
    assert stored is not None
    assert (stored.amount_refunded, stored.amount_reserved) == (400, 400)
