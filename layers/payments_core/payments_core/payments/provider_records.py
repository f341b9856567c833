"""The provider's refunds and disputes, as neutral facts (the provider seam: ``provider.py``). Apart
from it so that the functions that never read one (create, capture, cancel, OTP verify) build none of
these models: only the refund, the webhook, the reconciler and the daily report load them
(``provider.PROVIDER_RECORDS``). Its charges, which only the daily report reads: ``provider_charges``."""

from typing import Literal

from pydantic import BaseModel

# A refund's: one that waits for the customer is still pending; a canceled one failed.
ProviderRefundStatus = Literal["pending", "succeeded", "failed"]


class ProviderRefund(BaseModel):
    id: str
    status: ProviderRefundStatus
    amount: int
    currency: str | None = None
    payment_intent: str | None = None
    reason: str | None = None
    failure_reason: str | None = None
    created: int | None = None
    metadata: dict[str, str] = {}
    charge: str | None = None


class ProviderDispute(BaseModel):
    """A dispute (chargeback) as the provider holds it now: the money it took from the merchant's
    balance (``withdrawn``) and gave back (``reinstated``), each as a positive amount."""

    id: str
    status: str
    amount: int
    currency: str | None = None
    reason: str | None = None
    payment_intent: str | None = None
    withdrawn: int = 0
    reinstated: int = 0
    created: int | None = None
    # Whether the provider would still refund the disputed payment (Stripe's ``is_charge_refundable``:
    # an inquiry, or a dispute closed without a chargeback).
    charge_refundable: bool = False
    # When it was read (``clock.epoch_micros`` as the read began; None: not known). A dispute's status
    # can go back to an earlier one (lost, then appealed), so a read that began before the one stored
    # may say what it no longer is: it is not applied.
    read_at: int | None = None
