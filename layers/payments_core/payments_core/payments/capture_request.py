"""What clients send to capture a payment (its refund: ``payments.refund_request``; its create:
``payments.create_request``; the amount and currency types: ``payments.request_types``). Request models
live apart from the stored and returned models (``payments.models``) and from each other, so that a
function builds only the request model of the operation it serves; the payment service names them as
types only."""

from pydantic import BaseModel, ConfigDict

from payments_core.payments.request_types import Amount


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 2000}]})

    amount: Amount | None = None
