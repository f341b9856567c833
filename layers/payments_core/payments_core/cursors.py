"""Opaque page cursors of the listing routes (JSON in base64url); a forged one is a 422."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from payments_core.errors import RequestValidationError

# The longest key value a cursor of ours holds (a payment's ``PAY#`` key and creation time, a ledger
# entry's ``TXN#`` key): DynamoDB refuses an empty key value, or a sort key over 1024 bytes, with a
# ValidationException (moto does not), so a forged cursor holding one would be a 500, not a 422.
KEY_VALUE_MAX_BYTES = 200


def key_value(value: Any) -> bool:
    """Whether ``value`` could be a key value a cursor of ours holds."""
    return isinstance(value, str) and 0 < len(value.encode()) <= KEY_VALUE_MAX_BYTES


def encode_cursor(value: Any) -> str:
    """An opaque page cursor holding ``value``."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, valid: Callable[[Any], bool]) -> Any:
    """The value of a cursor from ``encode_cursor``; anything else (or ``valid`` false) is a 422."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        value = None
    if value is None or not valid(value):
        raise RequestValidationError([{"field": "cursor", "message": "Not a cursor from this API."}])
    return value
