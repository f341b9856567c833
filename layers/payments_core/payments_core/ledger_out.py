"""The ledger as clients see it (``GET /transactions``), for the API reference (``openapi``). Apart from
``ledger`` so that the ledger consumer, which only writes entries, does not create these models; the
entry's fields are ``ledger.ENTRY_FIELDS``, and a test holds this model to them.
"""

from pydantic import BaseModel

from payments_core.ledger import TransactionType


class TransactionOut(BaseModel):
    transaction_id: str
    payment_id: str
    type: TransactionType
    amount: int
    currency: str
    created_at: str


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_cursor: str | None
