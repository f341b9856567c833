"""A payment update that starts from the payment as the request last knew it (``known``, a read saved)
loses nothing written meanwhile, and never answers from what it only assumed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from payments_core.errors import Conflict
from payments_core.payments.models import Change, Payment
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.transitions import stamped

NOW = "2026-12-05T12:00:00.000000Z"


def stored_payment(repository: PaymentRepository) -> Payment:
    payment = Payment(
        payment_id="pay_" + "a" * 24,
        user_id="usr_" + "b" * 12,
        status="requires_capture",
        amount=2500,
        currency="usd",
        payment_method="pm_card_visa",
        request_fingerprint="f" * 64,
        metadata={},
        created_at=NOW,
        updated_at=NOW,
    )
    assert repository.create(Change(payment, []))
    return payment


def tag(name: str) -> Callable[[Payment], Change]:
    def mutate(current: Payment) -> Change:
        return Change(stamped(current, metadata={**current.metadata, name: "1"}))

    return mutate


@pytest.mark.usefixtures("aws")
def test_a_write_made_since_the_known_payment_is_kept() -> None:
    repository = PaymentRepository("AppTable")
    known = stored_payment(repository)
    repository.update(known.user_id, known.payment_id, tag("elsewhere"))  # another request's write

    updated = repository.update(known.user_id, known.payment_id, tag("here"), known=known)

    assert updated is not None
    assert updated.metadata == {"elsewhere": "1", "here": "1"}
    assert updated.version == 2
    assert repository.get(known.user_id, known.payment_id) == updated


@pytest.mark.usefixtures("aws")
def test_nothing_to_change_and_refusals_are_decided_on_the_stored_payment() -> None:
    repository = PaymentRepository("AppTable")
    known = stored_payment(repository)
    repository.update(known.user_id, known.payment_id, lambda p: Change(stamped(p, status="succeeded")))

    def capture(current: Payment) -> Change | None:
        if current.status == "succeeded":
            return None  # already done
        if current.status != "requires_capture":
            raise Conflict("payment_not_capturable", "not capturable")
        return Change(stamped(current, status="succeeded"))

    answer = repository.update(known.user_id, known.payment_id, capture, known=known)
    assert answer is not None
    assert (answer.status, answer.version) == ("succeeded", 1)  # as stored, not the stale known

    def refuse_unless_fresh(current: Payment) -> Change | None:
        if current.version == 0:
            raise Conflict("stale", "decided on a stale payment")
        return None

    answer = repository.update(known.user_id, known.payment_id, refuse_unless_fresh, known=known)
    assert answer is not None
    assert answer.version == 1
