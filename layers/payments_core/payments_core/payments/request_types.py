"""The amount and currency types of every payment request: the create request
(``payments.create_request``), the capture request (``payments.capture_request``) and the refund
request (``payments.refund_request``) each load these without the others' models."""

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StringConstraints, WithJsonSchema

from payments_core.currencies import ISO_4217


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (``2500.0``) is the integer it writes, as JSON Schema's ``integer``
    counts it (docs/decisions.md); ``25.5`` still fails StrictInt, and so do numeric strings and booleans."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Minor units only, never scaled.
# (The bounds before the validator: after it, pydantic writes them as `ge`/`le`, which JSON Schema and
# so every generated client ignore, instead of `minimum`/`maximum`.)
Amount = Annotated[StrictInt, Field(ge=1, le=99_999_999), BeforeValidator(_integral)]


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
