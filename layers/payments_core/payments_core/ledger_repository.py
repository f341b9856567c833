"""Ledger entries in the application table: every read and write of the ledger and its daily report.

``USER#<user> / TXN#<occurred_at>#<transaction id>`` holds an entry, written with one conditional put
(its key is its event's, so a redelivery meets its own entry and writes nothing). ``GET /transactions``
reads a user's entries newest first by sort key; the daily report reads a day's entries from the
``Reconciliation`` index's day partitions (``LEDGER#<day>``, ``movement`` projected there;
``payments.open_items``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from payments_core import clock, keys
from payments_core.aws import dynamodb_client
from payments_core.cursors import decode_cursor, encode_cursor, key_value
from payments_core.dynamo import from_item, is_condition_failure, to_item
from payments_core.payments import open_items


class LedgerStore(Protocol):
    """What the ledger and its report need of the entries (tests run them on an in-memory one)."""

    def add(self, user_id: str, entry: dict[str, Any], movement: str) -> bool: ...

    def page(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...

    def entries_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]: ...


class LedgerRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def add(self, user_id: str, entry: dict[str, Any], movement: str) -> bool:
        """Writes an entry (``transaction_id``, ``created_at``, ...) of ``movement``; False if it was
        already written."""
        occurred_at = str(entry["created_at"])
        try:
            dynamodb_client().put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        **keys.transaction(user_id, occurred_at, str(entry["transaction_id"])),
                        **entry,
                        "movement": movement,
                        # The daily reconciliation report reads a day's entries by it.
                        **open_items.ledger_attributes(occurred_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def page(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the user's entries, newest first, and the cursor of the next page."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :txn)",
            "ExpressionAttributeValues": to_item({":pk": keys.user_pk(user_id), ":txn": keys.TRANSACTION}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            sort_key = decode_cursor(cursor, lambda value: key_value(value) and value.startswith(keys.TRANSACTION))
            # The partition comes from the token, never from the cursor: a cursor cannot reach another user.
            request["ExclusiveStartKey"] = to_item({"PK": keys.user_pk(user_id), "SK": sort_key})
        response = dynamodb_client().query(**request)
        items = [from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_cursor(from_item(last)["SK"]) if last else None

    def entries_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The entries written in [start, end), from the index's day partitions (``user_id`` added from
        each entry's key)."""
        entries: list[dict[str, Any]] = []
        day = start.date()
        while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": open_items.INDEX,
                "KeyConditionExpression": "recon_pk = :pk AND recon_at BETWEEN :from AND :to",
                "ExpressionAttributeValues": to_item(
                    {
                        ":pk": open_items.LEDGER_PREFIX + day.isoformat(),
                        ":from": clock.iso(start),
                        ":to": clock.iso(end - timedelta(milliseconds=1)),
                    }
                ),
            }
            while True:
                response = dynamodb_client().query(**request)
                for item in response.get("Items", []):
                    entry = from_item(item)
                    entries.append(entry | {"user_id": keys.user_of(str(entry["PK"]))})
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            day += timedelta(days=1)
        return entries
