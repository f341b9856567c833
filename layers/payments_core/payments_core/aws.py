"""boto3 resources created lazily, once per container, so moto can start before any client exists."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from payments_core.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import Table

# Adaptive retries absorb DynamoDB throttling before it becomes a 5xx.
_BOTO_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=2, read_timeout=5)


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return _session().client("dynamodb", config=_BOTO_CONFIG)


@functools.cache
def app_table() -> Table:
    return _session().resource("dynamodb", config=_BOTO_CONFIG).Table(get_settings().table_name)


@functools.cache
def client(service: str) -> Any:
    return _session().client(service, config=_BOTO_CONFIG)  # type: ignore[call-overload]
