"""One-time codes in the application table: ``USER#<user> / OTP#<payment>`` holds a payment's code
(its HMAC, expiry, the attempts made, the recent send times, a version), every write conditional. The
rules (how long a code lives, how many guesses) are ``otp.OtpService``'s."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from botocore.exceptions import ClientError

from payments_core import clock, keys
from payments_core.aws import dynamodb_client
from payments_core.dynamo import from_item, is_condition_failure, to_item

# What a user's day counts, across payments: codes sent, wrong codes used up.
DailyCounter = Literal["sends", "guesses"]


class CodeStore(Protocol):
    """Where a payment's code is kept (one item per payment)."""

    def load(self, user_id: str, payment_id: str) -> dict[str, Any] | None: ...

    def put(self, user_id: str, payment_id: str, code: dict[str, Any], *, expected_version: int) -> bool: ...

    def claim_attempt(self, user_id: str, payment_id: str, max_attempts: int) -> dict[str, Any] | None: ...

    def use(self, user_id: str, payment_id: str, code_hash: str) -> bool: ...

    def day(self, user_id: str, day: int) -> dict[str, Any]: ...

    def claim_daily(self, user_id: str, day: int, counter: DailyCounter, maximum: int, expires_at: int) -> bool: ...

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

    def put(self, user_id: str, payment_id: str, code: dict[str, Any], *, expected_version: int) -> bool:
        """Stores a fresh code (its hash, expiry, counters); False if another send changed it since
        ``expected_version`` was read."""
        try:
            dynamodb_client().put_item(
                TableName=self.table_name,
                Item=to_item({**keys.otp(user_id, payment_id), **code}),
                ConditionExpression="attribute_not_exists(PK) OR version = :version",
                ExpressionAttributeValues=to_item({":version": expected_version}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def claim_attempt(self, user_id: str, payment_id: str, max_attempts: int) -> dict[str, Any] | None:
        """Counts one attempt atomically; the item after it, or None once ``max_attempts`` were made (or
        there is no code, or it was used)."""
        try:
            response = dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.otp(user_id, payment_id)),
                # The version moves too, so a concurrent send (conditional on it) reads the attempt.
                UpdateExpression="SET attempts = attempts + :one, version = version + :one",
                ConditionExpression="attribute_exists(PK) AND attempts < :max AND attribute_not_exists(used_at)",
                ExpressionAttributeValues=to_item({":one": 1, ":max": max_attempts}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return from_item(response["Attributes"])

    def use(self, user_id: str, payment_id: str, code_hash: str) -> bool:
        try:
            dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.otp(user_id, payment_id)),
                UpdateExpression="SET used_at = :now, version = version + :one",
                ConditionExpression="attribute_not_exists(used_at) AND code_hash = :hash",
                ExpressionAttributeValues=to_item({":now": clock.epoch_seconds(), ":hash": code_hash, ":one": 1}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def day(self, user_id: str, day: int) -> dict[str, Any]:
        """The user's counters for ``day`` (none yet: an empty dict)."""
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.otp_day(user_id, day)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else {}

    def claim_daily(self, user_id: str, day: int, counter: DailyCounter, maximum: int, expires_at: int) -> bool:
        """Takes one from the user's ``counter`` budget for ``day`` (whatever the payment); False when
        ``maximum`` are taken. The item expires with the day (``ttl``)."""
        try:
            dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.otp_day(user_id, day)),
                UpdateExpression="SET #counter = if_not_exists(#counter, :zero) + :one, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#counter) OR #counter < :max",
                ExpressionAttributeNames={"#counter": counter, "#ttl": "ttl"},
                ExpressionAttributeValues=to_item({":zero": 0, ":one": 1, ":max": maximum, ":ttl": expires_at}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def release_daily(self, user_id: str, day: int, counter: DailyCounter) -> None:
        """Gives one back: the guess was right or no code was checked; the code was not sent."""
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
