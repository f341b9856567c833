"""Opaque page cursors of the listing routes (JSON in base64url); a forged one is a 422."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from payments_core.errors import RequestValidationError


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
