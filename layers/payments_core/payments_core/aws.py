"""AWS clients created lazily, once per container, so moto can start before any client exists; and
the secrets, read through SSM with them.

The clients are botocore's (what ``boto3.client`` returns), made by a botocore session whose data
loader reads only the layer's ``aws_data``: the models of the operations the template's IAM policies
grant, generated from the pinned botocore (``devstack/aws_models.py``). botocore's loader otherwise
lists its ~450 service directories and parses full models and the 1.2 MB ``endpoints.json``; and
``import boto3`` loads its S3 transfer manager (``s3transfer``, ``multiprocessing``...), which no
function uses. Together about 70 ms of a function's cold start (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore
import botocore.loaders
import botocore.session
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
    return Config(
        retries={"mode": "adaptive", "max_attempts": 5},
        connect_timeout=2,
        read_timeout=get_settings().aws_read_timeout_seconds,
        user_agent=f"botocore/{botocore.__version__} payments/{get_settings().app_version}",
    )


AWS_DATA = Path(__file__).resolve().parent / "aws_data"


@functools.cache
def _session() -> botocore.session.Session:
    session = botocore.session.Session()
    session.register_component(
        "data_loader", botocore.loaders.Loader(extra_search_paths=[str(AWS_DATA)], include_default_search_paths=False)
    )
    return session


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


@functools.cache
def client(service: str) -> Any:
    return _session().create_client(service, config=_config())


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
