"""The outbox relay against EventBridge's answers, with botocore's Stubber."""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from devstack.aws_limits import enforce_limits
from payments_core.payments.models import Change, Payment
from payments_core.payments.outbox import event_detail
from payments_core.payments.repository import PaymentRepository
from payments_core.relay import OutboxEntry, batches, entry_size, outbox_entries, publish, relay

NOW = "2026-12-04T18:00:00.000000Z"
PAYMENT = Payment(
    payment_id="pay_1",
    user_id="usr_1",
    status="succeeded",
    amount=2500,
    currency="usd",
    amount_captured=2500,
    payment_method="pm_card_visa",
    request_fingerprint="f" * 64,
    client_secret="pi_1_secret_never_on_the_bus",
    created_at=NOW,
    updated_at=NOW,
)


def stream_record(sequence: int, *, events: int = 1, name: str = "MODIFY", pk: str | None = None) -> dict[str, Any]:
    """A payment write's stream record, carrying ``events`` PaymentSucceeded events (evt_<sequence>...)."""
    image = PaymentRepository("AppTable")._item(Change(PAYMENT))
    if events:
        refs = [{"id": f"evt_{sequence}" + "x" * n, "type": "PaymentSucceeded", "at": NOW} for n in range(events)]
        image["outbox"] = {"S": json.dumps(refs)}
    if pk is not None:
        image["PK"] = image["SK"] = {"S": pk}
    return {"eventName": name, "dynamodb": {"NewImage": image, "SequenceNumber": str(100 + sequence)}}


def entry(sequence: int, n: int = 0) -> dict[str, Any]:
    detail = event_detail(PAYMENT, None, NOW, f"evt_{sequence}" + "x" * n)
    return {
        "Source": "payments",
        "DetailType": "PaymentSucceeded",
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": "payments",
    }


@pytest.fixture
def events() -> Any:
    return boto3.client("events", region_name="us-east-1")


def test_only_the_events_a_payment_write_carries_are_published_rendered_from_that_write() -> None:
    records = [
        stream_record(1, name="INSERT"),
        stream_record(2, events=0),  # a write that caused no event
        stream_record(3, name="REMOVE"),
        stream_record(5, pk="PI#pi_1"),  # not a payment
        stream_record(4, events=2),
    ]
    published = [e.entry for e in outbox_entries(records, "payments")]
    assert published == [entry(1), entry(4), entry(4, 1)]
    detail = json.loads(published[0]["Detail"])
    assert (detail["event_id"], detail["occurred_at"], detail["payment"]["status"]) == ("evt_1", NOW, "succeeded")
    assert "client_secret" not in detail["payment"]


def test_only_the_failed_entry_is_sent_again(events: Any) -> None:
    # Given 10 outbox records and a PutEvents that fails the 4th entry once
    records = [stream_record(i) for i in range(10)]
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": f"e{i}"} if i != 3 else {"ErrorCode": "ThrottlingException"} for i in range(10)
                ],
            },
            {"Entries": [entry(i) for i in range(10)]},
        )
        # Then the retry carries exactly that entry
        stub.add_response(
            "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e3b"}]}, {"Entries": [entry(3)]}
        )
        # When
        result = relay(records, events, "payments")
        stub.assert_no_pending_responses()
    assert result == {"batchItemFailures": []}


def test_batches_hold_at_most_ten_entries(events: Any) -> None:
    records = [stream_record(i) for i in range(23)]
    with Stubber(events) as stub:
        for chunk in (range(0, 10), range(10, 20), range(20, 23)):
            stub.add_response(
                "put_events",
                {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in chunk]},
                {"Entries": [entry(i) for i in chunk]},
            )
        assert relay(records, events, "payments") == {"batchItemFailures": []}
        stub.assert_no_pending_responses()


def test_large_events_never_share_a_request_beyond_eventbridges_total_size() -> None:
    # Given a stream batch of payments whose free text is at its longest (about 100 KB per event)
    # between small ones
    wide = PAYMENT.model_copy(update={"metadata": {f"k{n:02d}": "\U0001f600" * 500 for n in range(20)}})
    small = [OutboxEntry(str(n), entry(n)) for n in range(12)]
    large = [
        OutboxEntry(f"l{n}", {**entry(n), "Detail": json.dumps(event_detail(wide, None, NOW, f"evt_l{n}"))})
        for n in range(5)
    ]
    entries = [*small[:3], *large, *small[3:]]
    assert all(entry_size(item.entry) > 100_000 for item in large)
    # When they are batched
    found = batches(entries)
    # Then every request stays within 10 entries and 256 KB, all in order, none left out
    assert [item for batch in found for item in batch] == entries
    assert all(len(batch) <= 10 for batch in found)
    assert all(sum(entry_size(item.entry) for item in batch) <= 256 * 1024 for batch in found)
    # and as few requests as that allows: 3 small and 2 large (about 120 KB each), 2 large, the last
    # large one with the 9 small ones
    assert [len(batch) for batch in found] == [5, 2, 10]


def test_the_local_eventbridge_refuses_a_request_over_its_total_size(events: Any) -> None:
    # Given the local stack's checks of AWS's limits (moto has none)
    enforce_limits()
    session_events: Any = botocore.session.Session().create_client(
        "events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    detail = json.dumps({"text": "x" * 100_000})
    entries = [{"Source": "payments", "DetailType": "T", "Detail": detail, "EventBusName": "payments"}] * 3
    # When a request's entries add up to more than 256 KB, it is refused whole, as AWS refuses it
    with pytest.raises(ClientError) as refused:
        session_events.put_events(Entries=entries)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Total size of the entries in the request is over the limit" in refused.value.response["Error"]["Message"]


def test_an_entry_that_keeps_failing_fails_the_stream_batch_from_its_record(events: Any) -> None:
    records = [stream_record(i) for i in range(3)]
    with Stubber(events) as stub:
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"EventId": "a"}, {"ErrorCode": "InternalFailure"}, {"EventId": "c"}]},
            {"Entries": [entry(0), entry(1), entry(2)]},
        )
        for _ in range(3):
            stub.add_response(
                "put_events",
                {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
                {"Entries": [entry(1)]},
            )
        failed = publish(events, outbox_entries(records, "payments"), backoff=0)
        stub.assert_no_pending_responses()
    assert [f.sequence_number for f in failed] == ["101"]


def test_a_throttled_call_is_retried_whole(events: Any) -> None:
    records = [stream_record(i) for i in range(2)]
    with Stubber(events) as stub:
        stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]},
            {"Entries": [entry(0), entry(1)]},
        )
        assert publish(events, outbox_entries(records, "payments"), backoff=0) == []
