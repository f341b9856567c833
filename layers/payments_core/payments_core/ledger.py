"""The transaction ledger: one immutable entry per money movement, however often an event arrives.
Entries are never changed: a refund the provider reverses gets an entry of its own (refund_failure).

``USER#<user> / TXN#<occurred_at>#<transaction id>`` holds an entry, written with one conditional put.
Its key is the event's: a movement (a charge of a payment, one refund, ...) is announced by exactly one
event, caused by the one conditional write that made it (``payments.transitions``), and a redelivered
event keeps its id and time (the relay renders it from that write's stream image), so a redelivery meets
its own entry and writes nothing. The daily report finds entries by movement through the index's day
partitions (``movement`` is projected there).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel

from payments_core import keys
from payments_core.aws import dynamodb_client
from payments_core.cursors import decode_cursor, encode_cursor
from payments_core.dynamo import from_item, is_condition_failure, to_item
from payments_core.events import PaymentEventDetail, moved_amount, movement_of
from payments_core.payments.open_items import ledger_attributes

# The kinds of events.movement_of that move money, named after Stripe's balance reporting categories:
# a charge and a reinstated dispute credit the merchant; a refund and a chargeback debit it; a refund
# the provider reversed after it succeeded (refund_failure) credits it back.
TransactionType = Literal["charge", "refund", "refund_failure", "dispute", "dispute_reversal"]
MONEY_MOVEMENTS: tuple[str, ...] = ("charge", "refund", "refund_failure", "dispute", "dispute_reversal")
CREDITS: frozenset[str] = frozenset({"charge", "refund_failure", "dispute_reversal"})


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


def transaction_id(movement: str) -> str:
    return "txn_" + hashlib.sha256(movement.encode()).hexdigest()[:24]


class Ledger:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def record(self, detail_type: str, detail: PaymentEventDetail) -> bool:
        """Writes the entry for this event's money movement; False if it was already written."""
        movement = movement_of(detail_type, detail)
        kind = (movement or "").partition(":")[0]
        if movement is None or kind not in MONEY_MOVEMENTS:
            return False
        payment = detail.payment
        amount = moved_amount(kind, detail)
        txn = transaction_id(movement)
        entry = {
            "transaction_id": txn,
            "payment_id": payment["payment_id"],
            "type": kind,
            "amount": amount,
            "currency": payment["currency"],
            "created_at": detail.occurred_at,
        }
        try:
            dynamodb_client().put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        **keys.transaction(detail.user_id, detail.occurred_at, txn),
                        **entry,
                        "movement": movement,
                        # The daily reconciliation report reads a day's entries by it.
                        **ledger_attributes(detail.occurred_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def list(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :txn)",
            "ExpressionAttributeValues": to_item({":pk": keys.user_pk(user_id), ":txn": keys.TRANSACTION}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            sort_key = decode_cursor(
                cursor, lambda value: isinstance(value, str) and value.startswith(keys.TRANSACTION)
            )
            # The partition comes from the token, never from the cursor: a cursor cannot reach another user.
            request["ExclusiveStartKey"] = to_item({"PK": keys.user_pk(user_id), "SK": sort_key})
        response = dynamodb_client().query(**request)
        fields = TransactionOut.model_fields
        items = [{key: from_item(item)[key] for key in fields} for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_cursor(from_item(last)["SK"]) if last else None
