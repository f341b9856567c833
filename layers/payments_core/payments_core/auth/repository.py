"""Accounts in the application table: every read and write of sign-up, sign-in and the address
receipts and codes go to.

``EMAIL#<email> / EMAIL`` holds the user id, the password hash and the lock-out counters, so a
sign-in costs one read and two writes (the attempt counted before the password is checked, and
cleared after a success); ``USER#<id> / PROFILE`` holds the profile. Failed sign-ins for an email that
has no account are counted on a placeholder item with a TTL, so lock-out looks the same whether the
email exists or not. The rules (how many failures, how long a window) are ``accounts``'s; this module
only makes each count atomic.
"""

from __future__ import annotations

import random
import time
from typing import Any, Protocol

from botocore.exceptions import ClientError

from payments_core import keys
from payments_core.aws import dynamodb_client
from payments_core.dynamo import cancellation_reasons, from_item, is_condition_failure, to_item
from payments_core.errors import BUSY

TRANSACTION_TRIES = 3


class AccountStore(Protocol):
    """What sign-up, sign-in and the mailers need of the accounts (tests run them on an in-memory one)."""

    def create(self, user: dict[str, Any], password_hash: str) -> bool: ...

    def sign_in_record(self, email: str) -> dict[str, Any]: ...

    def open_window(self, email: str, *, now: int, window_seconds: int) -> dict[str, Any] | None: ...

    def count_attempt(
        self, email: str, *, account_exists: bool, in_window: bool, now: int, window_seconds: int, max_failures: int
    ) -> bool: ...

    def clear_failures(self, email: str) -> None: ...

    def email_of(self, user_id: str) -> str | None: ...


class AccountRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def create(self, user: dict[str, Any], password_hash: str) -> bool:
        """Stores a new account (its email item and its profile) in one transaction; False if the email
        already belongs to an account. DynamoDB cancels a transaction that meets another write to one of
        its items (``TransactionConflict``: a sign-in attempt counted on the email's lock-out item at
        that moment), which is tried again after a pause; still conflicting, ``BUSY`` (503)."""
        items: list[Any] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": to_item({**keys.email(user["email"]), **user, "password_hash": password_hash}),
                    # A lock-out placeholder (no user_id) may be overwritten; a real account may not.
                    "ConditionExpression": "attribute_not_exists(user_id)",
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": to_item({**keys.profile(user["user_id"]), **user}),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]
        for attempt in range(TRANSACTION_TRIES):
            try:
                dynamodb_client().transact_write_items(TransactItems=items)
            except ClientError as error:
                reasons = cancellation_reasons(error)
                if reasons[:1] == ["ConditionalCheckFailed"]:
                    return False
                if "TransactionConflict" not in reasons:
                    raise
                if attempt + 1 < TRANSACTION_TRIES:
                    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not crypto
                continue
            return True
        raise BUSY

    def sign_in_record(self, email: str) -> dict[str, Any]:
        """What sign-in reads of an email (user id, hash, counters); {} when nothing was ever stored."""
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.email(email)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else {}

    def open_window(self, email: str, *, now: int, window_seconds: int) -> dict[str, Any] | None:
        """The usual sign-in in one write: an account with no failure window open gets one opened with
        this attempt counted, and its record back (what ``sign_in_record`` reads, as written). None, having
        changed nothing, for an unknown email or a window already open: ``count_attempt`` decides those."""
        try:
            response = dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.email(email)),
                UpdateExpression="SET #failures = :one, window_start = :now",
                ConditionExpression=(
                    "attribute_exists(user_id) AND (attribute_not_exists(window_start) OR window_start <= :cutoff)"
                ),
                ExpressionAttributeNames={"#failures": "failures"},
                ExpressionAttributeValues=to_item({":one": 1, ":now": now, ":cutoff": now - window_seconds}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        return from_item(response["Attributes"])

    def count_attempt(
        self, email: str, *, account_exists: bool, in_window: bool, now: int, window_seconds: int, max_failures: int
    ) -> bool:
        """Counts one attempt as a failure atomically, inside the current window (while it holds fewer
        than ``max_failures``) or opening a new one; False when the email is locked out. ``in_window``:
        what the caller's read saw, so the first write tried is the one that usually applies."""
        ownership = "attribute_exists(user_id)" if account_exists else "attribute_not_exists(user_id)"
        expiry = {} if account_exists else {":ttl": now + window_seconds}
        set_ttl = "" if account_exists else ", #ttl = :ttl"
        names = {"#failures": "failures"} | ({} if account_exists else {"#ttl": "ttl"})
        cutoff = now - window_seconds
        attempts = [
            (
                "SET #failures = #failures + :one" + set_ttl,
                f"{ownership} AND window_start > :cutoff AND #failures < :max",
            ),
            (
                "SET #failures = :one, window_start = :now" + set_ttl,
                f"{ownership} AND (attribute_not_exists(window_start) OR window_start <= :cutoff)",
            ),
        ]
        if not in_window:
            attempts.reverse()
        # The two conditions cover every state but a lock-out; a race only sends us round again. If an
        # unknown email is signed up meanwhile, both fail and the new account starts with a clean slate.
        for _ in range(3):
            for update, condition in attempts:
                values = {":one": 1, ":cutoff": cutoff, **expiry}
                values |= {":now": now} if ":now" in update else {":max": max_failures}
                try:
                    dynamodb_client().update_item(
                        TableName=self.table_name,
                        Key=to_item(keys.email(email)),
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ExpressionAttributeNames=names,
                        ExpressionAttributeValues=to_item(values),
                    )
                    return True
                except ClientError as error:
                    if not is_condition_failure(error):
                        raise
        return False

    def clear_failures(self, email: str) -> None:
        dynamodb_client().update_item(
            TableName=self.table_name,
            Key=to_item(keys.email(email)),
            UpdateExpression="REMOVE failures, window_start",
            ConditionExpression="attribute_exists(user_id)",
        )

    def email_of(self, user_id: str) -> str | None:
        """The account's address (receipts and codes go there); None if there is no such account."""
        response = dynamodb_client().get_item(TableName=self.table_name, Key=to_item(keys.profile(user_id)))
        return str(from_item(response["Item"])["email"]) if "Item" in response else None
