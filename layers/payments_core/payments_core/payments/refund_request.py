"""What clients send to refund a payment (its capture: ``payments.capture_request``; its create:
``payments.create_request``; the amount and currency types: ``payments.request_types``). Apart from the
other request models so that a function builds only the one of the operation it serves."""

from pydantic import BaseModel, ConfigDict

from payments_core.payments.models import RefundReason
from payments_core.payments.request_types import Amount


class RefundRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": 500, "reason": "requested_by_customer"}]}
    )

    amount: Amount | None = None
    reason: RefundReason | None = None
