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
