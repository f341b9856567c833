"""Writes events/<function>.json, a ready event per function for `sam local invoke -e` and `make invoke`.

Run with `python -m devstack.sample_events`; existing files are left alone unless --force is given.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from devstack.lambda_events import authorizer_event, http_event
from devstack.template import Template
from devstack.webhook_event import LOCAL_SAMPLE_SECRET, signed_http_event, stripe_event

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_BODIES: dict[str, Any] = {
    "POST /auth/signup": {"email": "alice@example.com", "password": "correct horse battery staple"},
    "POST /auth/signin": {"email": "alice@example.com", "password": "correct horse battery staple"},
    "POST /payments": {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "description": "Order 1"},
    "POST /payments/{payment_id}/refunds": {"amount": 500, "reason": "requested_by_customer"},
    "POST /payments/{payment_id}/capture": {},
    "POST /payments/{payment_id}/otp/verify": {"code": "123456"},
}


def event_file_name(logical_id: str) -> str:
    """``SignupFunction`` -> ``signup.json``, ``OtpVerifyFunction`` -> ``otp_verify.json``."""
    stem = logical_id.removesuffix("Function")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower() + ".json"


SAMPLE_DETAIL: dict[str, Any] = {
    "event_id": "evt_sample0001",
    "event_version": 1,
    "occurred_at": "2026-01-01T00:00:00.000Z",
    "user_id": "usr_sample",
    "payment": {
        "payment_id": "pay_sample",
        "status": "succeeded",
        "amount": 2500,
        "currency": "usd",
        "amount_captured": 2500,
        "amount_refunded": 0,
        "description": "Order 1",
        "metadata": {},
        "provider": "stripe",
        "provider_payment_id": "pi_sample",
        "next_action": None,
        "refunds": [],
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
    },
    "refund": None,
}


def stream_event(template: Template, table_id: str) -> dict[str, Any]:
    """A DynamoDB stream batch holding one outbox item, as the relay's event source mapping sends it."""
    image = {
        "PK": {"S": "OUTBOX#evt_sample0001"},
        "SK": {"S": "OUTBOX"},
        "detail_type": {"S": "PaymentSucceeded"},
        "detail": {"S": json.dumps(SAMPLE_DETAIL)},
    }
    record = {
        "eventID": "sample-1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": template.region,
        "dynamodb": {
            "Keys": {"PK": image["PK"], "SK": image["SK"]},
            "NewImage": image,
            "SequenceNumber": "100000000000000000001",
            "SizeBytes": 512,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": template.arn(table_id) + "/stream/local",
    }
    return {"Records": [record]}


def sqs_event(template: Template, queue_id: str) -> dict[str, Any]:
    """An SQS batch holding one bus event, as EventBridge delivers it to the queue."""
    bus_event = {
        "version": "0",
        "id": "a1b2c3d4-0000-0000-0000-000000000001",
        "detail-type": "PaymentSucceeded",
        "source": "payments",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": template.region,
        "resources": [],
        "detail": SAMPLE_DETAIL,
    }
    record = {
        "messageId": "00000000-0000-0000-0000-000000000001",
        "receiptHandle": "sample-receipt-handle",
        "body": json.dumps(bus_event),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600000",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": template.arn(queue_id),
        "awsRegion": template.region,
    }
    return {"Records": [record]}


def scheduled_event(logical_id: str) -> dict[str, Any]:
    """What an EventBridge schedule sends (``Schedule`` event): the daily report reads ``time``."""
    return {
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-02T00:15:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{logical_id}-schedule"],
        "detail": {},
    }


def sample_event(template: Template, logical_id: str) -> dict[str, Any]:
    routes = [route for route in template.http_routes() if route.function_id == logical_id]
    if routes:
        route = routes[0]
        key = f"{route.method} {route.path}"
        if key == "POST /webhooks/stripe":
            intent = {"id": "pi_sample", "object": "payment_intent", "status": "succeeded", "metadata": {}}
            return signed_http_event(stripe_event("payment_intent.succeeded", intent), LOCAL_SAMPLE_SECRET)
        body = SAMPLE_BODIES.get(key)
        headers = {"content-type": "application/json"}
        if route.method == "POST" and not route.public:
            headers["idempotency-key"] = "sample-key-0001"
        params = dict.fromkeys(re.findall(r"\{(\w+)\}", route.path), "pay_sample")
        return http_event(
            route.method,
            route.path.replace("{payment_id}", "pay_sample"),
            route_key=key,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            path_parameters=params or None,
            authorizer=None if route.public else {"user_id": "usr_sample"},
        )
    sources = [source for source in template.event_sources() if source.function_id == logical_id]
    if sources and sources[0].kind == "DynamoDB":
        return stream_event(template, sources[0].source)
    if sources and sources[0].kind == "SQS":
        return sqs_event(template, sources[0].source)
    if any(function_id == logical_id for function_id, _ in template.schedules()):
        return scheduled_event(logical_id)
    if logical_id == template.authorizer_function():
        http = http_event("GET", "/payments", headers={"authorization": "Bearer <paste a token from /auth/signin>"})
        return authorizer_event(http, [http["headers"]["authorization"]])
    raise KeyError(f"no sample event known for {logical_id}")


def main(force: bool = False) -> None:
    template = Template(ROOT / "template.yaml")
    for logical_id in template.functions():
        path = ROOT / "events" / event_file_name(logical_id)
        if path.exists() and not force:
            continue
        path.write_text(json.dumps(sample_event(template, logical_id), indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(force="--force" in sys.argv)
