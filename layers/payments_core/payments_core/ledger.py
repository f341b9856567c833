"""The transaction ledger: one immutable entry per money movement, however often an event arrives.
Entries are never changed: a refund the provider reverses gets an entry of its own (refund_failure).

An entry's key is its event's: a movement (a charge of a payment, one refund, ...) is announced by
exactly one event, caused by the one conditional write that made it (``payments.transitions``), and a
redelivered event keeps its id and time (the relay renders it from that write's stream image), so a
redelivery meets its own entry and writes nothing. The entries are kept by ``ledger_repository``
(``USER#<user> / TXN#<occurred_at>#<transaction id>``, one conditional put each), which ``Ledger``
takes as a collaborator.
"""

import hashlib
from typing import Any, Literal, Self

from payments_core.events import PaymentEventDetail, moved_amount, movement_of
from payments_core.ledger_repository import LedgerRepository, LedgerStore

# The kinds of events.movement_of that move money, named after Stripe's balance reporting categories:
# a charge and a reinstated dispute credit the merchant; a refund and a chargeback debit it; a refund
# the provider reversed after it succeeded (refund_failure) credits it back.
TransactionType = Literal["charge", "refund", "refund_failure", "dispute", "dispute_reversal"]
MONEY_MOVEMENTS: tuple[str, ...] = ("charge", "refund", "refund_failure", "dispute", "dispute_reversal")
CREDITS: frozenset[str] = frozenset({"charge", "refund_failure", "dispute_reversal"})


# An entry's fields as clients see them (``GET /transactions``): the model ``ledger_out.TransactionOut``
# documents them, for the API reference, and a test holds it to these.
ENTRY_FIELDS: tuple[str, ...] = ("transaction_id", "payment_id", "type", "amount", "currency", "created_at")


def transaction_id(movement: str) -> str:
    return "txn_" + hashlib.sha256(movement.encode()).hexdigest()[:24]


class Ledger:
    def __init__(self, entries: LedgerStore) -> None:
        self.entries = entries

    @classmethod
    def on_table(cls, table_name: str) -> Self:
        """The ledger kept in the application table."""
        return cls(LedgerRepository(table_name))

    def record(self, detail_type: str, detail: PaymentEventDetail) -> bool:
        """Writes the entry for this event's money movement; False if it was already written."""
        movement = movement_of(detail_type, detail)
        kind = (movement or "").partition(":")[0]
        if movement is None or kind not in MONEY_MOVEMENTS:
            return False
        payment = detail.payment
        entry = {
            "transaction_id": transaction_id(movement),
            "payment_id": payment["payment_id"],
            "type": kind,
            "amount": moved_amount(kind, detail),
            "currency": payment["currency"],
            "created_at": detail.occurred_at,
        }
        return self.entries.add(detail.user_id, entry, movement)

    def list(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the user's entries, newest first, with the fields clients see."""
        items, next_cursor = self.entries.page(user_id, limit, cursor)
        return [{key: item[key] for key in ENTRY_FIELDS} for item in items], next_cursor
