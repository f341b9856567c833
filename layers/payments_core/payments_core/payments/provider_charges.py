"""The provider's charges, as neutral facts (the provider seam: ``provider.py``): only the daily report
reads them, so only it builds this model (the refund, the webhook and the reconciler load the
provider's refunds and disputes, ``provider_records``, without it)."""

from pydantic import BaseModel


class ProviderCharge(BaseModel):
    """A charge as the provider holds it: what it captured and refunded, for the daily report."""

    id: str
    amount: int
    amount_captured: int = 0
    amount_refunded: int = 0
    captured: bool = False
    status: str = ""
    currency: str | None = None
    payment_intent: str | None = None
    created: int | None = None
