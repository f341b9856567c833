"""The production wiring of one-time codes and their emails, built once per container on first use.
Apart from ``payments.wiring`` so that a function that only sends codes (OTP send) loads neither the
providers nor the payment service: what it builds at init is what it uses."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from payments_core.aws import get_secret
from payments_core.config import get_settings

if TYPE_CHECKING:
    from payments_core.payments.otp import OtpService

# Imported by the factory below on first use, so that a function loads only the parts it uses (capture
# never loads one-time codes). The functions that do use them name these in
# ``snapstart.prepare(imports=...)``: loaded before the snapshot with SnapStart, in the benchmark's init,
# and on first use without SnapStart, as their AWS clients are.
OTP_MODULES = ("payments_core.payments.otp", "payments_core.payments.otp_repository", "payments_core.mailer")


@functools.cache
def otp_service() -> OtpService:
    from payments_core.mailer import send_email
    from payments_core.payments.otp import OtpService
    from payments_core.payments.otp_repository import OtpCodeStore

    settings = get_settings()

    def mail(user_id: str, subject: str, body: str) -> bool:
        return send_email(
            table_name=settings.table_name, sender=settings.email_sender, user_id=user_id, subject=subject, body=body
        )

    return OtpService(OtpCodeStore(settings.table_name), pepper=get_secret("OTP_PEPPER"), mailer=mail)
