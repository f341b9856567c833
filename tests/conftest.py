"""Shared fixtures: a moto account whose tables come from template.yaml, and in-process invocation."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Set before any handler module (and so any Powertools object) is imported.
os.environ.update(
    {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_SERVICE_NAME": "payments",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Payments",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "TABLE_NAME": "AppTable",
        "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable",
        "JWT_SECRET": secrets.token_urlsafe(48),
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


def run_handler_probe(code_dir: Path, code: str) -> Any:
    """Runs ``code`` (which imports a handler) in a fresh interpreter, as Lambda's init phase does,
    on the layer's source with no other settings; returns the JSON its last line prints."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=code_dir,
        env={
            "PYTHONPATH": str(ROOT / "layers" / "payments_core"),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


from devstack.lambda_events import LocalLambdaContext, http_event  # noqa: E402
from devstack.provision import create_tables  # noqa: E402
from devstack.template import Template  # noqa: E402


def published_events(dynamodb: Any = None, streams: Any = None, table: str = "AppTable") -> list[tuple[str, Any]]:
    """Every bus event the table's writes carried, as the outbox relay renders them (detail type and
    detail), read from the table's stream from its start: what the relay publishes, in write order."""
    import json

    import boto3

    from payments_core.relay import outbox_entries

    dynamodb = dynamodb or boto3.client("dynamodb")
    streams = streams or boto3.client("dynamodbstreams")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return [
        (entry.entry["DetailType"], json.loads(entry.entry["Detail"])) for entry in outbox_entries(records, "payments")
    ]


def clear_caches() -> None:
    from payments_core import aws, config

    for cached in (
        config.get_settings,
        aws.get_secret,
        aws._config,
        aws._session,
        aws.dynamodb_client,
        aws.client,
    ):
        cached.cache_clear()


@pytest.fixture
def template() -> Template:
    return Template(ROOT / "template.yaml")


@pytest.fixture
def aws(template: Template) -> Iterator[None]:
    """A fresh moto account with the template's own tables, and AWS's limits that moto does not check."""
    import boto3
    from moto import mock_aws

    from devstack.aws_limits import enforce_limits

    enforce_limits(template)
    with mock_aws():
        clear_caches()
        create_tables(template, boto3.client("dynamodb"))
        yield
    clear_caches()


class Invoker:
    """Calls a handler module the way API Gateway would, with the authorizer's context."""

    def __call__(
        self,
        module: ModuleType,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        user_id: str | None = None,
        route_key: str | None = None,
        path_parameters: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        token_expires_at: int | None = None,
        authorizer_context: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        raw = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        event = http_event(
            method,
            path,
            route_key=route_key,
            headers={"content-type": "application/json", **(headers or {})},
            body=raw,
            path_parameters=path_parameters,
            query=query,
            authorizer=authorizer_context
            if authorizer_context is not None
            else None
            if user_id is None
            else {"user_id": user_id, **({"expires_at": token_expires_at} if token_expires_at is not None else {})},
        )
        result = module.lambda_handler(event, LocalLambdaContext(function_name=module.__name__))
        payload = json.loads(result["body"]) if result.get("body") else None
        return int(result["statusCode"]), {k.lower(): v for k, v in (result.get("headers") or {}).items()}, payload


@pytest.fixture
def invoke() -> Invoker:
    return Invoker()


class LogSink(logging.Handler):
    """Collects every formatted log line of the Powertools logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def log_sink() -> Iterator[LogSink]:
    from payments_core.observability import logger

    sink = LogSink()
    sink.setFormatter(logger.registered_formatter)
    std_logger = logging.getLogger(logger.name)  # Powertools logs through the standard logger of this name
    std_logger.addHandler(sink)
    yield sink
    std_logger.removeHandler(sink)
