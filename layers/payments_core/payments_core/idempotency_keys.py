"""What a client's ``Idempotency-Key`` means, without Powertools: the domain stores a request's
fingerprint with what the key made or changed (a payment, a refund, a capture's or cancel's payment),
refuses the same key with another request, and answers a retry with that object as it is now."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from payments_core.errors import Conflict, RequestValidationError

# The answer of an API operation: {"status": int, "body": ...}.
Outcome = dict[str, Any]
# How long a request waits for another with the same key that is still running, within the Lambda's time.
IN_PROGRESS_WAIT_SECONDS = 8.0
KEY_REUSED = Conflict("idempotency_key_reused", "This Idempotency-Key was used with a different request.")


def fingerprint(body: Any) -> str:
    """One request's content, so the same key with another request is recognised."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validated_key(headers: dict[str, str]) -> str:
    key = next((value for name, value in headers.items() if name.lower() == "idempotency-key"), None)
    # Printable ASCII only (what the contract says, and what Stripe's own keys are derived from):
    # isprintable() alone takes any Unicode character, and a header's bytes arrive as Latin-1.
    if key is None or not 1 <= len(key) <= 255 or not (key.isascii() and key.isprintable()):
        raise RequestValidationError(
            [{"field": "Idempotency-Key", "message": "Header required: 1 to 255 printable ASCII characters."}]
        )
    return key


def in_progress_deadline(context: Any = None) -> float:
    """Until when (``time.monotonic()``) a request may wait for another with its key: 8 s, and never
    past 2 s before the Lambda's own end."""
    deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        deadline = min(deadline, time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 2)
    return deadline
