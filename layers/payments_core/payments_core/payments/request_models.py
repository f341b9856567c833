"""What clients send to capture and refund a payment, and the amount and currency types of every
request (a payment's create request: ``payments.create_request``). Request models live apart from the
stored and returned models (``payments.models``), so that a function loads only the request models of
the operation it serves; the payment service names them as types only."""

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from payments_core.currencies import ISO_4217
from payments_core.payments.models import RefundReason


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (``2500.0``) is the integer it writes, as JSON Schema's ``integer``
    counts it (docs/decisions.md); ``25.5`` still fails StrictInt, and so do numeric strings and booleans."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Minor units only, never scaled.
Amount = Annotated[StrictInt, BeforeValidator(_integral), Field(ge=1, le=99_999_999)]


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError("Not an ISO 4217 currency code.")
    return code


# Lowercase ISO 4217; the OpenAPI document lists the codes so generated clients and fuzzers know them.
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{3}$"),
    AfterValidator(_known_currency),
    WithJsonSchema({"type": "string", "enum": sorted(ISO_4217), "description": "Lowercase ISO 4217 code."}),
]


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 2000}]})

    amount: Amount | None = None


class RefundRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"amount": 500, "reason": "requested_by_customer"}]}
    )

    amount: Amount | None = None
    reason: RefundReason | None = None
