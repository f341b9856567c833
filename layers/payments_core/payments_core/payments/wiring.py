"""The production wiring of the payment service, built once per container on first use."""

from __future__ import annotations

import functools

from payments_core.config import get_settings
from payments_core.payments.gateway import default_gateway
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.service import PaymentService


@functools.cache
def payment_repository() -> PaymentRepository:
    return PaymentRepository(get_settings().table_name)


@functools.cache
def payment_service() -> PaymentService:
    return PaymentService(payment_repository(), default_gateway(), get_settings().otp_threshold_amount)
