"""Payments in the application table.

``USER#<user> / PAY#<payment>`` holds one payment with its refunds (so a refund limit is one
conditional write on one item). Ownership is the key: another user's payment id simply is not
under your partition. ``created`` is the sort key of the sparse global index ``ByCreated`` (a GSI, so no
10 GB item-collection limit per user as an LSI would impose), so a
page of the newest payments is one Query. ``PI#<provider id>`` maps a provider's id back to it.
Every write is conditional on the ``version`` read, and carries its outbox items in one transaction.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from payments_core import clock, keys
from payments_core.aws import dynamodb_client
from payments_core.config import get_settings
from payments_core.cursors import decode_cursor, encode_cursor
from payments_core.dynamo import cancellation_reasons, from_item, to_item
from payments_core.observability import logger
from payments_core.payments import open_items
from payments_core.payments.models import Change, Payment
from payments_core.payments.open_items import index_attributes
from payments_core.payments.outbox import outbox_put

INDEX_BY_CREATED = "ByCreated"
MAX_ATTEMPTS = 30
# How long a webhook event id is remembered (a provider redelivers for days: Stripe for up to 3).
DELIVERY_RETENTION = timedelta(days=30)


class ConcurrentUpdate(Exception):
    """The payment kept changing under us; the caller may retry the request."""


class DuplicateDelivery(Exception):
    """An extra item's condition failed: this exact change was already applied (e.g. a webhook event)."""


@dataclass(frozen=True)
class Delivery:
    """A webhook event applied with a change: remembered in the same write, so it applies once."""

    event_id: str
    event_type: str


class PaymentStore(Protocol):
    """Where payments are kept: what the domain needs of ``PaymentRepository`` (tests run the domain
    on an in-memory one)."""

    def get(self, user_id: str, payment_id: str) -> Payment | None: ...

    def create(self, change: Change) -> bool: ...

    def update(
        self,
        user_id: str,
        payment_id: str,
        mutate: Callable[[Payment], Change | None],
        *,
        delivery: Delivery | None = None,
    ) -> Payment | None: ...

    def find_by_provider_id(self, provider_payment_id: str) -> tuple[str, str] | None: ...

    def note_deferred(self, event_id: str, event_type: str, reason: str) -> None: ...


def payment_key(user_id: str, payment_id: str) -> dict[str, str]:
    return keys.payment(user_id, payment_id)


class PaymentRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _item(self, payment: Payment) -> dict[str, Any]:
        return to_item(
            {
                **payment_key(payment.user_id, payment.payment_id),
                "created": payment.created_at,
                "status": payment.status,
                "version": payment.version,
                "doc": payment.model_dump_json(),
                # Only while the payment is open: the reconciler's sparse index (open_items).
                **index_attributes(payment),
            }
        )

    @staticmethod
    def _from_item(item: dict[str, Any]) -> Payment:
        data = from_item(item)
        return Payment.model_validate_json(data["doc"])

    def get(self, user_id: str, payment_id: str) -> Payment | None:
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(payment_key(user_id, payment_id)), ConsistentRead=True
        )
        return self._from_item(response["Item"]) if "Item" in response else None

    def create(self, change: Change) -> bool:
        """Stores a new payment with its events; False if a payment with this id already exists."""
        try:
            dynamodb_client().transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._item(change.payment),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    *self._outbox(change),  # type: ignore[list-item]
                ]
            )
        except ClientError as error:
            if cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def _outbox(self, change: Change) -> list[dict[str, Any]]:
        return [outbox_put(self.table_name, kind, change.payment, refund) for kind, refund in change.events]

    def update(
        self,
        user_id: str,
        payment_id: str,
        mutate: Callable[[Payment], Change | None],
        *,
        delivery: Delivery | None = None,
    ) -> Payment | None:
        """Read, mutate, write conditionally on the version read; on a concurrent write, start again.

        ``mutate`` returns None for "nothing to change" (a ``delivery`` is still remembered, so a webhook
        event that changes nothing is not applied again). Returns the payment as stored, None if absent;
        raises ``DuplicateDelivery`` if the delivery was remembered before.
        """
        extra = [self._delivery_put(delivery)] if delivery is not None else []
        for attempt in range(MAX_ATTEMPTS):
            current = self.get(user_id, payment_id)
            if current is None:
                return None
            change = mutate(current)
            if change is None and not extra:
                return current
            items: list[Any] = list(extra)
            if change is not None:
                change.payment.version = current.version + 1
                items.insert(
                    0,
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": self._item(change.payment),
                            "ConditionExpression": "version = :version",
                            "ExpressionAttributeValues": to_item({":version": current.version}),
                        }
                    },
                )
                items.extend(self._outbox(change))
                gained = change.payment.provider_payment_id
                if gained and gained != current.provider_payment_id:
                    # Whatever path links a payment to its intent (its create, a webhook, a reconciler),
                    # the provider's id leads back to it: events that carry no id of ours find it.
                    items.append(self.provider_link_put(gained, user_id, payment_id))
            try:
                dynamodb_client().transact_write_items(TransactItems=items)
            except ClientError as error:
                reasons = cancellation_reasons(error)
                first_extra = 1 if change is not None else 0
                if any(code == "ConditionalCheckFailed" for code in reasons[first_extra : first_extra + len(extra)]):
                    raise DuplicateDelivery from None
                if reasons[:1] == ["ConditionalCheckFailed"] or "TransactionConflict" in reasons:
                    time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
                    continue
                raise
            return change.payment if change is not None else current
        raise ConcurrentUpdate(payment_id)

    def list(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[Payment], str | None]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": INDEX_BY_CREATED,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": to_item({":pk": keys.user_pk(user_id)}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = self._decode_cursor(cursor, user_id)
        response = dynamodb_client().query(**request)
        items = [self._from_item(item) for item in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, self._encode_cursor(last) if last else None

    @staticmethod
    def _encode_cursor(key: dict[str, Any]) -> str:
        plain = from_item(key)
        return encode_cursor([plain["SK"], plain["created"]])

    @staticmethod
    def _decode_cursor(cursor: str, user_id: str) -> dict[str, Any]:
        def valid(value: Any) -> bool:
            return (
                isinstance(value, list)
                and len(value) == 2
                and isinstance(value[0], str)
                and value[0].startswith(keys.PAYMENT)
                and isinstance(value[1], str)
            )

        sort_key, created = decode_cursor(cursor, valid)
        # The partition comes from the token, never from the cursor: a cursor cannot reach another user.
        return to_item({"PK": keys.user_pk(user_id), "SK": sort_key, "created": created})

    # --- webhook deliveries -----------------------------------------------------------------------
    def _delivery_put(self, delivery: Delivery) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(
                    {
                        **keys.webhook(delivery.event_id),
                        "type": delivery.event_type,
                        "ttl": int((clock.now() + DELIVERY_RETENTION).timestamp()),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def note_deferred(self, event_id: str, event_type: str, reason: str) -> None:
        """Counts a delivery answered "deliver again" on the event's ``DEFERRED#`` item, which the
        reconciler's index lists (open_items): one still unapplied when the provider's retries can have
        ended is counted there (metric ``WebhookDeferredUnapplied``). Bookkeeping never changes the answer."""
        now = clock.now()
        try:
            dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(keys.deferred(event_id)),
                UpdateExpression="SET event_type = :type, reason = :reason, last_deferred_at = :now, #ttl = :ttl, "
                "recon_pk = :pk, recon_at = if_not_exists(recon_at, :now) ADD deliveries :one",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues=to_item(
                    {
                        ":type": event_type,
                        ":reason": reason,
                        ":now": clock.iso(now),
                        ":ttl": int((now + DELIVERY_RETENTION).timestamp()),
                        ":pk": open_items.DEFERRED,
                        ":one": 1,
                    }
                ),
            )
        except ClientError:
            logger.warning("could not count a deferred webhook", extra={"event_id": event_id})

    # --- provider id -> payment -------------------------------------------------------------------
    def provider_link_put(self, provider_payment_id: str, user_id: str, payment_id: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(
                    {**keys.provider_link(provider_payment_id), "user_id": user_id, "payment_id": payment_id}
                ),
            }
        }

    def find_by_provider_id(self, provider_payment_id: str) -> tuple[str, str] | None:
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(keys.provider_link(provider_payment_id))
        )
        if "Item" not in response:
            return None
        item = from_item(response["Item"])
        return str(item["user_id"]), str(item["payment_id"])


@functools.cache
def payment_repository() -> PaymentRepository:
    """The repository on the function's table, once per container: what reading needs, without the
    payment service (Stripe, idempotency) that writing needs (``payments_core.payments.wiring``)."""
    return PaymentRepository(get_settings().table_name)
