"""What DynamoDB does that moto never does, played on a real (moto) client."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class ConflictingTransactions:
    """The DynamoDB client, whose transactions DynamoDB cancels ``times`` times for another write to one
    of their items at that moment (``TransactionConflict``: a sign-in counted on the email's item, a guess
    counted on a code)."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times, self.tries = client, times, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.tries += 1
        if self.tries <= self.times:
            response: Any = {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            }
            raise ClientError(response, "TransactWriteItems")
        return self.client.transact_write_items(**kwargs)


class ConflictingWrites:
    """The DynamoDB client, whose single ``UpdateItem`` DynamoDB refuses ``times`` times while a
    transaction holds the item (``TransactionConflictException``: a send or a guess on the same day)."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times, self.tries = client, times, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.tries += 1
        if self.tries <= self.times:
            response: Any = {
                "Error": {"Code": "TransactionConflictException", "Message": "Transaction is ongoing for the item"}
            }
            raise ClientError(response, "UpdateItem")
        return self.client.update_item(**kwargs)
