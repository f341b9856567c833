"""Writes events/<function>.json, a ready event per function for `sam local invoke -e` and `make invoke`.

Run with `python -m devstack.sample_events`; existing files are left alone unless --force is given.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from devstack.lambda_events import authorizer_event, http_event
from devstack.template import Template
from devstack.webhook_event import LOCAL_SAMPLE_SECRET, signed_http_event, stripe_event

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_BODIES: dict[str, Any] = {
    "POST /auth/signup": {"email": "alice@example.com", "password": "correct horse battery staple"},
    "POST /auth/signin": {"email": "alice@example.com", "password": "correct horse battery staple"},
    "POST /payments": {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa", "description": "Order 1"},
    "POST /payments/{payment_id}/refunds": {"amount": 500, "reason": "requested_by_customer"},
    "POST /payments/{payment_id}/capture": {},
    "POST /payments/{payment_id}/otp/verify": {"code": "123456"},
}


def event_file_name(logical_id: str) -> str:
    """``SignupFunction`` -> ``signup.json``, ``OtpVerifyFunction`` -> ``otp_verify.json``."""
    stem = logical_id.removesuffix("Function")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower() + ".json"


def sample_event(template: Template, logical_id: str) -> dict[str, Any]:
    routes = [route for route in template.http_routes() if route.function_id == logical_id]
    if routes:
        route = routes[0]
        key = f"{route.method} {route.path}"
        if key == "POST /webhooks/stripe":
            intent = {"id": "pi_sample", "object": "payment_intent", "status": "succeeded", "metadata": {}}
            return signed_http_event(stripe_event("payment_intent.succeeded", intent), LOCAL_SAMPLE_SECRET)
        body = SAMPLE_BODIES.get(key)
        headers = {"content-type": "application/json"}
        if route.method == "POST" and not route.public:
            headers["idempotency-key"] = "sample-key-0001"
        params = dict.fromkeys(re.findall(r"\{(\w+)\}", route.path), "pay_sample")
        return http_event(
            route.method,
            route.path.replace("{payment_id}", "pay_sample"),
            route_key=key,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            path_parameters=params or None,
            authorizer=None if route.public else {"user_id": "usr_sample"},
        )
    if logical_id == template.authorizer_function():
        http = http_event("GET", "/payments", headers={"authorization": "Bearer <paste a token from /auth/signin>"})
        return authorizer_event(http, [http["headers"]["authorization"]])
    raise KeyError(f"no sample event known for {logical_id}")


def main(force: bool = False) -> None:
    template = Template(ROOT / "template.yaml")
    for logical_id in template.functions():
        path = ROOT / "events" / event_file_name(logical_id)
        if path.exists() and not force:
            continue
        path.write_text(json.dumps(sample_event(template, logical_id), indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(force="--force" in sys.argv)
