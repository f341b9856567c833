"""A Stripe dispute object read as what moved, in the charge's currency, by its balance transactions."""

from __future__ import annotations

from typing import Any

import pytest

from payments_core.payments.providers.stripe.gateway import StripeGateway


def stripe_dispute(amount: int, currency: str, moved: list[int], status: str = "lost") -> dict[str, Any]:
    return {
        "id": "dp_1",
        "object": "dispute",
        "amount": amount,
        "currency": currency,
        "status": status,
        "payment_intent": "pi_1",
        "balance_transactions": [{"object": "balance_transaction", "amount": a, "currency": "usd"} for a in moved],
    }


@pytest.mark.parametrize(
    ("amount", "currency", "moved", "withdrawn", "reinstated"),
    [
        (2000, "usd", [], 0, 0),  # an inquiry: nothing moved
        (2000, "usd", [-2000], 2000, 0),  # open, or lost
        (2000, "usd", [-2000, 2000], 2000, 2000),  # won
        # Lost after 5.00 of it had been refunded: only that comes back ("partially won", status lost)
        (2000, "usd", [-2000, 500], 2000, 500),
        # The same for a EUR charge settled in USD: the share of what moved, in the charge's currency
        (1000, "eur", [-1100, 275], 1000, 250),
    ],
)
def test_what_a_dispute_moved_is_read_from_its_balance_transactions(
    amount: int, currency: str, moved: list[int], withdrawn: int, reinstated: int
) -> None:
    read = StripeGateway._dispute(stripe_dispute(amount, currency, moved))
    assert (read.withdrawn, read.reinstated) == (withdrawn, reinstated)


def test_a_dispute_won_in_another_currency_comes_back_whole_at_any_rate() -> None:
    # A EUR 10.00 charge on a USD account: withdrawn as 11.00 USD, reinstated at a later rate as 10.90
    read = StripeGateway._dispute(stripe_dispute(1000, "eur", [-1100, 1090], status="won"))
    assert (read.withdrawn, read.reinstated) == (1000, 1000)
