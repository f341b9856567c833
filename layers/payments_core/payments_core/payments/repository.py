"""Payments in the application table.

``USER#<user> / PAY#<payment>`` holds one payment with its refunds (so a refund limit is one
conditional write on one item). Ownership is the key: another user's payment id simply is not
under your partition. ``created`` is the sort key of the sparse global index ``ByCreated`` (keys only,
so only a payment's first write reaches it), so a page of the newest payments is one Query and one
BatchGetItem. ``PI#<provider id>`` maps a provider's id back to it.

Every write is one conditional ``PutItem`` (on the ``version`` read, or on the id being new) of the
payment with the events its change causes (``outbox``): no transaction, no separate outbox items. The
document is stored without its default fields, so a card payment's item stays under 1 KB: one write
unit per write.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from botocore.exceptions import ClientError

from payments_core import clock, keys
from payments_core.aws import dynamodb_client
from payments_core.config import get_settings
from payments_core.cursors import decode_cursor, encode_cursor, key_value
from payments_core.dynamo import from_item, is_condition_failure, to_item
from payments_core.errors import BUSY
from payments_core.observability import logger
from payments_core.payments import open_items
from payments_core.payments.models import Change, Payment
from payments_core.payments.open_items import index_attributes
from payments_core.payments.outbox import outbox_refs

INDEX_BY_CREATED = "ByCreated"
# What a payment id may be (ours are ``pay_`` and 24 hex digits). Anything else, from a client's path,
# names no payment and is not read: DynamoDB refuses a read whose sort key is over 1024 bytes (moto
# does not), so a long id would be a 500 where the answer is 404.
PAYMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ATTEMPTS = 30
# A page's payments are read in at most this many BatchGetItem rounds, backing off between them.
BATCH_GET_ROUNDS = 5
BATCH_GET_BACKOFF_SECONDS = 0.05
# How long a deferred webhook's record lives (a provider redelivers for days: Stripe for up to 3).
DEFERRED_RETENTION_DAYS = 30


class ConcurrentUpdate(Exception):
    """The payment kept changing under us; the caller may retry the request."""


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
        known: Payment | None = None,
    ) -> Payment | None: ...

    def find_by_provider_id(self, provider_payment_id: str) -> tuple[str, str] | None: ...

    def note_deferred(self, event_id: str, event_type: str, reason: str) -> None: ...

    def settle_deferred(self, event_id: str) -> None: ...


class OpenPaymentStore(PaymentStore, Protocol):
    """What the reconciler needs of ``PaymentRepository``: the store, and the reconciler's index of what
    is open (``payments.open_items``)."""

    def due(self, cutoff: str, page_size: int) -> Iterator[tuple[str, str]]: ...

    def deferred_before(self, cutoff: str) -> Iterator[str]: ...


def payment_of(item: dict[str, Any]) -> Payment:
    """The payment a (plain) payment item holds: its document, and the version the item carries."""
    payment = Payment.model_validate_json(str(item["doc"]))
    payment.version = int(item["version"])
    return payment


def document(payment: Payment) -> str:
    """The payment as its item's ``doc`` holds it: JSON with the model's defaults left out (a card
    payment's item stays under 1 KB), the version kept apart in the item's own attribute."""
    return payment.model_dump_json(exclude_defaults=True, exclude={"version"})


def payment_key(user_id: str, payment_id: str) -> dict[str, str]:
    return keys.payment(user_id, payment_id)


class PaymentRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def _item(self, change: Change) -> dict[str, Any]:
        payment = change.payment
        events = outbox_refs(change.events)
        return to_item(
            {
                **payment_key(payment.user_id, payment.payment_id),
                "created": payment.created_at,
                "version": payment.version,
                "doc": document(payment),
                # The events this write causes, published by the relay from this write's stream image.
                **({"outbox": events} if events else {}),
                # Only while the payment is open: the reconciler's sparse index (open_items).
                **index_attributes(payment),
            }
        )

    @staticmethod
    def _from_item(item: dict[str, Any]) -> Payment:
        return payment_of(from_item(item))

    def get(self, user_id: str, payment_id: str) -> Payment | None:
        if not PAYMENT_ID.match(payment_id):
            return None  # no payment of ours has it, and DynamoDB would refuse it as a key (see PAYMENT_ID)
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(payment_key(user_id, payment_id)), ConsistentRead=True
        )
        return self._from_item(response["Item"]) if "Item" in response else None

    def create(self, change: Change) -> bool:
        """Stores a new payment with its events; False if a payment with this id already exists."""
        try:
            dynamodb_client().put_item(
                TableName=self.table_name, Item=self._item(change), ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def update(
        self,
        user_id: str,
        payment_id: str,
        mutate: Callable[[Payment], Change | None],
        known: Payment | None = None,
    ) -> Payment | None:
        """Read, mutate, write conditionally on the version read; on a concurrent write, start again.

        ``mutate`` returns None for "nothing to change": nothing is written. Returns the payment as
        stored, None if absent. ``known``: the payment as this request last read or wrote it, mutated
        first instead of a read. The write is conditional on its version all the same, so if anything
        wrote since, it is read and mutated again; and a refusal or "nothing to change" is only ever
        answered from a payment read from the table, never from ``known``.
        """
        for attempt in range(MAX_ATTEMPTS):
            guessed = known is not None
            if known is not None:
                current, known = known.model_copy(deep=True), None
            else:
                read = self.get(user_id, payment_id)
                if read is None:
                    return None
                current = read
            try:
                change = mutate(current)
            except Exception:
                if guessed:
                    continue  # decided on what this request knew: decide again on what is stored
                raise
            if change is None:
                if guessed:
                    continue
                return current
            change.payment.version = current.version + 1
            gained = change.payment.provider_payment_id
            if gained and gained != current.provider_payment_id:
                # Whatever path links a payment to its intent (its create, a webhook, a reconciler), the
                # provider's id leads back to it: events and reports that carry no id of ours find it.
                # Written first and idempotent: a link never names a payment that is not its intent's.
                self.link_provider_id(gained, user_id, payment_id)
            try:
                dynamodb_client().put_item(
                    TableName=self.table_name,
                    Item=self._item(change),
                    ConditionExpression="version = :version",
                    ExpressionAttributeValues=to_item({":version": current.version}),
                )
            except ClientError as error:
                if is_condition_failure(error):
                    time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # noqa: S311 - jitter, not crypto
                    continue
                raise
            return change.payment
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
        # The index holds keys only (a payment's later writes never touch it): the page's payments
        # are read by key, in the index's order.
        page_keys = [{"PK": item["PK"], "SK": item["SK"]} for item in response.get("Items", [])]
        found: dict[tuple[str, str], Payment] = {}
        pending: list[dict[str, Any]] = page_keys
        for attempt in range(BATCH_GET_ROUNDS):
            if not pending:
                break
            if attempt:  # what DynamoDB left unread was throttled: AWS asks for exponential backoff
                time.sleep(random.uniform(0, BATCH_GET_BACKOFF_SECONDS * 2**attempt))  # noqa: S311 - jitter
            answer = dynamodb_client().batch_get_item(
                RequestItems={self.table_name: {"Keys": pending, "ConsistentRead": True}}
            )
            for item in answer.get("Responses", {}).get(self.table_name, []):
                found[(item["PK"]["S"], item["SK"]["S"])] = self._from_item(item)
            unprocessed: dict[str, Any] = answer.get("UnprocessedKeys") or {}
            pending = list(unprocessed.get(self.table_name, {}).get("Keys", []))
        if pending:
            # Never a short page: its cursor would move past the payments left unread, for good.
            raise BUSY
        items = [found[(k["PK"]["S"], k["SK"]["S"])] for k in page_keys if (k["PK"]["S"], k["SK"]["S"]) in found]
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
                and key_value(value[0])
                and value[0].startswith(keys.PAYMENT)
                and key_value(value[1])
            )

        sort_key, created = decode_cursor(cursor, valid)
        # The partition comes from the token, never from the cursor: a cursor cannot reach another user.
        return to_item({"PK": keys.user_pk(user_id), "SK": sort_key, "created": created})

    # --- the reconciler's index (open_items) ----------------------------------------------------
    def due(self, cutoff: str, page_size: int) -> Iterator[tuple[str, str]]:
        """(user id, payment id) of open payments due for a look (``recon_at`` at most ``cutoff``): one
        page of ``page_size`` per shard, oldest first, each shard read when the one before is used up."""
        for shard in range(open_items.OPEN_SHARDS):
            response = dynamodb_client().query(
                TableName=self.table_name,
                IndexName=open_items.INDEX,
                KeyConditionExpression="recon_pk = :pk AND recon_at <= :cutoff",
                ExpressionAttributeValues=to_item({":pk": f"{open_items.OPEN_PREFIX}{shard}", ":cutoff": cutoff}),
                Limit=page_size,
            )
            for item in response.get("Items", []):
                found = from_item(item)
                yield keys.payment_of({"PK": str(found["PK"]), "SK": str(found["SK"])})

    def deferred_before(self, cutoff: str) -> Iterator[str]:
        """Ids of webhook events first deferred at or before ``cutoff`` and not applied since (one
        applied since left the index then: ``settle_deferred``); at most 10 pages of 100."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": open_items.INDEX,
            "KeyConditionExpression": "recon_pk = :pk AND recon_at <= :cutoff",
            "ExpressionAttributeValues": to_item({":pk": open_items.DEFERRED, ":cutoff": cutoff}),
            "Limit": 100,
        }
        for _ in range(10):
            response = dynamodb_client().query(**request)
            for item in response.get("Items", []):
                yield keys.deferred_event_of(str(from_item(item)["PK"]))
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # --- webhook deliveries deferred ----------------------------------------------------------
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
                        ":ttl": int(now.timestamp()) + DEFERRED_RETENTION_DAYS * 86400,
                        ":pk": open_items.DEFERRED,
                        ":one": 1,
                    }
                ),
            )
        except ClientError:
            logger.warning("could not count a deferred webhook", extra={"event_id": event_id})

    def settle_deferred(self, event_id: str) -> None:
        """A deferred event now applied (or found to change nothing) leaves the reconciler's list. Called
        only by the write that cleared the event's mark on its payment (``payments.webhook``), so an
        event never deferred costs no call here."""
        dynamodb_client().delete_item(TableName=self.table_name, Key=to_item(keys.deferred(event_id)))

    # --- provider id -> payment -------------------------------------------------------------------
    def link_provider_id(self, provider_payment_id: str, user_id: str, payment_id: str) -> None:
        dynamodb_client().put_item(
            TableName=self.table_name,
            Item=to_item({**keys.provider_link(provider_payment_id), "user_id": user_id, "payment_id": payment_id}),
        )

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
