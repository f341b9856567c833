"""One-time code expiry with an injected clock (no sleeping), in-process on moto and localstripe."""

from __future__ import annotations

import re
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
from tests.integration.conftest import RunningStack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]
PEPPER = "pepper-for-tests-only-0123456789abcdef"


@pytest.fixture
def services(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> tuple[PaymentService, OtpService, list[int]]:
    boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
    dynamodb_client().put_item(
        TableName="AppTable",
        Item=to_item({"PK": "USER#usr_clock", "SK": "PROFILE", "user_id": "usr_clock", "email": "clock@example.com"}),
    )
    payments = PaymentService(PaymentRepository("AppTable"), StripeGateway("sk_test_clock", stack.stripe_url), 50_000)
    otp = OtpService(lambda: payments, table_name="AppTable", pepper=PEPPER, sender="no-reply@payments.example.com")
    payments.on_requires_otp = lambda payment: otp.send(payment, first=True)
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    return payments, otp, now


def last_code() -> str:
    from moto.ses.models import ses_backends

    body = ses_backends["123456789012"]["us-east-1"].sent_messages[-1].body
    match = re.search(r"Your code is (\d{6})", body)
    assert match
    return match.group(1)


def create(payments: PaymentService) -> Any:
    request = CreatePaymentRequest(amount=60_000, currency="usd", payment_method="pm_card_visa")
    return payments.create("usr_clock", request, "k-clock", "req")["body"]


def test_a_code_expires_after_five_minutes(services: Any) -> None:
    payments, otp, now = services
    payment_id = create(payments)["payment_id"]
    code = last_code()
    now[0] += 5 * 60 + 1
    with pytest.raises(ApiError) as error:
        otp.verify(payments.get("usr_clock", payment_id), code, "req")
    assert (error.value.status, error.value.code) == (410, "otp_expired")


def test_a_code_works_until_its_last_second(services: Any) -> None:
    payments, otp, now = services
    payment_id = create(payments)["payment_id"]
    code = last_code()
    now[0] += 5 * 60
    outcome = otp.verify(payments.get("usr_clock", payment_id), code, "req")
    assert outcome["body"]["status"] == "succeeded"


def test_the_code_is_stored_only_as_a_keyed_hash(services: Any) -> None:
    payments, _, _ = services
    payment_id = create(payments)["payment_id"]
    code = last_code()
    item = dynamodb_client().get_item(
        TableName="AppTable", Key=to_item({"PK": "USER#usr_clock", "SK": f"OTP#{payment_id}"})
    )["Item"]
    import hashlib
    import hmac

    assert code not in str(item)
    assert (
        item["code_hash"]["S"] == hmac.new(PEPPER.encode(), f"{payment_id}:{code}".encode(), hashlib.sha256).hexdigest()
    )


def test_sends_are_limited_per_fifteen_minutes_then_allowed_again(services: Any) -> None:
    payments, otp, now = services
    payment_id = create(payments)["payment_id"]
    for _ in range(2):
        otp.send(payments.get("usr_clock", payment_id))
    with pytest.raises(ApiError) as error:
        otp.send(payments.get("usr_clock", payment_id))
    assert error.value.status == 429
    now[0] += 15 * 60 + 1
    assert otp.send(payments.get("usr_clock", payment_id)) == now[0] + 300
