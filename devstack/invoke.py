"""`make invoke FN=<LogicalId> [EVENT=events/<file>.json] [PAYMENT=pay_...]`: the Docker-free twin of
`sam local invoke` (without EVENT, the function's own events/<function>.json: `make invoke
FN=ReconcilerFunction` runs one reconciler pass now).

Runs one function's handler in this process on the event file, against the AWS (moto) and Stripe
(localstripe) of a running `make dev`. The environment is the function's own from template.yaml,
with events/env.json's values on top, as `sam local invoke --env-vars events/env.json` would use.

The sample events name a placeholder user, payment and intent (``usr_sample``, ``pay_sample``,
``pi_sample``). Here they become real ones: the payment given with ``--payment`` and its owner, or a
new user and a payment in the state the function expects (a hold to capture or cancel, a payment
waiting for its code for the OTP functions), made through the running stack's API. A signed webhook
event is signed again, now, with the secret the function is given.

Exit status: 1 if the stack is not running, if an HTTP function answers 5xx, or if a batch function
reports failed records; 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from devstack.runtime import FunctionRuntime
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"  # noqa: S105 - the sample accounts' password, as in the README
TOKEN_PLACEHOLDER = "<paste a token from /auth/signin>"  # noqa: S105 - the authorizer sample's placeholder
# What each function's sample event needs its payment to be (POST /payments body fields).
PAYMENT_FOR: dict[str, dict[str, Any]] = {
    "CapturePaymentFunction": {"capture_method": "manual"},
    "CancelPaymentFunction": {"capture_method": "manual"},
    "OtpSendFunction": {"amount": 75000},
    "OtpVerifyFunction": {"amount": 75000},
}


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


def prepare(
    function_id: str, event: dict[str, Any], urls: dict[str, str], table: str, payment_id: str | None
) -> dict[str, Any]:
    """The sample event with its placeholders replaced by a real user, payment and intent."""
    text = json.dumps(event)
    if not any(marker in text for marker in ("usr_sample", "pay_sample", "pi_sample", TOKEN_PLACEHOLDER)):
        return event
    user_id: str | None = None
    if payment_id is None and ("pay_sample" in text or "pi_sample" in text or function_id in PAYMENT_FOR):
        user_id, token = new_user(urls["api"])
        payment_id = new_payment(urls["api"], token, PAYMENT_FOR.get(function_id, {}))
    if payment_id is not None:
        user_id, payment = find_payment(urls["moto"], table, payment_id)
        text = text.replace("pay_sample", payment_id)
        text = text.replace("pi_sample", str(payment.get("provider_payment_id") or "pi_sample"))
    if user_id is None:
        user_id, _ = new_user(urls["api"])
    text = text.replace("usr_sample", user_id).replace("sample-key-0001", uuid.uuid4().hex)
    if TOKEN_PLACEHOLDER in text:
        text = text.replace(TOKEN_PLACEHOLDER, local_token(user_id))
    prepared: dict[str, Any] = json.loads(text)
    headers = prepared.get("headers") or {}
    if "stripe-signature" in headers:
        from devstack.webhook_event import sign

        secret = os.environ["STRIPE_WEBHOOK_SECRETS"].split(",")[0]
        headers["stripe-signature"] = sign(prepared["body"], secret)  # now: signatures go stale after 300 s
    return prepared


def local_token(user_id: str) -> str:
    """A token for ``user_id`` signed with the key this process gives the authorizer (events/env.json)."""
    from payments_core.auth.tokens import issue_token
    from payments_core.config import Settings

    settings = Settings.from_environ(os.environ)
    return issue_token(user_id, key=os.environ["JWT_SECRET"], settings=settings, issued_at=datetime.now(UTC))


def outcome(result: Any) -> tuple[int, str]:
    """Exit status and a one-line summary of what the function returned."""
    if isinstance(result, dict) and "statusCode" in result:
        status = int(result["statusCode"])
        return (1 if status >= 500 else 0), f"-> {status}"
    if isinstance(result, dict) and "batchItemFailures" in result:
        failed = len(result["batchItemFailures"] or [])
        return (1 if failed else 0), f"-> {failed} failed record(s)"
    if isinstance(result, dict) and "isAuthorized" in result:
        return 0, f"-> isAuthorized: {result['isAuthorized']}"
    if isinstance(result, dict) and "outcomes" in result:  # a reconciler pass
        errors = int((result["outcomes"] or {}).get("error", 0))
        return (1 if errors else 0), f"-> {errors} error(s)"
    if isinstance(result, dict) and "mismatches" in result:  # a daily report
        return 0, f"-> {result['mismatches']} mismatch(es)"
    return 0, "-> returned"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("function", nargs="?", help="the function's logical id in template.yaml (FN=)")
    parser.add_argument("event", nargs="?", help="an event file, e.g. events/signup.json (EVENT=)")
    parser.add_argument("--payment", help="a payment of the running stack to use in place of the sample's (PAYMENT=)")
    args = parser.parse_args(argv)
    if not args.function:
        print("usage: make invoke FN=<FunctionLogicalId> [EVENT=events/<file>.json] [PAYMENT=pay_...]", file=sys.stderr)
        return 2
    if not args.event:  # the function's own event: `make invoke FN=ReconcilerFunction` runs one pass now
        from devstack.sample_events import event_file_name

        args.event = str(ROOT / "events" / event_file_name(args.function))
    urls = endpoints()
    template = Template(ROOT / "template.yaml")
    specs = template.functions(urls["moto"])
    if args.function not in specs:
        print(f"unknown function {args.function}; one of: {', '.join(sorted(specs))}", file=sys.stderr)
        return 2
    try:
        check_stack(urls)
    except StackDown as down:
        print(f"make invoke: {down}", file=sys.stderr)
        return 1
    env_file = json.loads((ROOT / "events" / "env.json").read_text())
    overrides = dict(env_file.get("Parameters", {})) | dict(env_file.get(args.function, {}))
    overrides |= {
        "AWS_ENDPOINT_URL": urls["moto"],
        "STRIPE_API_BASE": urls["stripe"],
        "AWS_DEFAULT_REGION": template.region,
    }
    os.environ.update(specs[args.function].environment | overrides)
    for layer in template.layer_dirs():
        sys.path.insert(0, str(layer))
    event = json.loads(Path(args.event).read_text())
    event = prepare(args.function, event, urls, os.environ.get("TABLE_NAME", "AppTable"), args.payment)
    result = FunctionRuntime(specs[args.function]).invoke(event)
    print(json.dumps(result, indent=2))
    status, summary = outcome(result)
    print(f"{args.function} {summary}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
