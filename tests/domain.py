"""The payments domain wired for tests in this process: the service on a store and one provider, its
one-time codes mailed through SES, and the operations' answers as the API edge gives them."""

from __future__ import annotations

from typing import Any

from payments_core.idempotency_keys import Outcome
from payments_core.mailer import send_email
from payments_core.payment_outcomes import payment_outcome
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.otp import OtpService
from payments_core.payments.otp_repository import OtpCodeStore
from payments_core.payments.provider import PaymentGateway, Providers
from payments_core.payments.providers.stripe.webhook import notice_of
from payments_core.payments.repository import PaymentStore
from payments_core.payments.service import PaymentService

__all__ = ["build_payments", "create", "notice_of", "otp_service"]

OTP_PEPPER = "test-pepper"
SENDER = "no-reply@payments.example.com"


def otp_service(table_name: str = "AppTable", *, pepper: str = OTP_PEPPER, sender: str = SENDER) -> OtpService:
    def mail(user_id: str, subject: str, body: str) -> bool:
        return send_email(table_name=table_name, sender=sender, user_id=user_id, subject=subject, body=body)

    return OtpService(OtpCodeStore(table_name), pepper=pepper, mailer=mail)


def build_payments(
    repository: PaymentStore, gateway: PaymentGateway, otp_threshold: int, *, otp: OtpService | None = None
) -> PaymentService:
    codes = otp or otp_service()
    return PaymentService(repository, Providers.only(gateway), lambda: codes, otp_threshold)


def create(
    service: PaymentService, user_id: str, request: CreatePaymentRequest, key: str, request_id: str = "req"
) -> Outcome:
    """``POST /payments``' answer: 201 with the payment, or why it failed (402, 422, 502)."""
    return payment_outcome(service.create(user_id, request, key), 201, request_id)


def gateway_of(service: PaymentService) -> Any:
    return service.providers[service.providers.default]
