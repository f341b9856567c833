"""The production wiring of the payments domain, built once per container on first use: the store,
the providers by name (a payment's operations go to the provider that created it), one-time codes
and their emails. The only module that names a concrete provider."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from payments_core.aws import get_secret
from payments_core.config import get_settings
from payments_core.payments.provider import PaymentGateway, Providers
from payments_core.payments.repository import payment_repository
from payments_core.payments.service import PaymentService

if TYPE_CHECKING:
    from payments_core.payments.otp import OtpService
    from payments_core.payments.webhook import WebhookProcessor

# Imported by the factories below on first use, so that a function loads only the parts it uses
# (capture never loads one-time codes, nor the create function the webhook's processor). The functions
# that do use them name these in ``snapstart.prepare(imports=...)``: loaded before the snapshot with
# SnapStart, in the benchmark's init, and on first use without SnapStart, as their AWS clients are.
OTP_MODULES = ("payments_core.payments.otp", "payments_core.payments.otp_repository", "payments_core.notifications")
WEBHOOK_MODULES = ("payments_core.payments.webhook",)


def stripe_gateway() -> PaymentGateway:
    from payments_core.payments.providers.stripe.gateway import StripeGateway

    return StripeGateway(get_secret("STRIPE_SECRET_KEY"), get_settings().stripe_api_base)


@functools.cache
def providers() -> Providers:
    """Every provider this deployment can use; new payments go to Stripe."""
    return Providers({"stripe": stripe_gateway}, default="stripe")


@functools.cache
def otp_service() -> OtpService:
    from payments_core.notifications import send_email
    from payments_core.payments.otp import OtpService
    from payments_core.payments.otp_repository import OtpCodeStore

    settings = get_settings()

    def mail(user_id: str, subject: str, body: str) -> bool:
        return send_email(
            table_name=settings.table_name, sender=settings.email_sender, user_id=user_id, subject=subject, body=body
        )

    return OtpService(OtpCodeStore(settings.table_name), pepper=get_secret("OTP_PEPPER"), mailer=mail)


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
