"""The production wiring of the payment service, built once per container on first use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from payments_core.config import get_secret, get_settings
from payments_core.payments.gateway import default_gateway
from payments_core.payments.repository import payment_repository
from payments_core.payments.service import PaymentService

if TYPE_CHECKING:
    from payments_core.otp import OtpService


@functools.cache
def payment_service() -> PaymentService:
    service = PaymentService(payment_repository(), default_gateway(), get_settings().otp_threshold_amount)
    service.on_requires_otp = lambda payment: otp_service(service).send(payment, first=True)
    return service


def otp_service(payments: PaymentService | None = None) -> OtpService:
    from payments_core.otp import OtpService

    settings = get_settings()
    return OtpService(
        (lambda: payments) if payments is not None else payment_service,
        table_name=settings.table_name,
        pepper=get_secret("OTP_PEPPER"),
        sender=settings.email_sender,
    )
