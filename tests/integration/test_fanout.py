"""Outbox relay -> EventBridge -> SQS -> ledger and notifications, end to end and under faults."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from devstack.provision import provision
from devstack.template import Template
from ops.redrive import redrive
from payments_core.aws import client, dynamodb_client
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.repository import PaymentRepository
from payments_core.relay import relay
from tests.conftest import ROOT
from tests.domain import build_payments, create
from tests.integration.conftest import (
    RunningStack,
    new_user,
    start_stack,
    stop_stack,
    template_copy,
    wait_for,
)

pytestmark = pytest.mark.integration

BUS = Template(ROOT / "template.yaml").physical_name("PaymentsBus")  # the stack's own bus, named after it


def capture_bus(sqs: Any, events: Any) -> str:
    """A queue that receives every event on the payments bus: how a test watches the bus."""
    name = f"capture-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps({"source": ["payments"]}))
    events.put_targets(Rule=name, EventBusName=BUS, Targets=[{"Id": "capture", "Arn": arn}])
    return str(url)


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def emails_to(stack: RunningStack, address: str) -> list[dict[str, Any]]:
    items = requests.get(f"{stack.api_url}/_local/emails", timeout=10).json()["items"]
    return [item for item in items if item["to"] == address]


def test_a_partly_captured_hold_is_charged_in_the_ledger_and_receipt_for_what_was_captured(
    stack: RunningStack,
) -> None:
    # Given a hold of 40.00 of which only 30.00 is captured
    user = new_user(stack.api_url)
    hold = user.pay(4000, capture_method="manual").json()
    assert hold["amount_captured"] == 0
    captured = user.call("POST", f"/payments/{hold['payment_id']}/capture", {"amount": 3000}, key="cap-1")
    assert captured.status_code == 200, captured.text
    # Then the payment says what moved, and the ledger and the receipt charge 30.00, not the 40.00 held
    assert (captured.json()["amount"], captured.json()["amount_captured"]) == (4000, 3000)
    assert user.call("GET", f"/payments/{hold['payment_id']}").json()["amount_captured"] == 3000
    ledger = wait_for(lambda: user.call("GET", "/transactions").json()["items"] or None, message="a ledger entry")
    assert [(t["type"], t["amount"]) for t in ledger] == [("charge", 3000)]
    mails = wait_for(lambda: emails_to(stack, user.email) or None, message="a receipt")
    assert [m["subject"] for m in mails] == ["Receipt: 30.00 USD paid"]


def test_one_payment_one_event_one_entry_one_receipt_even_when_delivered_twice(stack: RunningStack) -> None:
    sqs, events = stack.client("sqs"), stack.client("events")
    watch = capture_bus(sqs, events)
    user = new_user(stack.api_url)
    # When one payment succeeds and is partly refunded
    payment = user.pay(2500).json()
    assert user.refund(payment["payment_id"], 500).status_code == 201

    # Then the ledger has one charge and one refund, and the user one receipt per money movement
    def two_entries() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = user.call("GET", "/transactions").json()["items"]
        return items if len(items) == 2 else None

    ledger = wait_for(two_entries, message="two ledger entries")
    assert sorted((t["type"], t["amount"]) for t in ledger) == [("charge", 2500), ("refund", 500)]

    def two_emails() -> list[dict[str, Any]] | None:
        found = emails_to(stack, user.email)
        return found if len(found) == 2 else None

    mails = wait_for(two_emails, message="two emails")
    assert sorted(m["subject"] for m in mails) == ["Receipt: 25.00 USD paid", "Refund: 5.00 USD"]
    bus = wait_for(lambda: drain(sqs, watch) or None, message="bus events")
    bus += drain(sqs, watch)
    mine = [e for e in bus if e["detail"]["payment"]["payment_id"] == payment["payment_id"]]
    assert sorted(e["detail-type"] for e in mine) == [
        "PaymentCreated",
        "PaymentSucceeded",
        "RefundCreated",
        "RefundSucceeded",
    ]
    assert all("client_secret" not in json.dumps(e) for e in mine)
    # When every event is delivered to both queues a second time
    for queue in ("LedgerQueue", "NotificationsQueue"):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        for event in mine:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    wait_for(
        lambda: all(
            sqs.get_queue_attributes(
                QueueUrl=sqs.get_queue_url(QueueName=q)["QueueUrl"],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
            for q in ("LedgerQueue", "NotificationsQueue")
        ),
        message="queues drained",
    )
    # Then nothing changed
    assert len(user.call("GET", "/transactions").json()["items"]) == 2
    assert len(emails_to(stack, user.email)) == 2


@pytest.mark.usefixtures("aws")
def test_a_crash_right_after_the_commit_still_puts_exactly_one_event_on_the_bus(stack: RunningStack) -> None:
    # Given the whole template in moto, a watch on the bus, and a Lambda that dies right after the
    # write that makes the payment succeed (and carries its event) commits
    template = Template(ROOT / "template.yaml")
    provision(template, None, tables=False)  # the aws fixture made the tables
    sqs, events = boto3.client("sqs"), boto3.client("events")
    watch = capture_bus(sqs, events)
    service = build_payments(PaymentRepository("AppTable"), StripeGateway("sk_test_crash", stack.stripe_url), 50_000)
    armed: list[bool] = []

    def arm(params: dict[str, Any], **_: Any) -> None:
        armed[:] = ["PaymentSucceeded" in json.dumps(params, default=str)]

    def crash(**_: Any) -> None:
        if armed and armed[0]:
            raise RuntimeError("injected: the Lambda died after the commit")

    dynamodb_client().meta.events.register("before-call.dynamodb.PutItem", arm)
    dynamodb_client().meta.events.register("after-call.dynamodb.PutItem", crash)
    with pytest.raises(RuntimeError, match="after the commit"):
        create(
            service,
            "usr_crash",
            CreatePaymentRequest(amount=700, currency="usd", payment_method="pm_card_visa"),
            "k-1",
            "req",
        )
    # When the stream delivers what was committed to the relay
    records = stream_records(template)
    assert relay(records, client("events"), BUS) == {"batchItemFailures": []}
    # Then exactly one PaymentSucceeded is on the bus
    kinds = [event["detail-type"] for event in drain(sqs, watch)]
    assert kinds.count("PaymentSucceeded") == 1


def stream_records(template: Template) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName="AppTable")["Table"]["LatestStreamArn"]
    records: list[Any] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return records


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose consumer queues have a 1 s visibility timeout, so 5 receives take seconds."""

    def shorten(body: dict[str, Any]) -> None:
        for queue in ("LedgerQueue", "NotificationsQueue"):
            body["Resources"][queue]["Properties"]["VisibilityTimeout"] = 1

    with template_copy(shorten) as path:
        running = start_stack(tmp_path_factory.mktemp("fast") / "dev.log", template=path)
        yield running
        stop_stack(running)


def bus_message(payment_id: str, user_id: str = "usr_poison_test") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "PaymentSucceeded",
            "source": "payments",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "event_id": "evt_" + uuid.uuid4().hex,
                "event_version": 1,
                "occurred_at": "2026-01-01T00:00:00Z",
                "user_id": user_id,
                "refund": None,
                "payment": {"payment_id": payment_id, "amount": 100, "currency": "usd", "status": "succeeded"},
            },
        }
    )


def depth(sqs: Any, queue: str) -> int:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_poison_message_reaches_the_dlq_after_five_receives_and_blocks_nothing(fast_stack: RunningStack) -> None:
    sqs = fast_stack.client("sqs")
    url = sqs.get_queue_url(QueueName="LedgerQueue")["QueueUrl"]
    payments = [f"pay_poison_mate_{i}_{uuid.uuid4().hex[:6]}" for i in range(3)]
    entries = [{"Id": str(i), "MessageBody": bus_message(p)} for i, p in enumerate(payments)]
    entries.append({"Id": "poison", "MessageBody": "{this is not an event"})
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    # Its batch-mates are written at once
    dynamodb = fast_stack.client("dynamodb")

    def written() -> bool:
        movements = {
            item["movement"]["S"]
            for item in dynamodb.scan(TableName="AppTable")["Items"]  # a test, not a request path
            if item["SK"]["S"].startswith("TXN#")
        }
        return all(f"charge:{p}" in movements for p in payments)

    wait_for(written, 15, "batch-mates written")
    # The poison one lands in the DLQ after maxReceiveCount receives
    wait_for(lambda: depth(sqs, "LedgerDLQ") == 1, 40, "poison in LedgerDLQ")
    dlq = sqs.get_queue_url(QueueName="LedgerDLQ")["QueueUrl"]
    message = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"], VisibilityTimeout=0)["Messages"][0]
    assert message["Body"] == "{this is not an event"
    assert int(message["Attributes"]["ApproximateReceiveCount"]) >= 5
    assert depth(sqs, "LedgerQueue") == 0


def test_a_dlq_is_redriven_once_the_fault_is_fixed(fast_stack: RunningStack) -> None:
    # Given SES refusing the sender (a misconfiguration), so receipts cannot be sent
    ses, sqs = fast_stack.client("ses"), fast_stack.client("sqs")
    ses.delete_identity(Identity="payments.example.com")
    user = new_user(fast_stack.api_url)
    user.pay(1800)
    wait_for(lambda: depth(sqs, "NotificationsDLQ") >= 1, 40, "receipt in NotificationsDLQ")
    assert emails_to(fast_stack, user.email) == []
    # When the operator fixes it and redrives the DLQ
    ses.verify_domain_identity(Domain="payments.example.com")
    moved = redrive(sqs, sqs.get_queue_url(QueueName="NotificationsDLQ")["QueueUrl"])
    # Then the receipt goes out, once
    assert moved >= 1
    wait_for(lambda: emails_to(fast_stack, user.email), 20, "the receipt")
    assert [m["subject"] for m in emails_to(fast_stack, user.email)] == ["Receipt: 18.00 USD paid"]
    assert depth(sqs, "NotificationsDLQ") == 0


def test_make_redrive_peeks_at_the_local_stack(fast_stack: RunningStack, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DEV_MOTO_PORT": fast_stack.moto_url.rsplit(":", 1)[1]}
    done = subprocess.run(
        [sys.executable, "-m", "ops.redrive", "LedgerDLQ", "--peek"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
