"""Signed Stripe webhook events, for tests and for `make webhook-send` (signatures go stale after 300 s).

`python -m devstack.webhook_event --send TYPE [--payment pay_...]` (`make webhook-send`) signs an event
of TYPE about the payment (or a new one) with the running stack's webhook secret and posts it there.
Without --send it prints an API Gateway payload-2.0 event for POST /webhooks/stripe, signed now, for
`sam local invoke -e` (with --secret, --payment and --user-id).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import sys
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


INTENT_STATUS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "requires_payment_method",
    "payment_intent.processing": "processing",
    "payment_intent.requires_action": "requires_action",
    "payment_intent.canceled": "canceled",
}


def event_object(event_type: str, payment: dict[str, Any], user_id: str) -> dict[str, Any]:
    """The object of a Stripe event of ``event_type`` about ``payment`` (a stored payment of ours)."""
    intent = str(payment.get("provider_payment_id") or "pi_sample")
    amount, currency = int(payment.get("amount") or 2500), str(payment.get("currency") or "usd")
    ids = {"payment_id": str(payment.get("payment_id") or "pay_sample"), "user_id": user_id}
    if event_type.startswith("payment_intent."):
        status = INTENT_STATUS.get(event_type, "succeeded")
        received = amount if status == "succeeded" else 0
        return {"id": intent, "object": "payment_intent", "status": status, "amount": amount,
                "amount_received": received, "currency": currency, "metadata": ids}  # fmt: skip
    if event_type == "charge.dispute.created":
        return {"id": "dp_" + secrets.token_hex(8), "object": "dispute", "status": "needs_response",
                "amount": amount, "currency": currency, "reason": "fraudulent", "payment_intent": intent}  # fmt: skip
    if event_type == "charge.refunded":
        refunded = int(payment.get("amount_refunded") or 0)
        return {"id": "ch_" + secrets.token_hex(8), "object": "charge", "amount": amount, "currency": currency,
                "amount_refunded": refunded, "payment_intent": intent, "refunds": {"data": []}}  # fmt: skip
    # refund.* and charge.refund.updated: the webhook reads the intent's refunds from Stripe itself.
    status = "failed" if event_type == "refund.failed" else "succeeded"
    return {"id": "re_" + secrets.token_hex(8), "object": "refund", "status": status, "amount": 100,
            "currency": currency, "payment_intent": intent, "metadata": {}}  # fmt: skip


def send(event_type: str, payment_id: str | None) -> int:
    """Signs an event about ``payment_id`` (or a new payment) with the running stack's webhook secret
    and posts it to the stack's /webhooks/stripe, as Stripe would."""
    import requests

    from devstack.stack_client import StackDown, check_stack, endpoints, find_payment, new_payment, new_user

    urls = endpoints()
    try:
        check_stack(urls)
    except StackDown as down:
        print(f"make webhook-send: {down}", file=sys.stderr)
        return 1
    secret = requests.get(f"{urls['api']}/_local/stripe-webhook-secret", timeout=5).text.split(",")[0]
    if payment_id is None:
        _, token = new_user(urls["api"])
        payment_id = new_payment(urls["api"], token, {})
    user_id, payment = find_payment(urls["moto"], "AppTable", payment_id)
    payload = json.dumps(stripe_event(event_type, event_object(event_type, payment, user_id)))
    response = requests.post(
        f"{urls['api']}/webhooks/stripe",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)},
        timeout=30,
    )
    print(f"{event_type} about {payment_id} -> {response.status_code} {response.text}")
    return 0 if response.status_code < 500 else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("type", nargs="?", default="payment_intent.succeeded")
    parser.add_argument("--send", action="store_true", help="send it to the running make dev, signed with its secret")
    parser.add_argument("--payment", help="the payment it is about (default: a new one, with --send)")
    parser.add_argument("--secret", default=os.environ.get("STRIPE_WEBHOOK_SECRETS", LOCAL_SAMPLE_SECRET).split(",")[0])
    parser.add_argument("--user-id", default="usr_sample")
    args = parser.parse_args(argv)
    if args.send:
        return send(args.type, args.payment)
    payment = {"payment_id": args.payment or "pay_sample", "provider_payment_id": "pi_sample"}
    obj = event_object(args.type, payment, args.user_id)
    print(json.dumps(signed_http_event(stripe_event(args.type, obj), args.secret), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
