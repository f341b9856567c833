"""The refusals a client sees, as domain errors: a code, a message, what else the client needs
(``extra``) and, when retrying later helps, after how long (``retry_after``). They carry no HTTP
status: the API edge (``payments_core.api.STATUS``) maps each kind to one, once, and renders the
contract's envelope. Kept free of Event Handler and pydantic so code that only raises them (the
domain, the queue consumers, the repositories) does not load the HTTP side at cold start.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal the client should see. Subclasses say what kind it is; the edge picks the status."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.retry_after = retry_after


class BadRequest(DomainError):
    """The request cannot be taken as it is (a wrong code, a webhook not signed by the provider)."""


class Unauthenticated(DomainError):
    """Who is asking is not known (no, a bad or an expired token; wrong credentials)."""


class NotFound(DomainError):
    """Nothing of the caller's by that id."""


class Conflict(DomainError):
    """The resource's state does not allow it now (or another request is changing it)."""


class Gone(DomainError):
    """What the request needed has expired (a one-time code)."""


class Invalid(DomainError):
    """The request's content is not valid: field by field in ``details``."""


class TooManyRequests(DomainError):
    """A limit was reached (codes sent, wrong codes tried)."""


class ProviderError(DomainError):
    """The payment provider answered with an error that is nothing the client chose."""


class ProviderUnavailable(DomainError):
    """The provider could not be reached, or may have processed the call without our seeing the answer."""

    def __init__(self) -> None:
        super().__init__("provider_unavailable", "The payment provider is unavailable. Retry later.")


class Unavailable(DomainError):
    """Our own store could not answer in time (throttled): retry shortly."""


class Declined(DomainError):
    """The card was declined (``extra`` holds the decline code)."""


class NotYet(DomainError):
    """Something cannot be done yet and the caller should try again (a webhook delivered again)."""


class RequestValidationError(Invalid):
    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("validation_error", "The request is not valid.", extra={"details": details})


NOT_FOUND = NotFound("not_found", "Not found.")
BUSY = Unavailable("temporarily_unavailable", "Too many requests at once. Retry shortly.", retry_after=1)
# One-time codes (payments.otp): here, so that the payment service raises them without loading the
# one-time-code module, which only the functions that send or check a code need.
OTP_NOT_REQUIRED = Conflict("otp_not_required", "This payment is not waiting for a one-time code.")
OTP_EXPIRED = Gone("otp_expired", "The code has expired. Ask for a new one.")
TOO_MANY_ATTEMPTS = TooManyRequests("too_many_attempts", "Too many wrong codes: the payment was canceled.")
