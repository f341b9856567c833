"""One-time codes in the application table: ``USER#<user> / OTP#<payment>`` holds a payment's code
(its HMAC, expiry, the attempts made, its last three send times), every write conditional. The rules
(how long a code lives, how many guesses) are ``otp.OtpService``'s.

Storing a code takes one from the user's day of sends, and using the right code checks that the day's
wrong guesses are not used up, each in one ``TransactWriteItems``: the code and its budget move
together or not at all, so neither path ever gives a budget back. A code is stored without being read
first: the update keeps the attempts made and moves the send times along, and its condition is the
per-payment send limit (one call where a read, two writes and sometimes a third were made)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol

from botocore.exceptions import ClientError

from payments_core import keys
from payments_core.aws import dynamodb_client
from payments_core.dynamo import cancellation_reasons, error_code, from_item, is_condition_failure, to_item
from payments_core.errors import Conflict

# What a user's day counts, across payments: codes sent, wrong codes used up.
DailyCounter = Literal["sends", "guesses"]
# A code's write with a budget: done; the code changed since it was read, or the write met another
# (read again); the budget is used up (nothing was written).
Outcome = Literal["done", "changed", "used_up"]
# Storing a code also: "held", its own condition failed (the item as it was comes with it).
PutOutcome = Literal["done", "changed", "used_up", "held"]
# The last three send times of a code, oldest first (0: no send); three within the window is the limit.
SENT = ("sent_0", "sent_1", "sent_2")
# Every write of a code moves its version: the release before this one conditioned its writes on it
# (``version = version + :one``), and a canary deploy runs both side by side for its first minutes.
NEXT_VERSION = "version = if_not_exists(version, :zero) + :one"
BUSY_CODE = Conflict("request_in_progress", "Another request is using this code. Retry shortly.", retry_after=1)
# A code that can still be guessed at: attempts left, not used, not replaced by a newer send, not expired.
LIVE_CODE = "attempts < :max AND attribute_not_exists(used_at) AND code_hash = :hash AND expires_at >= :now"


class Budget(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    """One of a user's day budgets: at most ``maximum`` of ``counter`` on ``day`` (UTC days since the
    epoch); the day's item expires at ``expires_at`` (``ttl``)."""

    day: int
    counter: DailyCounter
    maximum: int
    expires_at: int


class FreshCode(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    """A code to store: its HMAC, when it is sent, until when it works, until when its item is kept."""

    code_hash: str
    sent_at: int
    expires_at: int
    keep_until: int


class CodeStore(Protocol):
    """Where a payment's code is kept (one item per payment), and the user's day budgets."""

    def load(self, user_id: str, payment_id: str) -> dict[str, Any] | None: ...

    def put(
        self, user_id: str, payment_id: str, code: FreshCode, *, only_if_none: bool, sends_since: int, sends: Budget
    ) -> tuple[PutOutcome, dict[str, Any] | None]: ...

    def count_wrong(
        self, user_id: str, payment_id: str, code_hash: str, *, attempts: int, now: int, guesses: Budget
    ) -> Outcome: ...

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
        self, user_id: str, payment_id: str, code: FreshCode, *, only_if_none: bool, sends_since: int, sends: Budget
    ) -> tuple[PutOutcome, dict[str, Any] | None]:
        """Stores a fresh code in place of the last (the attempts made are kept, a use is forgotten) and
        takes one from ``sends``, together. "held", with the item as it was: ``only_if_none`` and a code
        is stored already, or three codes were sent after ``sends_since``."""
        values: dict[str, Any] = {
            ":hash": code.code_hash,
            ":expires": code.expires_at,
            ":zero": 0,
            ":now": code.sent_at,
            ":ttl": code.keep_until,
            ":one": 1,
        }
        if only_if_none:
            condition = "attribute_not_exists(PK)"
        else:
            condition, values[":since"] = f"attribute_not_exists({SENT[0]}) OR {SENT[0]} <= :since", sends_since
        stored = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(keys.otp(user_id, payment_id)),
                "UpdateExpression": (
                    "SET code_hash = :hash, expires_at = :expires, attempts = if_not_exists(attempts, :zero), "
                    f"{SENT[0]} = if_not_exists({SENT[1]}, :zero), {SENT[1]} = if_not_exists({SENT[2]}, :zero), "
                    f"{SENT[2]} = :now, #ttl = :ttl, {NEXT_VERSION} REMOVE used_at"
                ),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": to_item(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        outcome, held = self._together(stored, {"Update": self._taking(user_id, sends)})
        if outcome == "code":
            return ("held", held) if held is not None else ("changed", None)
        return outcome, None

    def count_wrong(
        self, user_id: str, payment_id: str, code_hash: str, *, attempts: int, now: int, guesses: Budget
    ) -> Outcome:
        """Counts a wrong guess at the live code whose hash is ``code_hash`` and which had ``attempts``
        made when read (so the count answered is exact), and takes one of the user's wrong ``guesses``
        for the day, together. The same shape as ``use``: a right and a wrong guess make the same calls."""
        counted = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(keys.otp(user_id, payment_id)),
                "UpdateExpression": f"SET attempts = attempts + :one, {NEXT_VERSION}",
                "ConditionExpression": (
                    "attribute_exists(PK) AND attempts = :read AND attribute_not_exists(used_at) "
                    "AND code_hash = :hash AND expires_at >= :now"
                ),
                "ExpressionAttributeValues": to_item(
                    {":one": 1, ":zero": 0, ":read": attempts, ":hash": code_hash, ":now": now}
                ),
            }
        }
        outcome, _ = self._together(counted, {"Update": self._taking(user_id, guesses)})
        return "changed" if outcome == "code" else outcome

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
                "UpdateExpression": f"SET used_at = :now, attempts = attempts + :one, {NEXT_VERSION}",
                "ConditionExpression": f"attribute_exists(PK) AND {LIVE_CODE}",
                "ExpressionAttributeValues": to_item(
                    {":now": now, ":one": 1, ":zero": 0, ":max": max_attempts, ":hash": code_hash}
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
        outcome, _ = self._together(used, left)
        return "changed" if outcome == "code" else outcome

    def _together(
        self, code: Any, budget: Any
    ) -> tuple[Literal["done", "code", "used_up", "changed"], dict[str, Any] | None]:
        """Writes the code's part and its budget's part in one transaction: "code" when the code's
        condition failed (with the item as it was, when asked for), "used_up" when the budget's did.
        One that collided with another write of either item (``TransactionConflict``) is "changed"."""
        try:
            dynamodb_client().transact_write_items(TransactItems=[code, budget])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                item: dict[str, Any] = dict((error.response.get("CancellationReasons") or [{}])[0].get("Item") or {})
                return "code", from_item(item) if item else None
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return "used_up", None
            if "TransactionConflict" in reasons:
                time.sleep(random.uniform(0, 0.02))  # noqa: S311 - jitter, not crypto
                return "changed", None
            raise
        return "done", None

    def day(self, user_id: str, day: int) -> dict[str, Any]:
        """The user's counters for ``day`` (none yet: an empty dict)."""
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.otp_day(user_id, day)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else {}

    def claim_daily(self, user_id: str, budget: Budget) -> bool:
        """Takes one from the user's ``budget`` (whatever the payment); False when its maximum are taken."""
        try:
            _beside_transactions(lambda: dynamodb_client().update_item(**self._taking(user_id, budget)))
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
        """Gives one back: a right code guessed after its use (``OtpService._after_use``)."""
        try:
            _beside_transactions(
                lambda: dynamodb_client().update_item(
                    TableName=self.table_name,
                    Key=to_item(keys.otp_day(user_id, day)),
                    UpdateExpression="SET #counter = #counter - :one",
                    ConditionExpression="#counter > :zero",
                    ExpressionAttributeNames={"#counter": counter},
                    ExpressionAttributeValues=to_item({":zero": 0, ":one": 1}),
                )
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise


def _beside_transactions(write: Callable[[], Any], tries: int = 3) -> Any:
    """A single write to an item that transactions also write: DynamoDB refuses it while one of them is
    under way (``TransactionConflictException``, which botocore does not retry): tried again shortly,
    then answered ``409 request_in_progress`` (retry shortly), never a 500."""
    for attempt in range(tries):
        try:
            return write()
        except ClientError as error:
            if error_code(error) != "TransactionConflictException":
                raise
            if attempt + 1 == tries:
                raise BUSY_CODE from None
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
    return None
