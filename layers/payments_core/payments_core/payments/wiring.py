"""The production wiring of the payments domain, built once per container on first use: the store,
the providers by name (a payment's operations go to the provider that created it) and the payment
service (one-time codes: ``payments.otp_wiring``). The only module that names a concrete provider."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from payments_core.aws import get_secret
from payments_core.config import get_settings
from payments_core.payments.otp_wiring import otp_service
from payments_core.payments.provider import PROVIDER_RECORDS, PaymentGateway, Providers
from payments_core.payments.repository import payment_repository
from payments_core.payments.service import PaymentService

if TYPE_CHECKING:
    from payments_core.payments.webhook import WebhookProcessor

# Imported by the factories below on first use, so that a function loads only the parts it uses (the
# create function never loads the webhook's processor). The functions that do use them name these in
# ``snapstart.prepare(imports=...)``: loaded before the snapshot with SnapStart, in the benchmark's init,
# and on first use without SnapStart, as their AWS clients are. One-time codes: ``payments.otp_wiring``.
WEBHOOK_MODULES = ("payments_core.payments.webhook", *PROVIDER_RECORDS)


def stripe_gateway() -> PaymentGateway:
    from payments_core.payments.providers.stripe.gateway import StripeGateway

    return StripeGateway(get_secret("STRIPE_SECRET_KEY"), get_settings().stripe_api_base)


@functools.cache
def providers() -> Providers:
    """Every provider this deployment can use; new payments go to Stripe."""
    return Providers({"stripe": stripe_gateway}, default="stripe")


@functools.cache
def payment_service() -> PaymentService:
    # otp_service, not otp_service(): built on first use by the operations that send or check a code
    return PaymentService(payment_repository(), providers(), otp_service, get_settings().otp_threshold_amount)


@functools.cache
def webhook_processor(provider: str = "stripe") -> WebhookProcessor:
    """The webhook processor of one provider's deliveries (no payment service: the webhook neither
    creates nor refunds, so it loads no idempotency layer)."""
    from payments_core.payments.webhook import WebhookProcessor

    return WebhookProcessor(payment_repository(), providers()[provider])
