"""The local stack's DynamoDB key checks (devstack/aws_limits.py): what DynamoDB refuses and moto
accepts on a read."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.aws_limits import enforce_limits, refusal
from devstack.template import Template
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def sort_keys() -> None:
    enforce_limits(Template(ROOT / "template.yaml"))  # the template's RANGE keys: SK, created, recon_at


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": sk}}


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("GetItem", {"TableName": "AppTable", "Key": key("USER#u", "PAY#" + "x" * 1021)}),
        ("UpdateItem", {"TableName": "AppTable", "Key": key("USER#u", "")}),
        ("DeleteItem", {"TableName": "AppTable", "Key": key("x" * 2049, "PROFILE")}),
        ("Query", {"TableName": "AppTable", "ExclusiveStartKey": {**key("USER#u", "PAY#1"), "created": {"S": ""}}}),
        ("BatchGetItem", {"RequestItems": {"AppTable": {"Keys": [key("USER#u", "PAY#1"), key("USER#u", "é" * 513)]}}}),
        ("TransactWriteItems", {"TransactItems": [{"Update": {"TableName": "AppTable", "Key": key("", "S")}}]}),
    ],
)
def test_a_key_dynamodb_refuses_is_refused_on_a_read_or_an_update(operation: str, params: dict[str, Any]) -> None:
    # When a request names a key that is empty, a sort key over 1024 bytes (UTF-8) or a partition key
    # over 2048, then the local stack refuses it as DynamoDB does (moto checks keys on writes only)
    why = refusal("dynamodb", operation, params)
    assert why is not None
    assert "parameter values" in why


def test_keys_within_dynamodbs_limits_pass() -> None:
    # A sort key of 1024 bytes and a partition key of 2048 are DynamoDB's most, and allowed
    assert refusal("dynamodb", "GetItem", {"TableName": "AppTable", "Key": key("P" * 2048, "S" * 1024)}) is None
    assert refusal("dynamodb", "Query", {"TableName": "AppTable", "ExclusiveStartKey": key("USER#u", "PAY#1")}) is None
