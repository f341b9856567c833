"""Which status may follow which, as a table: forward only, money never un-moves."""

from __future__ import annotations

import pytest

from payments_core.payments import lifecycle

STATUSES = [
    "requires_otp", "processing", "requires_action", "requires_capture", "succeeded", "failed", "canceled",
    "partially_refunded", "refunded",
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("requires_otp", "processing", True),
        ("processing", "requires_action", True),
        ("requires_action", "succeeded", True),
        ("requires_capture", "succeeded", True),
        ("requires_capture", "canceled", True),
        ("succeeded", "partially_refunded", True),
        ("partially_refunded", "refunded", True),
        ("succeeded", "failed", False),
        ("succeeded", "canceled", False),
        ("failed", "succeeded", False),
        ("canceled", "succeeded", False),
        ("refunded", "partially_refunded", False),
        ("partially_refunded", "succeeded", False),
        ("processing", "refunded", False),
        ("requires_capture", "requires_action", False),
    ],
)
def test_can_move(current: str, new: str, allowed: bool) -> None:
    assert lifecycle.can_move(current, new) is allowed


@pytest.mark.parametrize("status", STATUSES)
def test_no_status_moves_to_itself_and_final_ones_move_nowhere(status: str) -> None:
    assert not lifecycle.can_move(status, status)
    if status in lifecycle.FINAL:
        assert not any(lifecycle.can_move(status, other) for other in STATUSES)


def test_status_after_refunds() -> None:
    assert lifecycle.status_after_refunds("succeeded", 1000, 0) == "succeeded"
    assert lifecycle.status_after_refunds("succeeded", 1000, 400) == "partially_refunded"
    assert lifecycle.status_after_refunds("partially_refunded", 1000, 1000) == "refunded"
    assert lifecycle.status_after_refunds("requires_capture", 1000, 400) == "requires_capture"
