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
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.runtime import FunctionRuntime
from devstack.sample_events import event_file_name
from devstack.stack_client import StackDown, check_stack, endpoints, find_payment, new_payment, new_user
from devstack.template import Template
from devstack.webhook_event import sign

ROOT = Path(__file__).resolve().parent.parent
TOKEN_PLACEHOLDER = "<paste a token from /auth/signin>"  # noqa: S105 - the authorizer sample's placeholder
# What each function's sample event needs its payment to be (POST /payments body fields).
PAYMENT_FOR: dict[str, dict[str, Any]] = {
    "CapturePaymentFunction": {"capture_method": "manual"},
    "CancelPaymentFunction": {"capture_method": "manual"},
    "OtpSendFunction": {"amount": 75000},
    "OtpVerifyFunction": {"amount": 75000},
}


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
