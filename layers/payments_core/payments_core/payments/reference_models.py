"""Responses that the functions build as plain objects, modelled for the API reference (``openapi``)
only, so that no function creates these models: the payment, its refunds and its dispute as clients see
them (``models.Payment.public()``, ``models.Refund.public()``), a page of payments (``GET /payments``)
and a sent code's expiry (``POST /payments/{id}/otp/send``). Tests hold them to what the functions
answer: ``tests/fast/test_public_view.py`` validates ``public()`` of payments in every state against
these models, the generated client parses real answers into them, and the fuzz run checks every answer
against the API reference (``tests/integration/test_fuzz.py``).
"""

from typing import Any

from pydantic import BaseModel, Field

from payments_core.payments.models import PaymentStatus, RefundReason, RefundStatus


class RefundOut(BaseModel):
    """A refund as clients see it."""

    refund_id: str
    payment_id: str
    amount: int
    currency: str
    status: RefundStatus
    reason: RefundReason | None
    failure_reason: str | None = Field(
        default=None,
        description="The provider's reason, when it failed; `not_sent`: the request never reached it.",
    )
    failed_after_success: bool = Field(
        default=False,
        description="It had succeeded and the provider reversed it later: the amount is refundable again.",
    )
    created_at: str


class DisputeOut(BaseModel):
    """A chargeback the cardholder opened with their bank, as the provider reports it."""

    dispute_id: str
    status: str = Field(description="The provider's: needs_response, under_review, won, lost, warning_*, appeal_* ...")
    amount: int
    currency: str
    reason: str | None
    amount_withdrawn: int = Field(description="Taken from the merchant's balance when it opened.")
    amount_reinstated: int = Field(
        description="Given back: all of it when won; the part refunded before it when lost after a partial refund."
    )
    created_at: str


class PaymentOut(BaseModel):
    """The contract's payment object."""

    payment_id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_captured: int = Field(
        description="What moved at the provider: 0 until the payment succeeds; a hold captured in part "
        "shows the part. The ledger and receipts charge this, and refunds are limited by it."
    )
    amount_refunded: int
    description: str | None
    metadata: dict[str, str]
    provider: str
    provider_payment_id: str | None
    next_action: dict[str, Any] | None
    client_secret: str | None
    refunds: list[RefundOut]
    dispute: DisputeOut | None = None
    created_at: str
    updated_at: str


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None


class CodeSentOut(BaseModel):
    expires_at: str
