"""boto3 resources created lazily, once per container, so moto can start before any client exists."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from payments_core.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@functools.cache
def _config() -> Config:
    # Adaptive retries absorb DynamoDB throttling before it becomes a 5xx. The read timeout is short on
    # AWS (a slow call is retried inside the Lambda's deadline); the local stack, whose moto answers one
    # request at a time, raises it so a queued call is not retried while it is being applied.
    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=get_settings().aws_read_timeout_seconds,
    )


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return _session().client("dynamodb", config=_config())


@functools.cache
def client(service: str) -> Any:
    return _session().client(service, config=_config())  # type: ignore[call-overload]
