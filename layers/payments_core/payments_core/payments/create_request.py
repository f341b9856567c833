"""What clients send to create a payment: the request with free text (description, metadata), where
card data and control characters are refused. Apart from the capture and refund requests
(``payments.capture_request``, ``payments.refund_request``), which the function creating payments
does not need; the amount and currency types of all three: ``payments.request_types``."""

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from payments_core.card_numbers import refuse_card_number
from payments_core.currencies import charge_amount_problem
from payments_core.payments.request_types import Amount, Currency

RAW_CARD_FIELDS = frozenset(
    {"card", "number", "card_number", "cvc", "cvv", "exp_month", "exp_year", "expiry", "pan", "track_data"}
)


def _reject_raw_card_fields(data: Any) -> Any:
    if isinstance(data, dict):
        found = sorted(RAW_CARD_FIELDS & {str(key).lower() for key in data})
        if found:
            # The message names the fields, never their values.
            raise ValueError(f"Raw card data is not accepted ({', '.join(found)}); send a payment method id.")
    return data


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _clean_free_text(text: str) -> str:
    """Free text ends up in Stripe's dashboard, on receipts and in emails: tabs and line breaks are
    text, NUL, escape sequences and the like are not, and a card number is card data."""
    if _CONTROL_CHARACTERS.search(text):
        raise ValueError("Control characters are not accepted (tabs and line breaks are).")
    return refuse_card_number(text)


# The metadata keys our own ids take at Stripe (a PaymentIntent's, a refund's): webhooks find the
# payment by them, so the client's value for one would be replaced there without a word.
RESERVED_METADATA_KEYS = frozenset({"payment_id", "user_id", "refund_id"})


def _metadata_key(key: str) -> str:
    if key in RESERVED_METADATA_KEYS:
        raise ValueError(f"Reserved for our own ids at the provider: {', '.join(sorted(RESERVED_METADATA_KEYS))}.")
    return _clean_free_text(key)


# Free text we store, send to the provider and publish: a card number typed into it is refused
# (card_numbers). These are our own bounds; a provider's narrower ones (Stripe: keys of at most 40
# characters without square brackets) are its own (``PaymentGateway.request_problems``).
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_metadata_key)]
MetadataValue = Annotated[str, StringConstraints(max_length=500), AfterValidator(_clean_free_text)]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_clean_free_text)]


class CreatePaymentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa"},
                {"amount": 4000, "currency": "usd", "payment_method": "pm_card_visa", "capture_method": "manual"},
                {"amount": 75000, "currency": "eur", "payment_method": "pm_card_visa", "description": "Order 1043"},
            ]
        },
    )

    currency: Currency  # before amount, so the amount's check can see it
    amount: Amount
    payment_method: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,255}$")] = Field(
        description="The provider's id of the payment method (Stripe: pm_...; other shapes are refused with a 422)."
    )
    description: Description | None = Field(
        default=None,
        description="Sent to Stripe, which shows it on receipts. A card number or a control character other "
        "than tab and line breaks is refused (422).",
    )
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=20)] = Field(
        default_factory=dict,
        description="Kept with the payment and sent to the provider (Stripe: keys of at most 40 characters "
        "without square brackets). Keys other than "
        "payment_id, user_id and refund_id (our own ids at the provider); a card number or a control character other "
        "than tab and line breaks is refused.",
    )
    capture_method: Literal["automatic", "manual"] = "automatic"

    _no_card = model_validator(mode="before")(_reject_raw_card_fields)

    @field_validator("amount")
    @classmethod
    def _amount_in_currency(cls, amount: int, info: ValidationInfo) -> int:
        problem = charge_amount_problem(amount, info.data["currency"]) if "currency" in info.data else None
        if problem:
            raise ValueError(problem)
        return amount
