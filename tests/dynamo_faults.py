"""What DynamoDB does that moto never does, played on a real (moto) client."""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError


class _Refusing:
    """The DynamoDB client, whose ``operation`` DynamoDB refuses ``times`` times with ``response``."""

    operation: ClassVar[str] = ""
    response: ClassVar[dict[str, Any]] = {}

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times, self.tries = client, times, 0

    def __getattr__(self, name: str) -> Any:
        if name != self.operation:
            return getattr(self.client, name)

        def refused(**kwargs: Any) -> Any:
            self.tries += 1
            if self.tries <= self.times:
                raise ClientError(self.response, self.operation)  # type: ignore[arg-type]
            return getattr(self.client, name)(**kwargs)

        return refused


class ConflictingTransactions(_Refusing):
    """Transactions DynamoDB cancels for another write to one of their items at that moment
    (``TransactionConflict``: a sign-in counted on the email's item, a guess counted on a code)."""

    operation = "transact_write_items"
    response: ClassVar[dict[str, Any]] = {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
    }


class ConflictingWrites(_Refusing):
    """A single ``UpdateItem`` DynamoDB refuses while a transaction holds the item
    (``TransactionConflictException``: a send or a guess on the same day)."""

    operation = "update_item"
    response: ClassVar[dict[str, Any]] = {
        "Error": {"Code": "TransactionConflictException", "Message": "Transaction is ongoing for the item"}
    }
