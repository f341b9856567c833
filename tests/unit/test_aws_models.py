"""The botocore data the layer ships (devstack/aws_models.py): current, complete for what IAM grants,
and serialising every request byte for byte as botocore's full models do."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config

from devstack import aws_models
from devstack.template import Template
from payments_core import aws
from tests.conftest import ROOT, clear_caches

TEMPLATE = Template(ROOT / "template.yaml")


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    clear_caches()
    yield
    clear_caches()  # the next test's clients get its own environment (moto's endpoint)


def test_the_committed_models_match_the_pinned_botocore_and_the_template() -> None:
    # A botocore upgrade or a new IAM action without `python -m devstack.aws_models` fails here
    assert aws_models.differences() == []


def test_our_clients_offer_exactly_the_operations_the_policies_grant() -> None:
    granted = aws_models.operations(TEMPLATE)
    assert granted["dynamodb"] >= {"GetItem", "PutItem", "UpdateItem", "Query", "TransactWriteItems"}
    for service, operations in granted.items():
        model = aws.client(service).meta.service_model
        assert set(model.operation_names) == operations, service


def test_a_call_no_policy_grants_fails_locally_as_iam_would_refuse_it() -> None:
    # moto answers a Scan to anyone; in AWS no function's role may make one
    with pytest.raises(AttributeError, match="scan"):
        aws.dynamodb_client().scan(TableName="app")


CANNED: dict[str, bytes] = {
    "dynamodb": b"{}",
    "events": b'{"FailedEntryCount": 0, "Entries": []}',
    "ssm": b'{"Parameter": {"Name": "n", "Value": "v"}}',
    "sqs": b'{"MessageId": "m", "MD5OfMessageBody": "0"}',
    "ses": b"<SendEmailResponse><SendEmailResult><MessageId>m</MessageId></SendEmailResult></SendEmailResponse>",
    "s3": b"",
}
# One call per granted operation, with the shapes our code sends (expressions, nested maps, a transaction).
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("dynamodb", "get_item", {
        "TableName": "app", "Key": {"pk": {"S": "U#1"}, "sk": {"S": "P#1"}}, "ConsistentRead": True,
    }),
    ("dynamodb", "put_item", {
        "TableName": "app", "Item": {"pk": {"S": "U#1"}, "n": {"N": "5"}, "m": {"M": {"a": {"L": [{"BOOL": True}]}}}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }),
    ("dynamodb", "update_item", {
        "TableName": "app", "Key": {"pk": {"S": "U#1"}, "sk": {"S": "P#1"}},
        "UpdateExpression": "SET #s = :s ADD #v :one", "ConditionExpression": "#v = :v",
        "ExpressionAttributeNames": {"#s": "status", "#v": "version"},
        "ExpressionAttributeValues": {":s": {"S": "succeeded"}, ":one": {"N": "1"}, ":v": {"N": "3"}},
        "ReturnValues": "ALL_NEW", "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }),
    ("dynamodb", "batch_get_item", {"RequestItems": {
        "app": {"Keys": [{"pk": {"S": "U#1"}, "sk": {"S": "P#1"}}, {"pk": {"S": "U#1"}, "sk": {"S": "P#2"}}],
                "ConsistentRead": True},
    }}),
    ("dynamodb", "delete_item", {"TableName": "app", "Key": {"pk": {"S": "U#1"}, "sk": {"S": "D#1"}}}),
    ("dynamodb", "query", {
        "TableName": "app", "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "DUE"}}, "Limit": 20, "ScanIndexForward": False,
        "ExclusiveStartKey": {"pk": {"S": "U#1"}, "sk": {"S": "P#1"}},
    }),
    ("dynamodb", "transact_write_items", {"TransactItems": [
        {"Put": {"TableName": "app", "Item": {"pk": {"S": "E#1"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "app", "Key": {"pk": {"S": "U#1"}}, "UpdateExpression": "SET a = :a",
                    "ExpressionAttributeValues": {":a": {"S": "x"}}}},
    ], "ClientRequestToken": "token-1"}),
    ("dynamodb", "transact_get_items", {"TransactItems": [{"Get": {"TableName": "app", "Key": {"pk": {"S": "U#1"}}}}]}),
    ("events", "put_events", {"Entries": [
        {"Source": "payments", "DetailType": "payment.succeeded", "Detail": '{"a": 1}', "EventBusName": "bus"},
    ]}),
    ("ssm", "get_parameter", {"Name": "/payments/jwt", "WithDecryption": True}),
    ("sqs", "send_message", {"QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "MessageBody": "{}"}),
    ("ses", "send_email", {
        "Source": "receipts@example.com", "Destination": {"ToAddresses": ["a@example.com"]},
        "Message": {"Subject": {"Data": "Receipt"}, "Body": {"Text": {"Data": "Paid 25.00 USD"}}},
    }),
    ("s3", "put_object", {
        "Bucket": "reports", "Key": "2026/12/05.json", "Body": b'{"a": 1}', "ContentType": "application/json",
    }),
]  # fmt: skip
# What differs between two clients by nature: the signature, the clock, the invocation id, our User-Agent.
VARYING = {"authorization", "x-amz-date", "amz-sdk-invocation-id", "user-agent", "x-amz-user-agent"}


def _sent(make_client: Callable[[str], Any], service: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    client = make_client(service)
    seen: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> AWSResponse:
        body = request.body.read() if hasattr(request.body, "read") else request.body
        seen.update(
            method=request.method,
            url=request.url,
            body=body if isinstance(body, bytes) else (body or "").encode(),
            headers={k.lower(): _text(v) for k, v in request.headers.items() if k.lower() not in VARYING},
        )
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = "r"
        return AWSResponse(request.url, 200, headers, _Raw(CANNED[service]))

    client.meta.events.register_first("before-send", capture)
    getattr(client, method)(**params)
    return seen


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def _full_model_client(service: str) -> Any:
    # botocore's own data, as boto3.client() builds it, with our client configuration
    return botocore.session.get_session().create_client(service, config=Config(retries={"max_attempts": 1}))


@pytest.mark.parametrize(("service", "method", "params"), CALLS, ids=[f"{s}.{m}" for s, m, _ in CALLS])
def test_a_request_is_sent_exactly_as_with_botocores_full_model(
    service: str, method: str, params: dict[str, Any]
) -> None:
    ours = _sent(aws.client, service, method, params)
    theirs = _sent(_full_model_client, service, method, params)
    if ours["headers"].get("content-type", "").startswith("application/x-amz-json"):
        assert json.loads(ours["body"]) == json.loads(theirs["body"])
    assert ours == theirs


def test_every_granted_operation_has_a_request_above() -> None:
    called = {(service, method) for service, method, _ in CALLS}
    for service, operations in aws_models.operations(TEMPLATE).items():
        model = aws.client(service).meta.service_model
        for operation in operations:
            assert (service, botocore.xform_name(operation)) in called, f"{service}.{operation}"
            assert model.operation_model(operation).name == operation


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
