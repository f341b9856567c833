"""What clients send to capture and refund a payment (a payment's create request:
``payments.create_request``; the amount and currency types of both: ``payments.request_types``).
Request models live apart from the stored and returned models (``payments.models``), so that a
function loads only the request models of the operation it serves; the payment service names them as
types only."""

from pydantic import BaseModel, ConfigDict

from payments_core.payments.models import RefundReason
from payments_core.payments.request_types import Amount


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 2000}]})

    amount: Amount | None = None


class RefundRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": 500, "reason": "requested_by_customer"}]}
    )

    amount: Amount | None = None
    reason: RefundReason | None = None
