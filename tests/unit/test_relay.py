"""The outbox relay against EventBridge's answers, with botocore's Stubber."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from payments_core.relay import outbox_entries, publish, relay


def stream_record(sequence: int, *, pk: str | None = None, name: str = "INSERT") -> dict[str, Any]:
    key = pk or f"OUTBOX#evt_{sequence}"
    image = {
        "PK": {"S": key},
        "SK": {"S": "OUTBOX"},
        "detail_type": {"S": "PaymentSucceeded"},
        "detail": {"S": json.dumps({"event_id": f"evt_{sequence}"})},
    }
    return {"eventName": name, "dynamodb": {"NewImage": image, "SequenceNumber": str(100 + sequence)}}


def entry(sequence: int) -> dict[str, Any]:
    return {
        "Source": "payments",
        "DetailType": "PaymentSucceeded",
        "Detail": json.dumps({"event_id": f"evt_{sequence}"}),
        "EventBusName": "payments",
    }


@pytest.fixture
def events() -> Any:
    return boto3.client("events", region_name="us-east-1")


def test_only_outbox_inserts_are_published() -> None:
    records = [stream_record(1), stream_record(2, pk="USER#x"), stream_record(3, name="REMOVE"), stream_record(4)]
    assert [e.entry for e in outbox_entries(records, "payments")] == [entry(1), entry(4)]


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
