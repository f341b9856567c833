"""One-time codes in the application table: ``USER#<user> / OTP#<payment>`` holds a payment's code
(its HMAC, expiry, the attempts made, the recent send times, a version), every write conditional. The
rules (how long a code lives, how many guesses) are ``otp.OtpService``'s.

Storing a code takes one from the user's day of sends, and using the right code checks that the day's
wrong guesses are not used up, each in one ``TransactWriteItems``: the code and its budget move
together or not at all, so neither path ever gives a budget back (one call where two or three were)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from payments_core import keys
from payments_core.aws import dynamodb_client
from payments_core.dynamo import cancellation_reasons, from_item, is_condition_failure, to_item

# What a user's day counts, across payments: codes sent, wrong codes used up.
DailyCounter = Literal["sends", "guesses"]
# A code's write with a budget: done; the code changed since it was read (read it again); the budget
# is used up (nothing was written).
Outcome = Literal["done", "changed", "used_up"]
# A code that can still be guessed at: attempts left, not used, not replaced by a newer send, not expired.
LIVE_CODE = "attempts < :max AND attribute_not_exists(used_at) AND code_hash = :hash AND expires_at >= :now"


@dataclass(frozen=True)
class Budget:
    """One of a user's day budgets: at most ``maximum`` of ``counter`` on ``day`` (UTC days since the
    epoch); the day's item expires at ``expires_at`` (``ttl``)."""

    day: int
    counter: DailyCounter
    maximum: int
    expires_at: int


class CodeStore(Protocol):
    """Where a payment's code is kept (one item per payment), and the user's day budgets."""

    def load(self, user_id: str, payment_id: str) -> dict[str, Any] | None: ...

    def put(
        self, user_id: str, payment_id: str, code: dict[str, Any], *, expected_version: int, sends: Budget
    ) -> Outcome: ...

    def claim_attempt(
        self, user_id: str, payment_id: str, max_attempts: int, *, code_hash: str, now: int
    ) -> dict[str, Any] | None: ...

    def use(
        self, user_id: str, payment_id: str, code_hash: str, *, max_attempts: int, now: int, guesses: Budget
    ) -> Outcome: ...

    def day(self, user_id: str, day: int) -> dict[str, Any]: ...

    def claim_daily(self, user_id: str, budget: Budget) -> bool: ...

    def release_daily(self, user_id: str, day: int, counter: DailyCounter) -> None: ...


class OtpCodeStore:
    """The codes in the application table, every write conditional."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def load(self, user_id: str, payment_id: str) -> dict[str, Any] | None:
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.otp(user_id, payment_id)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None

    def put(
        self, user_id: str, payment_id: str, code: dict[str, Any], *, expected_version: int, sends: Budget
    ) -> Outcome:
        """Stores a fresh code (its hash, expiry, counters) and takes one from ``sends``, together;
        "changed" if another send or a guess wrote the code since ``expected_version`` was read."""
        stored = {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item({**keys.otp(user_id, payment_id), **code}),
                "ConditionExpression": "attribute_not_exists(PK) OR version = :version",
                "ExpressionAttributeValues": to_item({":version": expected_version}),
            }
        }
        return self._together(stored, {"Update": self._taking(user_id, sends)})

    def claim_attempt(
        self, user_id: str, payment_id: str, max_attempts: int, *, code_hash: str, now: int
    ) -> dict[str, Any] | None:
        """Counts one attempt at the live code whose hash is ``code_hash``; the item after it, or None
        once ``max_attempts`` were made (or the code was used, replaced by a newer send, or expired)."""
        try:
            response = dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.otp(user_id, payment_id)),
                # The version moves too, so a concurrent send (conditional on it) reads the attempt.
                UpdateExpression="SET attempts = attempts + :one, version = version + :one",
                ConditionExpression=f"attribute_exists(PK) AND {LIVE_CODE}",
                ExpressionAttributeValues=to_item({":one": 1, ":max": max_attempts, ":hash": code_hash, ":now": now}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return from_item(response["Attributes"])

    def use(
        self, user_id: str, payment_id: str, code_hash: str, *, max_attempts: int, now: int, guesses: Budget
    ) -> Outcome:
        """Uses the live code whose hash is ``code_hash`` (an attempt, as every guess answered is), only
        while the user's wrong ``guesses`` for the day are not used up: a right code takes none of
        them, but is not answered once they are (or a guesser's last guesses would tell right from
        wrong by the answer)."""
        used = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(keys.otp(user_id, payment_id)),
                "UpdateExpression": "SET used_at = :now, attempts = attempts + :one, version = version + :one",
                "ConditionExpression": f"attribute_exists(PK) AND {LIVE_CODE}",
                "ExpressionAttributeValues": to_item(
                    {":now": now, ":one": 1, ":max": max_attempts, ":hash": code_hash}
                ),
            }
        }
        left = {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": to_item(keys.otp_day(user_id, guesses.day)),
                "ConditionExpression": "attribute_not_exists(#counter) OR #counter < :max",
                "ExpressionAttributeNames": {"#counter": guesses.counter},
                "ExpressionAttributeValues": to_item({":max": guesses.maximum}),
            }
        }
        return self._together(used, left)

    def _together(self, code: Any, budget: Any) -> Outcome:
        """Writes the code's part and its budget's part in one transaction. One that collides with
        another write of either item (``TransactionConflict``) is "changed": the caller reads again."""
        try:
            dynamodb_client().transact_write_items(TransactItems=[code, budget])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return "used_up"
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return "changed"
            if "TransactionConflict" in reasons:
                time.sleep(random.uniform(0, 0.02))  # noqa: S311 - jitter, not crypto
                return "changed"
            raise
        return "done"

    def day(self, user_id: str, day: int) -> dict[str, Any]:
        """The user's counters for ``day`` (none yet: an empty dict)."""
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.otp_day(user_id, day)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else {}

    def claim_daily(self, user_id: str, budget: Budget) -> bool:
        """Takes one from the user's ``budget`` (whatever the payment); False when its maximum are taken."""
        try:
            dynamodb_client().update_item(**self._taking(user_id, budget))
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def _taking(self, user_id: str, budget: Budget) -> dict[str, Any]:
        """The update that takes one from ``budget``; the day's item expires with the day (``ttl``)."""
        return {
            "TableName": self.table_name,
            "Key": to_item(keys.otp_day(user_id, budget.day)),
            "UpdateExpression": "SET #counter = if_not_exists(#counter, :zero) + :one, #ttl = :ttl",
            "ConditionExpression": "attribute_not_exists(#counter) OR #counter < :max",
            "ExpressionAttributeNames": {"#counter": budget.counter, "#ttl": "ttl"},
            "ExpressionAttributeValues": to_item(
                {":zero": 0, ":one": 1, ":max": budget.maximum, ":ttl": budget.expires_at}
            ),
        }

    def release_daily(self, user_id: str, day: int, counter: DailyCounter) -> None:
        """Gives one back: a wrong guess whose code changed before it was counted, or a right code
        guessed after its use."""
        try:
            dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.otp_day(user_id, day)),
                UpdateExpression="SET #counter = #counter - :one",
                ConditionExpression="#counter > :zero",
                ExpressionAttributeNames={"#counter": counter},
                ExpressionAttributeValues=to_item({":zero": 0, ":one": 1}),
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
