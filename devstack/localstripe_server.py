"""Starts localstripe with two parameters Stripe takes and localstripe 1.15 refuses, and the
PaymentIntent's ``amount_received`` it does not report.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

STRIPE_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def accept_parameter(resource: str, name: str, valid: Callable[[Any], bool], rule: str) -> None:
    """Lets ``resource``'s constructor take ``name``: checked by ``valid`` (else 400 naming ``rule``)
    and kept on the object, as Stripe keeps it. Applying it twice changes nothing."""
    import localstripe.resources
    from localstripe.errors import UserError

    cls = getattr(localstripe.resources, resource)
    original = cls.__init__
    if name in getattr(original, "accepted_parameters", ()):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        value = kwargs.pop(name, None)
        if value is not None and not valid(value):
            raise UserError(400, f"Invalid {name}: {rule}")
        original(self, *args, **kwargs)
        setattr(self, name, value)

    __init__.accepted_parameters = (*getattr(original, "accepted_parameters", ()), name)  # type: ignore[attr-defined]
    cls.__init__ = __init__


def accept_refund_reason() -> None:
    accept_parameter(
        "Refund", "reason", lambda v: v in STRIPE_REFUND_REASONS, "must be one of " + ", ".join(STRIPE_REFUND_REASONS)
    )


def accept_payment_intent_description() -> None:
    accept_parameter("PaymentIntent", "description", lambda v: isinstance(v, str), "must be a string")


def accept_allowed_payment_method_types() -> None:
    """Stripe's replacement (2026-07-29.dahlia) for ``payment_method_types``, which endive refuses:
    the types a PaymentIntent may use. localstripe knows only cards, so only ``card`` is taken."""
    accept_parameter(
        "PaymentIntent",
        "allowed_payment_method_types",
        lambda v: isinstance(v, list) and v == ["card"],
        "localstripe takes cards only",
    )


def report_amount_received() -> None:
    """Gives PaymentIntents Stripe's ``amount_received``, which localstripe lacks: what was captured (the
    part of a hold captured in part), 0 before. Without it a partly captured hold's own
    ``payment_intent.succeeded`` webhook read as the whole hold having moved."""
    import localstripe.resources as resources

    if isinstance(getattr(resources.PaymentIntent, "amount_received", None), property):
        return
    capture = resources.Charge._capture

    def _capture(self: Any, amount: Any, on_success: Any = None) -> Any:
        self._amount_to_capture = self.amount if amount is None else resources.try_convert_to_int(amount)
        return capture(self, amount, on_success=on_success)

    def amount_received(self: Any) -> int:
        charge = self.latest_charge
        if self.status != "succeeded" or charge is None:
            return 0
        return int(getattr(charge, "_amount_to_capture", charge.amount))

    def amount_captured(self: Any) -> int:
        # Stripe's charge field (the daily report sums it): what its capture took, 0 before.
        if not self.captured or self.status != "succeeded":
            return 0
        return int(getattr(self, "_amount_to_capture", self.amount))

    resources.Charge._capture = _capture
    resources.PaymentIntent.amount_received = property(amount_received)
    resources.Charge.amount_captured = property(amount_captured)


def list_by_created() -> None:
    """Lets charges and refunds be listed by ``created`` (``gte``/``gt``/``lt``/``lte``, any of them),
    as Stripe lists them and the daily reconciliation report asks: localstripe lists refunds by no date
    and charges by ``gt`` alone. And ``GET /v1/disputes``, which localstripe lacks: none are made here
    (``disputes_route``), so an empty list, shaped as Stripe's."""
    import localstripe.resources as resources

    tests = {
        "gte": lambda created, bound: created >= bound,
        "gt": lambda created, bound: created > bound,
        "lt": lambda created, bound: created < bound,
        "lte": lambda created, bound: created <= bound,
    }
    for cls in (resources.Charge, resources.Refund):
        original = cls._api_list_all
        if getattr(original, "lists_by_created", False):
            continue

        def _api_list_all(url: Any, created: Any = None, _original: Any = original, **kwargs: Any) -> Any:
            if created is not None and not (isinstance(created, dict) and set(created) <= set(tests)):
                from localstripe.errors import UserError

                raise UserError(400, "Bad request")
            listing = _original(url, **kwargs)
            for name, bound in (created or {}).items():
                listing._list = [
                    obj for obj in listing._list if tests[name](obj.created, resources.try_convert_to_int(bound))
                ]
            return listing

        _api_list_all.lists_by_created = True  # type: ignore[attr-defined]
        cls._api_list_all = _api_list_all


def disputes_route() -> None:
    from aiohttp import web
    from localstripe.server import app

    async def no_disputes(_: Any) -> Any:
        return web.json_response({"object": "list", "url": "/v1/disputes", "has_more": False, "data": []})

    app.router.add_route("GET", "/v1/disputes", no_disputes)


def main() -> int:
    # Run as a script, this file's folder heads sys.path: its modules must not shadow localstripe's imports.
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path.pop(0)
    from localstripe.server import start

    accept_refund_reason()
    accept_payment_intent_description()
    accept_allowed_payment_method_types()
    report_amount_received()
    list_by_created()
    disputes_route()
    sys.argv[0] = "localstripe"
    start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
