"""The local stack refuses what a function's IAM policies do not grant, as AWS does (devstack/iam.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError

from devstack.iam import LocalIam, enforce
from devstack.runtime import CURRENT_FUNCTION
from devstack.template import Template
from tests.conftest import ROOT

TEMPLATE = Template(ROOT / "template.yaml")
IAM = LocalIam(TEMPLATE)


def refused(function: str, service: str, operation: str, params: dict[str, Any]) -> bool:
    return IAM.refusal(function, service, operation, params, "us-east-1") is not None


def test_listing_payments_may_read_its_page_by_key_from_the_payments_table() -> None:
    # GET /payments queries the keys-only index, then reads the page's payments with BatchGetItem
    assert not refused("GetPaymentsFunction", "dynamodb", "Query", {"TableName": "AppTable", "IndexName": "ByCreated"})
    assert not refused("GetPaymentsFunction", "dynamodb", "BatchGetItem", {"RequestItems": {"AppTable": {}}})


def test_what_no_statement_grants_is_refused() -> None:
    assert refused("GetPaymentsFunction", "dynamodb", "Scan", {"TableName": "AppTable"})
    assert refused("GetPaymentsFunction", "dynamodb", "PutItem", {"TableName": "AppTable"})
    # an index the statement does not name, and another table, are other resources
    assert refused("GetPaymentsFunction", "dynamodb", "Query", {"TableName": "AppTable", "IndexName": "Other"})
    assert refused("GetPaymentsFunction", "dynamodb", "GetItem", {"TableName": "IdempotencyTable"})
    assert refused("SigninFunction", "ssm", "PutParameter", {"Name": "/x"})


def test_a_transaction_is_authorised_item_by_item() -> None:
    # Sign-up may PutItem into the table, so a transaction of puts into it is allowed
    put = {"Put": {"TableName": "AppTable", "Item": {}}}
    assert not refused("SignupFunction", "dynamodb", "TransactWriteItems", {"TransactItems": [put, put]})
    # but not one that also updates, deletes or checks a condition: each part is its own action
    for kind in ("Update", "Delete", "ConditionCheck"):
        items = [put, {kind: {"TableName": "AppTable", "Key": {}}}]
        assert refused("SignupFunction", "dynamodb", "TransactWriteItems", {"TransactItems": items}), kind


def test_a_leading_keys_condition_holds_the_item_to_its_prefix() -> None:
    # The webhook may update and delete DEFERRED# items only (its statement's dynamodb:LeadingKeys)
    deferred = {"TableName": "AppTable", "Key": {"PK": {"S": "DEFERRED#evt_1"}, "SK": {"S": "DEFERRED"}}}
    payment = {"TableName": "AppTable", "Key": {"PK": {"S": "USER#u1"}, "SK": {"S": "PAYMENT#p1"}}}
    assert not refused("StripeWebhookFunction", "dynamodb", "DeleteItem", deferred)
    assert not refused("StripeWebhookFunction", "dynamodb", "UpdateItem", deferred)
    assert refused("StripeWebhookFunction", "dynamodb", "DeleteItem", payment)
    assert refused("StripeWebhookFunction", "dynamodb", "UpdateItem", payment)


def test_mail_may_only_come_from_the_configured_sender() -> None:
    sender = TEMPLATE.parameters["EmailSender"]
    mail = {"Destination": {"ToAddresses": ["a@example.com"]}, "Message": {}}
    assert not refused("OtpSendFunction", "ses", "SendEmail", {**mail, "Source": sender})
    assert refused("OtpSendFunction", "ses", "SendEmail", {**mail, "Source": "someone@else.example"})


def parameter(key: str) -> str:
    return str(TEMPLATE.parameters[key])


def test_a_function_reads_only_the_secrets_its_role_names() -> None:
    # Capture calls Stripe: it may read the Stripe key, not the OTP pepper nor the JWT secret (capture,
    # cancel and refund once built the code service at init and read the pepper: 500s in AWS only)
    stripe_key, pepper = parameter("StripeSecretKeyParameterName"), parameter("OtpPepperParameterName")
    assert not refused("CapturePaymentFunction", "ssm", "GetParameter", {"Name": stripe_key, "WithDecryption": True})
    assert refused("CapturePaymentFunction", "ssm", "GetParameter", {"Name": pepper, "WithDecryption": True})
    assert refused("CapturePaymentFunction", "ssm", "GetParameter", {"Name": parameter("JwtSecretParameterName")})
    assert not refused("OtpVerifyFunction", "ssm", "GetParameter", {"Name": pepper})
    # a batch read is authorised name by name
    assert refused("OtpVerifyFunction", "ssm", "GetParameters", {"Names": [pepper, stripe_key]})


def test_events_queues_and_objects_are_checked_by_resource() -> None:
    bus = TEMPLATE.physical_name("PaymentsBus")
    entry = {"Source": "payments", "DetailType": "PaymentSucceeded", "Detail": "{}"}
    assert not refused("OutboxRelayFunction", "events", "PutEvents", {"Entries": [{**entry, "EventBusName": bus}]})
    assert refused("OutboxRelayFunction", "events", "PutEvents", {"Entries": [{**entry, "EventBusName": bus}, entry]})
    dlq = TEMPLATE.queue_url("OutboxRelayDLQ", "http://127.0.0.1:5000")
    other = TEMPLATE.queue_url("LedgerQueue", "http://127.0.0.1:5000")
    assert not refused("OutboxRelayFunction", "sqs", "SendMessage", {"QueueUrl": dlq, "MessageBody": "{}"})
    assert refused("OutboxRelayFunction", "sqs", "SendMessage", {"QueueUrl": other, "MessageBody": "{}"})
    bucket = TEMPLATE.physical_name("ReconciliationReportsBucket")
    assert not refused("DailyReportFunction", "s3", "PutObject", {"Bucket": bucket, "Key": "daily/2026-12-04.csv"})
    assert refused("DailyReportFunction", "s3", "PutObject", {"Bucket": bucket, "Key": "elsewhere.csv"})
    assert refused("DailyReportFunction", "s3", "PutObject", {"Bucket": "another", "Key": "daily/x.csv"})


@pytest.fixture
def client() -> Any:
    enforce(TEMPLATE)
    session = botocore.session.Session()  # created after enforce(): carries the check
    made = session.create_client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    sent: list[str] = []

    def send(request: Any, **_: Any) -> Any:
        sent.append(request.url)
        return _ok()

    made.meta.events.register("before-send", send)
    made.sent = sent  # type: ignore[attr-defined]
    return made


def _ok() -> Any:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b"{}"

    return AWSResponse("https://dynamodb", 200, HTTPHeaders(), Raw())


def test_a_call_from_a_handler_its_role_cannot_make_fails_as_access_denied_before_it_is_sent(client: Any) -> None:
    token = CURRENT_FUNCTION.set("GetPaymentsFunction")
    try:
        with pytest.raises(ClientError) as refusal:
            client.scan(TableName="AppTable")
        client.get_item(TableName="AppTable", Key={"PK": {"S": "U#1"}, "SK": {"S": "P#1"}})
    finally:
        CURRENT_FUNCTION.reset(token)
    assert refusal.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:Scan" in refusal.value.response["Error"]["Message"]
    assert len(client.sent) == 1  # the GetItem only: the Scan never left


def test_calls_outside_a_handler_are_not_checked(client: Any) -> None:
    # provisioning and the tests' own clients run with no function current
    client.scan(TableName="AppTable")
    assert len(client.sent) == 1


def test_s3_refuses_as_s3_does() -> None:
    # S3 answers a refused call 403 AccessDenied, not the JSON services' 400 AccessDeniedException
    enforce(TEMPLATE)
    session = botocore.session.Session()
    s3: Any = session.create_client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    token = CURRENT_FUNCTION.set("DailyReportFunction")
    try:
        with pytest.raises(ClientError) as refusal:
            s3.put_object(Bucket=TEMPLATE.physical_name("ReconciliationReportsBucket"), Key="elsewhere.csv", Body=b"")
    finally:
        CURRENT_FUNCTION.reset(token)
    assert refusal.value.response["Error"]["Code"] == "AccessDenied"
    assert refusal.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
