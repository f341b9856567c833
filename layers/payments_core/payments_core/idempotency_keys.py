"""What a client's ``Idempotency-Key`` means to both sides, without Powertools: the domain stores a
request's fingerprint with what the key created (a payment, a refund) and refuses the same key with
another request; the API edge (``idempotency``) replays stored outcomes by the same rules."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from payments_core.errors import Conflict, RequestValidationError

# A stored answer of an API operation: {"status": int, "body": ...}, replayed as it was first given.
Outcome = dict[str, Any]
KEY_REUSED = Conflict("idempotency_key_reused", "This Idempotency-Key was used with a different request.")


def fingerprint(body: Any) -> str:
    """One request's content, so the same key with another request is recognised."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validated_key(headers: dict[str, str]) -> str:
    key = next((value for name, value in headers.items() if name.lower() == "idempotency-key"), None)
    if key is None or not 1 <= len(key) <= 255 or not key.isprintable():
        raise RequestValidationError(
            [{"field": "Idempotency-Key", "message": "Header required: 1 to 255 printable characters."}]
        )
    return key
