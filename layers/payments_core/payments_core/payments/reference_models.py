"""Responses that the functions build as plain objects, modelled for the API reference (``openapi``)
only, so that no function creates these models: a page of payments (``GET /payments``, whose items are
``models.PaymentOut``) and a sent code's expiry (``POST /payments/{id}/otp/send``). Tests hold them
to what the functions answer: the generated client parses real pages into ``PaymentPage``, and the
fuzz run checks every answer against the API reference (``tests/integration/test_fuzz.py``).
"""

from pydantic import BaseModel

from payments_core.payments.models import PaymentOut


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None


class CodeSentOut(BaseModel):
    expires_at: str
