"""Builders for the events and context Lambda hands a handler, shaped as API Gateway HTTP API
(payload 2.0), its REQUEST authorizer, DynamoDB Streams and SQS send them."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.template import ACCOUNT_ID


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    timeout_seconds: int = 10
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    query: dict[str, str] | None = None,
    raw_query: str = "",
    path_parameters: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event."""
    now = datetime.now(UTC)
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    if isinstance(body, str):
        body = body.encode()
    text: str | None = None
    is_base64 = False
    if body:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
    route_key = route_key or f"{method} {path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if text is not None:
        event["body"] = text
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if authorizer is not None:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    return event


def authorizer_event(http: dict[str, Any], identity: list[str]) -> dict[str, Any]:
    """The payload 2.0 REQUEST authorizer event API Gateway sends for ``http``."""
    event = {key: value for key, value in http.items() if key not in ("body", "isBase64Encoded")}
    method, path = http["routeKey"].split(" ", 1)
    event |= {
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:local/$default/{method}{path}",
        "identitySource": identity,
    }
    return event
