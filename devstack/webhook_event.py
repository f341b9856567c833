"""Signed Stripe webhook events, for tests and for `make webhook-event` (events go stale after 300 s).

Usage: python -m devstack.webhook_event [TYPE] [--secret whsec_...] [--payment-id ID --user-id ID]
prints an API Gateway payload-2.0 event for POST /webhooks/stripe, signed now.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Any

from devstack.lambda_events import http_event

LOCAL_SAMPLE_SECRET = "whsec_local_sample_only"  # noqa: S105 - a public sample value: events/env.json gives the webhook function


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed as Stripe documents it (v1 = HMAC-SHA256)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": obj},
    }


def signed_http_event(event: dict[str, Any], secret: str, timestamp: int | None = None) -> dict[str, Any]:
    payload = json.dumps(event)
    return http_event(
        "POST",
        "/webhooks/stripe",
        headers={"content-type": "application/json", "stripe-signature": sign(payload, secret, timestamp)},
        body=payload,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("type", nargs="?", default="payment_intent.succeeded")
    parser.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRETS", LOCAL_SAMPLE_SECRET).split(",")[0])
    parser.add_argument("--payment-id", default="pay_sample")
    parser.add_argument("--user-id", default="usr_sample")
    args = parser.parse_args()
    intent = {
        "id": "pi_sample",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 2500,
        "amount_received": 2500,
        "currency": "usd",
        "metadata": {"payment_id": args.payment_id, "user_id": args.user_id},
    }
    print(json.dumps(signed_http_event(stripe_event(args.type, intent), args.secret), indent=2))


if __name__ == "__main__":
    main()
