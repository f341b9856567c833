"""Starts localstripe with two parameters Stripe takes and localstripe 1.15 refuses.

localstripe refuses any parameter it does not model (``400 Unexpected reason``): every refund the
contract lets a client give a reason (``duplicate``, ``fraudulent``, ``requested_by_customer``)
answered 502 locally while Stripe takes it, and so would every payment's ``description``, which
Stripe shows in its dashboard and on receipts. Here a refund's reason is checked against Stripe's
values and a PaymentIntent's description to be a string, and each is kept on its object; everything
else is localstripe's own.
Run as a script: ``python devstack/localstripe_server.py --port 8420 --from-scratch``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

STRIPE_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def accept_refund_reason() -> None:
    from localstripe.errors import UserError
    from localstripe.resources import Refund

    original = Refund.__init__
    if getattr(original, "accepts_reason", False):
        return

    def __init__(self: Any, *args: Any, reason: str | None = None, **kwargs: Any) -> None:
        if reason is not None and reason not in STRIPE_REFUND_REASONS:
            raise UserError(400, "Invalid reason: must be one of " + ", ".join(STRIPE_REFUND_REASONS))
        original(self, *args, **kwargs)
        self.reason = reason

    __init__.accepts_reason = True  # type: ignore[attr-defined]
    Refund.__init__ = __init__


def accept_payment_intent_description() -> None:
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent

    original = PaymentIntent.__init__
    if getattr(original, "accepts_description", False):
        return

    def __init__(self: Any, *args: Any, description: str | None = None, **kwargs: Any) -> None:
        if description is not None and not isinstance(description, str):
            raise UserError(400, "Invalid description: must be a string")
        original(self, *args, **kwargs)
        self.description = description

    __init__.accepts_description = True  # type: ignore[attr-defined]
    PaymentIntent.__init__ = __init__


def main() -> int:
    # Run as a script, this file's folder heads sys.path: its modules must not shadow localstripe's imports.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    from localstripe.server import start

    accept_refund_reason()
    accept_payment_intent_description()
    sys.argv[0] = "localstripe"
    start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
