"""One-time code expiry with an injected clock (no sleeping), in-process on moto and localstripe."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from payments_core.api import status_of
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from payments_core.errors import DomainError
from tests.integration.conftest import OTP_PEPPER, InProcessOtp, last_code

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]


def test_a_code_expires_after_five_minutes(otp_services: InProcessOtp) -> None:
    payment_id = otp_services.create()
    code = last_code()
    otp_services.now[0] += 5 * 60 + 1
    with pytest.raises(DomainError) as error:
        otp_services.verify(payment_id, code)
    assert (status_of(error.value), error.value.code) == (410, "otp_expired")


def test_a_code_works_until_its_last_second(otp_services: InProcessOtp) -> None:
    payment_id = otp_services.create()
    code = last_code()
    otp_services.now[0] += 5 * 60
    outcome = otp_services.verify(payment_id, code)
    assert outcome["body"]["status"] == "succeeded"


def test_the_code_is_stored_only_as_a_keyed_hash(otp_services: InProcessOtp) -> None:
    payment_id = otp_services.create()
    code = last_code()
    item = dynamodb_client().get_item(
        TableName="AppTable", Key=to_item({"PK": f"USER#{otp_services.user_id}", "SK": f"OTP#{payment_id}"})
    )["Item"]
    assert code not in str(item)
    expected = hmac.new(OTP_PEPPER.encode(), f"{payment_id}:{code}".encode(), hashlib.sha256).hexdigest()
    assert item["code_hash"]["S"] == expected


def test_sends_are_limited_per_fifteen_minutes_then_allowed_again(otp_services: InProcessOtp) -> None:
    payment_id = otp_services.create()
    for _ in range(2):
        otp_services.otp.send(otp_services.get(payment_id))
    with pytest.raises(DomainError) as error:
        otp_services.otp.send(otp_services.get(payment_id))
    assert status_of(error.value) == 429
    otp_services.now[0] += 15 * 60 + 1
    assert otp_services.otp.send(otp_services.get(payment_id)) == otp_services.now[0] + 300
