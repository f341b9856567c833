"""The Stripe API version we call at, and the create request it accepts (no network: the SDK's own
HTTP layer is replaced by one that records the request and answers as Stripe would)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import stripe
from stripe._api_version import _ApiVersion
from stripe._request_options import RequestOptions
from stripe.params import PaymentIntentCreateParams

from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.providers.stripe.sdk import STRIPE_API_VERSION


class RecordingClient(stripe.HTTPClient):
    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, dict[str, str], str]] = []

    def request(self, method: str, url: str, headers: Any, post_data: Any = None, **_: Any) -> Any:
        self.requests.append((method.upper(), url, dict(headers or {}), post_data or ""))
        intent = {"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 2500, "metadata": {}}
        return json.dumps(intent), 200, {"request-id": "req_1"}

    def close(self) -> None:
        pass


def create_request() -> tuple[dict[str, str], list[tuple[str, str]]]:
    # Given a gateway whose HTTP layer records what it would send to Stripe
    client = RecordingClient()
    gateway = StripeGateway("sk_test_recorded", http_client=client)
    # When a payment is created
    gateway.create_intent(
        amount=2500,
        currency="usd",
        payment_method="pm_card_visa",
        capture_method="automatic",
        description="Order 1042",
        metadata={"payment_id": "pay_1", "user_id": "usr_1"},
        idempotency_key="pay_1-create",
    )
    [(method, url, headers, body)] = client.requests
    assert (method, url) == ("POST", "https://api.stripe.com/v1/payment_intents")
    return headers, parse_qsl(body)


def test_every_call_is_made_at_the_pinned_api_version() -> None:
    headers, _ = create_request()
    assert headers["Stripe-Version"] == STRIPE_API_VERSION


def test_the_pinned_version_is_the_sdks_so_an_upgrade_that_moves_it_fails_here() -> None:
    # The SDK's params TypedDicts describe its own version: our requests are checked against them
    # (devstack's strict Stripe), so the two must agree. Moving the pin is a reviewed change.
    assert _ApiVersion.CURRENT == STRIPE_API_VERSION


def test_the_create_request_sends_only_parameters_that_version_accepts() -> None:
    _, form = create_request()
    top_level = {key.split("[", 1)[0] for key, _ in form}
    accepted = set(PaymentIntentCreateParams.__annotations__) - set(RequestOptions.__annotations__)
    assert top_level <= accepted, top_level - accepted
    # Removed at endive (payment_method_types_no_longer_supported); its replacement restricts to cards
    assert "payment_method_types" not in top_level
    assert ("allowed_payment_method_types[0]", "card") in form
    assert ("confirm", "true") in form
