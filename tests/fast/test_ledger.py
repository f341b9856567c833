"""The ledger on an in-memory entry store, fed the bus events the real domain's writes cause: one
entry per money movement however often its event is delivered, none for what moves no money."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments_core import clock
from payments_core.events import PaymentEventDetail
from payments_core.ledger import ENTRY_FIELDS, Ledger
from payments_core.ledger_out import TransactionOut, TransactionPage
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.refund_request import RefundRequest
from tests.fast.conftest import USER, Domain
from tests.fast.fakes import InMemoryLedger


def deliver_all(domain: Domain, ledger: Ledger, times: int = 1) -> list[bool]:
    """Every event the domain published so far, each delivered ``times`` times: whether each wrote."""
    written = []
    for detail_type, detail in domain.store.published:
        for _ in range(times):
            written.append(ledger.record(detail_type, PaymentEventDetail.model_validate(detail)))
    return written


def test_each_money_movement_makes_one_entry_however_often_its_event_arrives(domain: Domain) -> None:
    paid = domain.pay(5000)
    domain.service.refund(USER, paid.payment_id, RefundRequest(amount=1200), "ref-1")
    hold = domain.pay(3000, capture_method="manual")
    domain.service.capture(USER, hold.payment_id, CaptureRequest(amount=2000), "cap-1")
    domain.pay(900, method="fp_declined")  # a failure moves no money
    store = InMemoryLedger()
    ledger = Ledger(store)

    assert deliver_all(domain, ledger, times=3).count(True) == 3
    entries = sorted((e["type"], e["amount"], e["payment_id"]) for e in store.items.values())
    assert entries == [
        ("charge", 2000, hold.payment_id),  # the part captured, not the hold
        ("charge", 5000, paid.payment_id),
        ("refund", 1200, paid.payment_id),
    ]
    assert deliver_all(domain, ledger).count(True) == 0  # delivered again later: nothing new


def test_a_users_entries_are_listed_newest_first_a_page_at_a_time(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    for second, amount in enumerate((1000, 2000, 3000)):
        monkeypatch.setattr(clock, "now", lambda second=second: datetime(2027, 1, 1, 0, 0, second, tzinfo=UTC))
        domain.pay(amount)
    ledger = Ledger(InMemoryLedger())
    deliver_all(domain, ledger)

    first, cursor = ledger.list(USER, 2, None)
    rest, end = ledger.list(USER, 2, cursor)
    assert [e["amount"] for e in first + rest] == [3000, 2000, 1000]
    assert end is None
    assert set(first[0]) == {"transaction_id", "payment_id", "type", "amount", "currency", "created_at"}
    assert ledger.list("usr_other", 10, None) == ([], None)


def test_the_api_references_transaction_model_is_what_the_listing_answers(domain: Domain) -> None:
    # Given a charge delivered to the ledger
    domain.pay(1500)
    ledger = Ledger(InMemoryLedger())
    deliver_all(domain, ledger)

    # When the user's entries are listed
    [entry], _ = ledger.list(USER, 10, None)

    # Then the entry has exactly the documented model's fields, and validates against it
    assert tuple(TransactionOut.model_fields) == ENTRY_FIELDS == tuple(entry)
    assert TransactionPage.model_validate({"items": [entry], "next_cursor": None}).items[0].amount == 1500
