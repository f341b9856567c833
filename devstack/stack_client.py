"""The running local stack (`make dev`), as the sample tools reach it: its endpoints, whether it is
up, and a user and a payment made through its API (`make invoke`, `make webhook-send`)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any

import requests

PASSWORD = "correct horse battery staple"  # noqa: S105 - the sample accounts' password, as in the README


class StackDown(Exception):
    pass


def endpoints() -> dict[str, str]:
    host = os.environ.get("DEV_HOST", "127.0.0.1")
    return {
        "api": f"http://{host}:{os.environ.get('DEV_API_PORT', '3000')}",
        "moto": f"http://{host}:{os.environ.get('DEV_MOTO_PORT', '5000')}",
        "stripe": f"http://{host}:{os.environ.get('DEV_STRIPE_PORT', '8420')}",
    }


def check_stack(urls: dict[str, str]) -> None:
    """Raises StackDown, within about 3 s, unless the API, moto and localstripe all accept connections."""
    for name, url in urls.items():
        host, port = url.removeprefix("http://").rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            raise StackDown(
                f"the local stack is not running ({name} at {url} does not answer). Start it with `make dev`; "
                "if it runs on other ports, give the same DEV_API_PORT, DEV_MOTO_PORT and DEV_STRIPE_PORT here."
            ) from None


def _call(method: str, url: str, body: dict[str, Any] | None = None, **headers: str) -> dict[str, Any]:
    response = requests.request(method, url, json=body, headers=headers, timeout=30)
    if response.status_code >= 300:
        raise SystemExit(f"setting up the sample: {method} {url} answered {response.status_code} {response.text}")
    result: dict[str, Any] = response.json()
    return result


def new_user(api: str) -> tuple[str, str]:
    """A fresh account on the running stack: (user id, bearer token)."""
    email = f"invoke-{uuid.uuid4().hex[:10]}@example.com"
    user = _call("POST", f"{api}/auth/signup", {"email": email, "password": PASSWORD})
    token = _call("POST", f"{api}/auth/signin", {"email": email, "password": PASSWORD})["access_token"]
    return str(user["user_id"]), str(token)


def new_payment(api: str, token: str, fields: dict[str, Any]) -> str:
    body = {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", **fields}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    return str(_call("POST", f"{api}/payments", body, **headers)["payment_id"])


def find_payment(moto: str, table: str, payment_id: str) -> tuple[str, dict[str, Any]]:
    """(owner's user id, the stored payment) of a payment in the running stack's table."""
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=moto,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
    )
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="SK = :sk",
        ExpressionAttributeValues={":sk": {"S": f"PAY#{payment_id}"}},
    )
    for page in pages:
        for item in page["Items"]:
            return item["PK"]["S"].removeprefix("USER#"), json.loads(item["doc"]["S"])
    raise SystemExit(f"no payment {payment_id} in the running stack (its state starts empty at each `make dev`)")
