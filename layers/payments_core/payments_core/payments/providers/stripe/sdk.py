"""The Stripe SDK: the API version every call is made at, and the SDK loaded once per container."""

from __future__ import annotations

import functools
import sys
from types import ModuleType

from payments_core.lazy_imports import defer

# The Stripe API version every call is made at, pinned here rather than left to the SDK's default, so an
# SDK upgrade that moves it is a visible change (tests/unit/test_stripe_version.py) and a reviewed one:
# parameters come and go between versions (endive removed payment_method_types from PaymentIntents).
STRIPE_API_VERSION = "2026-10-28.endive"
# Card only, confirmed on the server: a card's 3-D Secure is a next action, never a redirect.
# (payment_method_types is refused at this version with payment_method_types_no_longer_supported.)
ALLOWED_PAYMENT_METHOD_TYPES = ["card"]

# Stripe calls must finish inside the Lambda timeout (20 s): 2 tries x (2 s connect + 6 s read) + backoff.
STRIPE_TIMEOUT = (2.0, 6.0)
STRIPE_NETWORK_RETRIES = 1


@functools.cache
def stripe_sdk() -> ModuleType:
    """The ``stripe`` module, imported without what it would import for nothing: its HTTP module picks
    a default client at import by trying ``import requests`` (we pass our own, on urllib3:
    ``http.Urllib3Client``), and imports ``asyncio`` for its async clients, which we never use (deferred:
    ``payments_core.lazy_imports``). Every use of the SDK gets it from here."""
    defer("asyncio")
    unseen = "requests" not in sys.modules
    if unseen:
        sys.modules["requests"] = None  # type: ignore[assignment]  # `import requests` raises ImportError
    try:
        import stripe
    finally:
        if unseen:
            del sys.modules["requests"]
    return stripe


@functools.cache
def load_stripe_sdk() -> None:
    """Imports the Stripe SDK with the modules it loads lazily on first use (client services, error
    classes, webhook verification): one-time work for SnapStart's snapshot, and for the local stack,
    where concurrent first uses of a lazy import in one process could race."""
    from payments_core.payments.providers.stripe.http import Urllib3Client

    stripe = stripe_sdk()
    client = stripe.StripeClient("sk_test_unused", http_client=Urllib3Client(timeout=STRIPE_TIMEOUT))
    _ = (
        client.v1.payment_intents,
        client.v1.refunds,
        client.v1.disputes,
        client.v1.charges,
        stripe.WebhookSignature,
        stripe.SignatureVerificationError,
    )
    _ = (stripe.CardError, stripe.APIConnectionError, stripe.RateLimitError, stripe.InvalidRequestError)
