"""boto3 resources created lazily, once per container, so moto can start before any client exists;
and the secrets, read through SSM with them."""

from __future__ import annotations

import functools
import os
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
    # A fixed User-Agent, built once: botocore otherwise rebuilds its default one (some 30 sanitised
    # components) twice per call, about 0.13 ms of CPU per AWS call, a third of a GetItem's own
    # (benchmarks/warm.py). It still names the SDK and its version; nothing but AWS's telemetry reads it.
    import botocore

    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=get_settings().aws_read_timeout_seconds,
        user_agent=f"Boto3/{boto3.__version__} botocore/{botocore.__version__} payments/{get_settings().app_version}",
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


@functools.cache
def get_secret(name: str) -> str:
    """A secret by its logical name (e.g. ``JWT_SECRET``), read once per container.

    Locally the value comes from the environment variable of that name; in AWS the variable
    ``<name>_PARAM`` names an SSM SecureString, read decrypted with our SSM client (its retries and
    timeouts). Powertools Parameters would add a cache this one already is, for a cold start's import.
    """
    value = os.environ.get(name)
    if value:
        return value
    parameter_name = os.environ[f"{name}_PARAM"]
    answer = client("ssm").get_parameter(Name=parameter_name, WithDecryption=True)
    secret = answer["Parameter"].get("Value")
    if not isinstance(secret, str) or not secret:
        raise RuntimeError(f"secret parameter for {name} is empty")
    return secret
