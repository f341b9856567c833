"""Races around a one-time code, interleaved deterministically in-process on moto and localstripe.

Each test runs a second request at the exact point where the first one is most exposed (the code
just used, the provider call in flight) and then lets the first finish, counting PaymentIntents at
localstripe itself.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from payments_core import clock
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from payments_core.errors import ApiError
from payments_core.otp import OtpService
from payments_core.payments.gateway import StripeGateway
from payments_core.payments.models import CreatePaymentRequest
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.service import PaymentService
from tests.integration.conftest import RunningStack, outcome_of, run_meanwhile
from tests.integration.test_payments import stripe_intents_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]
PEPPER = "pepper-for-races-only-0123456789abcdef"


@dataclass
class Otp:
    payments: PaymentService
    otp: OtpService
    user_id: str
    now: list[int]

    def create(self, amount: int = 60_000) -> str:
        request = CreatePaymentRequest(amount=amount, currency="usd", payment_method="pm_card_visa")
        return str(self.payments.create(self.user_id, request, uuid.uuid4().hex, "req")["body"]["payment_id"])

    def verify(self, payment_id: str, code: str) -> Any:
        return self.otp.verify(self.payments.get(self.user_id, payment_id), code, "req")

    def status(self, payment_id: str) -> str:
        return self.payments.get(self.user_id, payment_id).status


@pytest.fixture
def races(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Otp:
    boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
    user_id = f"usr_{uuid.uuid4().hex[:12]}"
    dynamodb_client().put_item(
        TableName="AppTable",
        Item=to_item({"PK": f"USER#{user_id}", "SK": "PROFILE", "user_id": user_id, "email": "race@example.com"}),
    )
    payments = PaymentService(PaymentRepository("AppTable"), StripeGateway("sk_test_races", stack.stripe_url), 50_000)
    otp = OtpService(lambda: payments, table_name="AppTable", pepper=PEPPER, sender="no-reply@payments.example.com")
    payments.on_requires_otp = lambda payment: otp.send(payment, first=True)
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    return Otp(payments, otp, user_id, now)


def last_code() -> str:
    from moto.ses.models import ses_backends

    body = ses_backends["123456789012"]["us-east-1"].sent_messages[-1].body
    match = re.search(r"Your code is (\d{6})", body)
    assert match
    return match.group(1)


def test_a_cancel_that_lands_after_the_code_is_used_moves_no_money(stack: RunningStack, races: Otp) -> None:
    # Given a large payment and its code
    payment_id = races.create()
    code = last_code()
    # When the client cancels it right after a verify has used the code, before that verify confirms
    canceled = run_meanwhile(
        races.otp, "_use", lambda: races.payments.cancel(races.user_id, payment_id, uuid.uuid4().hex)
    )
    answer = outcome_of(lambda: races.verify(payment_id, code))
    # Then nothing was charged at the provider, the cancel stands and the verify says so
    assert stripe_intents_for(stack, payment_id) == [], "a canceled payment was charged"
    assert canceled[0]["status"] == 200
    assert races.status(payment_id) == "canceled"
    assert isinstance(answer, ApiError)
    assert (answer.status, answer.code) == (409, "otp_not_required")


def test_a_second_verify_while_the_first_confirms_cancels_nothing(stack: RunningStack, races: Otp) -> None:
    # Given a large payment and its code
    payment_id = races.create()
    code = last_code()
    # When the same code arrives again (a double submit) just after the first verify used it
    second = run_meanwhile(races.otp, "_use", lambda: races.verify(payment_id, code))
    first = outcome_of(lambda: races.verify(payment_id, code))
    # Then the first charges once, and the second is told the payment no longer waits for a code
    assert len(stripe_intents_for(stack, payment_id)) == 1
    assert isinstance(second[0], ApiError)
    assert (second[0].status, second[0].code) == (409, "otp_not_required")
    assert first["status"] == 200
    assert first["body"]["status"] == "succeeded"
    assert races.status(payment_id) == "succeeded"


def test_a_wrong_guess_while_the_first_confirms_cancels_nothing(stack: RunningStack, races: Otp) -> None:
    payment_id = races.create()
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    second = run_meanwhile(races.otp, "_use", lambda: races.verify(payment_id, wrong))
    first = races.verify(payment_id, code)
    assert isinstance(second[0], ApiError)
    assert (second[0].status, second[0].code) == (409, "otp_not_required")
    assert first["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment_id)) == 1


def test_a_verify_while_the_provider_call_is_in_flight_waits_for_it(stack: RunningStack, races: Otp) -> None:
    # Given a large payment whose right code has been accepted and whose intent is being created
    payment_id = races.create()
    code = last_code()
    # When another verify arrives while that provider call is still on its way
    second = run_meanwhile(races.payments.gateway, "create_intent", lambda: races.verify(payment_id, code), before=True)
    first = races.verify(payment_id, code)
    # Then only one PaymentIntent exists, and the second is asked to come back
    assert len(stripe_intents_for(stack, payment_id)) == 1
    assert isinstance(second[0], ApiError)
    assert (second[0].status, second[0].code) == (409, "request_in_progress")
    assert second[0].headers.get("Retry-After")
    assert first["body"]["status"] == "succeeded"


def test_a_confirmation_cut_short_resumes_once_its_lease_has_run_out(stack: RunningStack, races: Otp) -> None:
    # Given a verify that used the right code and then died while the provider call was in flight
    payment_id = races.create()
    code = last_code()

    def crash(**_: Any) -> Any:
        raise TimeoutError("injected: the Lambda timed out")

    original = races.payments.gateway.create_intent
    races.payments.gateway.create_intent = crash  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        races.verify(payment_id, code)
    races.payments.gateway.create_intent = original  # type: ignore[method-assign]
    assert races.status(payment_id) == "processing"
    # When the client retries at once, the first may still be running: come back later
    with pytest.raises(ApiError) as error:
        races.verify(payment_id, code)
    assert (error.value.status, error.value.code) == (409, "request_in_progress")
    # Then, once no Lambda could still be running it, a retry confirms it, once
    races.now[0] += 31
    outcome = races.verify(payment_id, code)
    assert outcome["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment_id)) == 1


def test_a_guess_at_a_payment_whose_code_was_never_stored_cancels_nothing(races: Otp) -> None:
    # Given a large payment whose first send was cut short before its code was stored
    payment_id = races.create()
    dynamodb_client().delete_item(
        TableName="AppTable", Key=to_item({"PK": f"USER#{races.user_id}", "SK": f"OTP#{payment_id}"})
    )
    # When a code is tried, then the client is asked for a new one and the payment still waits
    with pytest.raises(ApiError) as error:
        races.verify(payment_id, "123456")
    assert (error.value.status, error.value.code) == (410, "otp_expired")
    assert races.status(payment_id) == "requires_otp"
    races.otp.send(races.payments.get(races.user_id, payment_id))
    assert races.verify(payment_id, last_code())["body"]["status"] == "succeeded"


def test_a_guess_made_while_a_code_is_being_resent_still_counts(races: Otp) -> None:
    # Given a large payment that has had three wrong guesses
    payment_id = races.create()
    wrong = f"{(int(last_code()) + 1) % 1_000_000:06d}"
    for _ in range(3):
        with pytest.raises(ApiError):
            races.verify(payment_id, wrong)
    # When a fourth lands while a fresh code is being sent (after the send read the attempts so far)
    fourth = run_meanwhile(races.otp, "_load", lambda: races.verify(payment_id, wrong))
    races.otp.send(races.payments.get(races.user_id, payment_id))
    assert isinstance(fourth[0], ApiError)
    assert fourth[0].extra["attempts_remaining"] == 1
    # Then the resend did not give that guess back: the fifth wrong one cancels the payment
    with pytest.raises(ApiError) as fifth:
        races.verify(payment_id, "000000" if last_code() != "000000" else "000001")
    assert (fifth.value.status, fifth.value.code) == (429, "too_many_attempts")
    assert races.status(payment_id) == "canceled"
