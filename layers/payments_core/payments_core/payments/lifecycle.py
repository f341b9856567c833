"""Which status may follow which: forward only, whatever order the provider's events arrive in."""

from __future__ import annotations

_RANK: dict[str, int] = {
    "requires_otp": 0,
    # "processing" is also our state between storing a payment and the provider's first answer,
    # so any answer (3-D Secure included) moves it on.
    "processing": 1,
    "requires_action": 2,
    "requires_capture": 3,
    "succeeded": 4,
    "failed": 4,
    "canceled": 4,
    "partially_refunded": 5,
    "refunded": 6,
}
FINAL: frozenset[str] = frozenset({"failed", "canceled", "refunded"})
MONEY_MOVED: frozenset[str] = frozenset({"succeeded", "partially_refunded", "refunded"})
CANCELABLE: frozenset[str] = frozenset({"requires_otp", "requires_action", "requires_capture"})


def can_move(current: str, new: str) -> bool:
    if current in FINAL or current == new:
        return False
    if current in MONEY_MOVED:
        return new in ("partially_refunded", "refunded") and _RANK[new] > _RANK[current]
    return _RANK[new] > _RANK[current] and new not in ("partially_refunded", "refunded")


def status_after_refunds(payment_status: str, amount_captured: int, amount_refunded: int) -> str:
    if payment_status not in MONEY_MOVED or amount_refunded <= 0:
        return payment_status
    return "refunded" if amount_refunded >= amount_captured else "partially_refunded"
