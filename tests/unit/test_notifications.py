"""Receipts: one email per money movement, however many events report it."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

from devstack.lambda_events import LocalLambdaContext
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("aws")


def sent_emails() -> int:
    from moto.ses.models import ses_backends

    return len(ses_backends["123456789012"]["us-east-1"].sent_messages)


def delivery(event_id: str) -> dict[str, Any]:
    """The sample SQS delivery of a PaymentSucceeded event, with its own event and message ids."""
    sample = json.loads((ROOT / "events" / "notifications_consumer.json").read_text())
    record = copy.deepcopy(sample["Records"][0])
    body = json.loads(record["body"])
    body["detail"]["event_id"] = event_id
    record["body"] = json.dumps(body)
    record["messageId"] = f"msg-{event_id}"
    return {"Records": [record]}


def test_two_events_reporting_one_payment_send_one_receipt(monkeypatch: pytest.MonkeyPatch) -> None:
    import notifications_consumer_handler as handler

    # Given the payer's account and a verified sender
    monkeypatch.setenv("EMAIL_SENDER", "no-reply@payments.example.com")
    boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
    dynamodb_client().put_item(
        TableName="AppTable",
        Item=to_item({"PK": "USER#usr_sample", "SK": "PROFILE", "user_id": "usr_sample", "email": "p@example.com"}),
    )

    # When two distinct events report the same payment's success, and the first is delivered again
    for event_id in ("evt_first", "evt_second", "evt_first"):
        result = handler.lambda_handler(delivery(event_id), LocalLambdaContext(function_name="Notifications"))
        assert result["batchItemFailures"] == []

    # Then one receipt was sent
    assert sent_emails() == 1


def test_a_receipt_is_sent_as_utf_8(monkeypatch: pytest.MonkeyPatch) -> None:
    # SES reads text without a character set as 7-bit ASCII: a description, or a currency's sign, would
    # arrive garbled. Given an account and SES's client with what it must be sent (Stubber checks it)
    from botocore.stub import Stubber

    from payments_core import mailer
    from tests.fast.fakes import InMemoryAccounts

    accounts = InMemoryAccounts()
    accounts.create({"user_id": "usr_1", "email": "p@example.com"}, "hash")
    ses = boto3.client("ses")
    monkeypatch.setattr(mailer, "client", lambda _service: ses)
    subject, body = "Reçu : 25,00 €", "Café crème ☕ for Zoë"
    with Stubber(ses) as stub:
        stub.add_response(
            "send_email",
            {"MessageId": "m1"},
            {
                "Source": "no-reply@payments.example.com",
                "Destination": {"ToAddresses": ["p@example.com"]},
                "Message": {
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                },
            },
        )
        # When a receipt with text beyond ASCII is sent
        sent = mailer.send_email(
            table_name="AppTable",
            sender="no-reply@payments.example.com",
            user_id="usr_1",
            subject=subject,
            body=body,
            accounts=accounts,
        )
        # Then it went out once, naming UTF-8 for its subject and its body
        stub.assert_no_pending_responses()
    assert sent is True
