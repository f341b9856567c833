"""Test doubles of everything the domain talks to, in memory: a payment store (with the reconciler's
index of what is open), a code store, the accounts, the ledger's entries, a mailbox, and a payment
provider that is not Stripe ("fakepay"), with its own webhook format. The domain runs on them
unchanged: this is the proof that it needs only the provider seam and its repositories. Each store
keeps the table's guarantees (conditional writes, one item per key), not its costs."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payments_core import clock
from payments_core.cursors import decode_cursor, encode_cursor
from payments_core.errors import BadRequest
from payments_core.payments import open_items
from payments_core.payments.models import Change, Payment
from payments_core.payments.otp_repository import SENT, Budget, FreshCode, Outcome, PutOutcome
from payments_core.payments.outbox import outbox_refs, rendered_events
from payments_core.payments.provider import (
    IntentLookupIncomplete,
    Notice,
    PaymentDeclined,
    ProviderIntent,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
)
from payments_core.payments.provider_records import ProviderDispute, ProviderRefund
from payments_core.payments.repository import ConcurrentUpdate, document


class InMemoryPayments:
    """``OpenPaymentStore`` in a dict, with its guarantees: a create is refused if the id exists, an
    update is applied only on the version read (else read again), every change's events are kept in
    order (the outbox, and the bus events the relay would render from it: ``published``), and what is
    due is read from each payment's index attributes, as the ``Reconciliation`` index holds them."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Payment] = {}
        self.links: dict[str, tuple[str, str]] = {}
        self.deferred: dict[str, int] = {}
        self.deferred_since: dict[str, str] = {}
        self.calls: list[str] = []  # the webhook's lookups and bookkeeping calls, by name, in order
        self.published: list[tuple[str, dict[str, Any]]] = []  # (detail type, detail), as the relay renders them
        self.outbox: list[tuple[str, str, str | None]] = []  # (detail type, payment id, refund id)
        # Called between a read and its write, to play a concurrent writer (tests set it).
        self.between_read_and_write: Callable[[], object] | None = None

    def get(self, user_id: str, payment_id: str) -> Payment | None:
        found = self.items.get((user_id, payment_id))
        return found.model_copy(deep=True) if found is not None else None

    def _record(self, change: Change, before: Payment | None) -> None:
        key = (change.payment.user_id, change.payment.payment_id)
        self.items[key] = change.payment.model_copy(deep=True)
        for kind, refund in change.events:
            self.outbox.append((kind, change.payment.payment_id, refund.refund_id if refund else None))
        refs = outbox_refs(change.events)
        if refs:
            self.published.extend(rendered_events(json.loads(document(change.payment)), refs))
        gained = change.payment.provider_payment_id
        if gained and (before is None or gained != before.provider_payment_id):
            self.links[gained] = key

    def create(self, change: Change) -> bool:
        if (change.payment.user_id, change.payment.payment_id) in self.items:
            return False
        self._record(change, None)
        return True

    def update(
        self,
        user_id: str,
        payment_id: str,
        mutate: Callable[[Payment], Change | None],
        known: Payment | None = None,  # noqa: ARG002 - an optimisation of the table's; a dict read is free
    ) -> Payment | None:
        for _ in range(30):
            current = self.get(user_id, payment_id)
            if current is None:
                return None
            change = mutate(current)
            if self.between_read_and_write is not None:
                interloper, self.between_read_and_write = self.between_read_and_write, None
                interloper()
            if self.items[(user_id, payment_id)].version != current.version:
                continue  # written meanwhile: read again, as the conditional write makes DynamoDB do
            if change is None:
                return current
            change.payment.version = current.version + 1
            self._record(change, current)
            return change.payment
        raise ConcurrentUpdate(payment_id)

    def find_by_provider_id(self, provider_payment_id: str) -> tuple[str, str] | None:
        self.calls.append("find_by_provider_id")
        return self.links.get(provider_payment_id)

    def note_deferred(self, event_id: str, event_type: str, reason: str) -> None:  # noqa: ARG002
        self.calls.append("note_deferred")
        self.deferred[event_id] = self.deferred.get(event_id, 0) + 1
        self.deferred_since.setdefault(event_id, clock.iso(clock.now()))

    def settle_deferred(self, event_id: str) -> None:
        self.calls.append("settle_deferred")
        self.deferred.pop(event_id, None)
        self.deferred_since.pop(event_id, None)

    def due(self, cutoff: str, page_size: int) -> Iterator[tuple[str, str]]:
        for shard in range(open_items.OPEN_SHARDS):
            listed = []
            for key, payment in self.items.items():
                index = open_items.index_attributes(payment)
                if index.get(open_items.PK) == f"{open_items.OPEN_PREFIX}{shard}" and index[open_items.AT] <= cutoff:
                    listed.append((index[open_items.AT], key))
            yield from (key for _, key in sorted(listed)[:page_size])

    def deferred_before(self, cutoff: str) -> Iterator[str]:
        yield from sorted(event for event, since in self.deferred_since.items() if since <= cutoff)

    def events(self, payment_id: str) -> list[str]:
        return [kind for kind, pid, _ in self.outbox if pid == payment_id]


class InMemoryCodes:
    """``CodeStore`` in a dict, conditional as the table is."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.daily: dict[tuple[str, int, str], int] = {}  # (user, day, "sends"/"guesses") -> used up

    def load(self, user_id: str, payment_id: str) -> dict[str, Any] | None:
        found = self.items.get((user_id, payment_id))
        return copy.deepcopy(found) if found is not None else None

    def put(
        self, user_id: str, payment_id: str, code: FreshCode, *, only_if_none: bool, sends_since: int, sends: Budget
    ) -> tuple[PutOutcome, dict[str, Any] | None]:
        current = self.items.get((user_id, payment_id))
        if current is not None and (only_if_none or int(current[SENT[0]]) > sends_since):
            return "held", copy.deepcopy(current)
        if self._used_up(user_id, sends):
            return "used_up", None
        kept = current or {SENT[1]: 0, SENT[2]: 0, "attempts": 0}
        self.items[(user_id, payment_id)] = {
            "code_hash": code.code_hash,
            "expires_at": code.expires_at,
            "attempts": kept["attempts"],
            SENT[0]: kept[SENT[1]],
            SENT[1]: kept[SENT[2]],
            SENT[2]: code.sent_at,
            "ttl": code.keep_until,
        }
        self.claim_daily(user_id, sends)
        return "done", None

    def _live(
        self, user_id: str, payment_id: str, max_attempts: int, code_hash: str, now: int
    ) -> dict[str, Any] | None:
        """The item while ``LIVE_CODE`` holds for it."""
        item = self.items.get((user_id, payment_id))
        if item is None or int(item["attempts"]) >= max_attempts or "used_at" in item:
            return None
        if item["code_hash"] != code_hash or int(item["expires_at"]) < now:
            return None
        return item

    def count_wrong(
        self, user_id: str, payment_id: str, code_hash: str, *, attempts: int, now: int, guesses: Budget
    ) -> Outcome:
        item = self._live(user_id, payment_id, attempts + 1, code_hash, now)
        if item is None or int(item["attempts"]) != attempts:
            return "changed"
        if not self.claim_daily(user_id, guesses):
            return "used_up"
        item["attempts"] = int(item["attempts"]) + 1
        return "done"

    def use(
        self, user_id: str, payment_id: str, code_hash: str, *, max_attempts: int, now: int, guesses: Budget
    ) -> Outcome:
        item = self._live(user_id, payment_id, max_attempts, code_hash, now)
        if item is None:  # the code's condition is reported first, as DynamoDB's CancellationReasons are read
            return "changed"
        if self._used_up(user_id, guesses):
            return "used_up"
        item["used_at"] = now
        item["attempts"] = int(item["attempts"]) + 1
        return "done"

    def day(self, user_id: str, day: int) -> dict[str, Any]:
        return {counter: n for (user, d, counter), n in self.daily.items() if (user, d) == (user_id, day)}

    def _used_up(self, user_id: str, budget: Budget) -> bool:
        return self.daily.get((user_id, budget.day, budget.counter), 0) >= budget.maximum

    def claim_daily(self, user_id: str, budget: Budget) -> bool:
        if self._used_up(user_id, budget):
            return False
        key = (user_id, budget.day, budget.counter)
        self.daily[key] = self.daily.get(key, 0) + 1
        return True

    def release_daily(self, user_id: str, day: int, counter: str) -> None:
        if self.daily.get((user_id, day, counter), 0) > 0:
            self.daily[(user_id, day, counter)] -= 1


class InMemoryAccounts:
    """``AccountStore`` in dicts, conditional as the table is: an email taken by an account (one with
    a user id) is not taken again, a lock-out placeholder is overwritten by a sign-up, and an attempt
    is counted only inside a window that holds fewer than the maximum, or by opening a new one."""

    def __init__(self) -> None:
        self.emails: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}

    def create(self, user: dict[str, Any], password_hash: str) -> bool:
        if "user_id" in self.emails.get(user["email"], {}) or user["user_id"] in self.profiles:
            return False
        self.emails[user["email"]] = {**user, "password_hash": password_hash}
        self.profiles[user["user_id"]] = dict(user)
        return True

    def sign_in_record(self, email: str) -> dict[str, Any]:
        return copy.deepcopy(self.emails.get(email, {}))

    def open_window(self, email: str, *, now: int, window_seconds: int) -> dict[str, Any] | None:
        item = self.emails.get(email, {})
        if "user_id" not in item or item.get("window_start", 0) > now - window_seconds:
            return None
        self.emails[email] = item | {"failures": 1, "window_start": now}
        return copy.deepcopy(self.emails[email])

    def count_attempt(
        self, email: str, *, account_exists: bool, in_window: bool, now: int, window_seconds: int, max_failures: int
    ) -> bool:
        del in_window  # which write is tried first: one applies, whatever the order
        item = self.emails.get(email, {})
        if ("user_id" in item) != account_exists:
            return False
        expiry = {} if account_exists else {"ttl": now + window_seconds}
        if "window_start" in item and item["window_start"] > now - window_seconds:
            if item["failures"] >= max_failures:
                return False
            self.emails[email] = item | {"failures": item["failures"] + 1} | expiry
        else:
            self.emails[email] = item | {"failures": 1, "window_start": now} | expiry
        return True

    def clear_failures(self, email: str) -> None:
        item = self.emails[email]
        assert "user_id" in item, "the table refuses to clear a placeholder's count"
        item.pop("failures", None)
        item.pop("window_start", None)

    def email_of(self, user_id: str) -> str | None:
        profile = self.profiles.get(user_id)
        return str(profile["email"]) if profile else None


class InMemoryLedger:
    """``LedgerStore`` in a dict keyed as the table is (user, ``TXN#<occurred_at>#<transaction id>``):
    an entry whose key is taken is not written again."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, user_id: str, entry: dict[str, Any], movement: str) -> bool:
        key = (user_id, f"TXN#{entry['created_at']}#{entry['transaction_id']}")
        if key in self.items:
            return False
        self.items[key] = {**entry, "movement": movement, "user_id": user_id}
        return True

    def page(self, user_id: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        after = decode_cursor(cursor, lambda value: isinstance(value, str)) if cursor else None
        mine = sorted((sk for user, sk in self.items if user == user_id), reverse=True)
        if after is not None:
            mine = [sk for sk in mine if sk < after]
        page = mine[:limit]
        more = len(mine) > limit
        return [copy.deepcopy(self.items[(user_id, sk)]) for sk in page], encode_cursor(page[-1]) if more else None

    def entries_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        low, high = clock.iso(start), clock.iso(end)
        return [copy.deepcopy(e) for e in self.items.values() if low <= str(e["created_at"]) < high]


@dataclass
class Mailbox:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, user_id: str, subject: str, body: str) -> bool:
        self.sent.append((user_id, subject, body))
        return True

    def last_code(self) -> str:
        body = self.sent[-1][2]
        return body.split("Your code is ")[1][:6]


FAKEPAY_SECRET = b"fakepay-webhook-secret"


class FakePay:
    """A payment provider that is not Stripe, in memory: its payment methods are ``fp_ok`` (paid),
    ``fp_declined`` (declined: ``insufficient_funds``), ``fp_3ds`` (needs the customer's action) and
    ``fp_down`` (the provider is unreachable); it keeps every mutating call's idempotency key, and
    signs its webhooks with an HMAC of its own format (``X-Fakepay-Signature``)."""

    name = "fakepay"

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, ProviderDispute] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, idempotency key)
        self.unreachable = False  # True: every read of an intent fails as if the provider were down
        self.too_many_intents = False  # True: a lookup by our payment id cannot read them all
        self.before_cancel: Callable[[str], None] | None = None  # what happens there just before a cancel
        self._ids = itertools.count(1)
        self._by_key: dict[str, Any] = {}

    # --- the seam ---------------------------------------------------------------------------------
    def request_problems(self, *, payment_method: str, metadata: dict[str, str]) -> list[dict[str, str]]:
        problems = []
        if not payment_method.startswith("fp_"):
            problems.append({"field": "payment_method", "message": "Not a FakePay payment method (fp_...)."})
        if len(metadata) > 5:
            problems.append({"field": "metadata", "message": "FakePay keeps at most 5 keys."})
        return problems

    def _intent(self, data: dict[str, Any]) -> ProviderIntent:
        return ProviderIntent(
            id=data["id"],
            status=data["status"],
            amount=data["amount"],
            currency=data["currency"],
            amount_received=data.get("received", 0),
            metadata=dict(data["metadata"]),
            next_action={"type": "fakepay_redirect"} if data["status"] == "requires_action" else None,
            cancellation_reason=data.get("closed"),
        )

    def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        capture_method: str,
        description: str | None,  # noqa: ARG002
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ProviderIntent:
        self.calls.append(("create", idempotency_key))
        if idempotency_key in self._by_key:
            return self._intent(self._by_key[idempotency_key])
        if payment_method == "fp_down":
            raise ProviderUnavailable
        if payment_method == "fp_unknown":
            raise ProviderRejected("payment_method")
        intent_id = f"fpi_{next(self._ids)}"
        data: dict[str, Any] = {"id": intent_id, "amount": amount, "currency": currency, "metadata": metadata}
        if payment_method == "fp_declined":
            data["status"] = "failed"
            self.intents[intent_id] = data
            raise PaymentDeclined("insufficient_funds", intent_id)
        if payment_method == "fp_3ds":
            data["status"] = "requires_action"
        elif capture_method == "manual":
            data["status"] = "requires_capture"
        else:
            data |= {"status": "succeeded", "received": amount}
        self.intents[intent_id] = self._by_key[idempotency_key] = data
        return self._intent(data)

    def find_intent(
        self,
        payment_id: str,
        *,
        created_since: int,  # noqa: ARG002
        created_until: int | None = None,  # noqa: ARG002
    ) -> ProviderIntent | None:
        if self.too_many_intents:
            raise IntentLookupIncomplete
        found = [d for d in self.intents.values() if d["metadata"].get("payment_id") == payment_id]
        return self._intent(found[0]) if found else None

    def retrieve_intent(self, intent_id: str) -> ProviderIntent:
        if self.unreachable:
            raise ProviderUnavailable
        if intent_id not in self.intents:
            raise ProviderRejected("payment_intent")
        return self._intent(self.intents[intent_id])

    def capture(self, intent_id: str, amount: int | None, idempotency_key: str) -> ProviderIntent:
        self.calls.append(("capture", idempotency_key))
        data = self.intents[intent_id]
        if data["status"] != "requires_capture":
            raise BadRequest("fakepay_state", "not capturable")
        data |= {"status": "succeeded", "received": amount or data["amount"]}
        return self._intent(data)

    def cancel(self, intent_id: str, idempotency_key: str) -> ProviderIntent:
        self.calls.append(("cancel", idempotency_key))
        if self.before_cancel is not None:
            self.before_cancel(intent_id)
        if self.intents[intent_id]["status"] in ("succeeded", "canceled"):
            raise ProviderRefused  # as Stripe refuses it (payment_intent_unexpected_state)
        self.intents[intent_id]["status"] = "canceled"
        return self._intent(self.intents[intent_id])

    def close_failed(self, intent_id: str, idempotency_key: str) -> ProviderIntent:
        self.calls.append(("close", idempotency_key))
        if self.before_cancel is not None:
            self.before_cancel(intent_id)
        data = self.intents[intent_id]
        if data["status"] != "failed" or data.get("closed"):
            raise ProviderRefused  # as Stripe refuses it (payment_intent_unexpected_state)
        data["closed"] = "closed_failed"
        return self._intent(data)

    def _refund(self, data: dict[str, Any]) -> ProviderRefund:
        return ProviderRefund(
            id=data["id"],
            status=data["status"],
            amount=data["amount"],
            currency=data["currency"],
            payment_intent=data["intent"],
            metadata=dict(data["metadata"]),
            created=data["created"],
        )

    def refund(
        self, intent_id: str, amount: int, reason: str | None, metadata: dict[str, str], idempotency_key: str
    ) -> ProviderRefund:
        self.calls.append(("refund", idempotency_key))
        if idempotency_key in self._by_key:
            return self._refund(self._by_key[idempotency_key])
        intent = self.intents[intent_id]
        refunded = sum(r["amount"] for r in self.refunds.values() if r["intent"] == intent_id)
        if amount > intent.get("received", 0) - refunded:  # the provider's own guard, as Stripe's
            raise BadRequest("fakepay_over_refund", "more than remains")
        refund_id = f"fpr_{next(self._ids)}"
        data = {
            "id": refund_id,
            "status": "succeeded",
            "amount": amount,
            "currency": intent["currency"],
            "intent": intent_id,
            "metadata": metadata,
            "created": len(self.refunds),
            "reason": reason,
        }
        self.refunds[refund_id] = self._by_key[idempotency_key] = data
        return self._refund(data)

    def find_refund(self, intent_id: str, refund_id: str) -> ProviderRefund | None:
        return next((r for r in self.list_refunds(intent_id) if r.metadata.get("refund_id") == refund_id), None)

    def list_refunds(self, intent_id: str) -> list[ProviderRefund]:
        return [self._refund(r) for r in self.refunds.values() if r["intent"] == intent_id]

    def retrieve_dispute(self, dispute_id: str) -> ProviderDispute:
        return self.disputes[dispute_id]

    # --- what happens at the provider without us --------------------------------------------------
    def customer_completes_action(self, intent_id: str) -> None:
        """The customer's browser completes the intent (a challenge passed, or a failed attempt confirmed
        again with another card); a closed intent cannot be."""
        data = self.intents[intent_id]
        if data.get("closed") or data["status"] == "canceled":
            raise ProviderRefused
        data |= {"status": "succeeded", "received": data["amount"]}

    def customer_fails_action(self, intent_id: str) -> None:
        """The challenge failed: the intent waits for another payment method (still confirmable)."""
        self.intents[intent_id]["status"] = "failed"

    # --- its webhooks: its own format, verified and read as a Notice ------------------------------
    def event(self, event_id: str, kind: str, intent_id: str) -> tuple[bytes, str]:
        """A delivery of this provider: a body and its signature header."""
        body = json.dumps({"event": event_id, "kind": kind, "payment": intent_id}).encode()
        return body, hmac.new(FAKEPAY_SECRET, body, hashlib.sha256).hexdigest()


def fakepay_notice(body: bytes, signature: str) -> Notice:
    """FakePay's webhook verification and parsing (what ``providers.stripe.webhook`` is for Stripe)."""
    expected = hmac.new(FAKEPAY_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise BadRequest("invalid_signature", "The webhook signature is missing or not valid.")
    event = json.loads(body)
    kind = event["kind"]
    return Notice(
        event_id=event["event"],
        event_type=f"fakepay.{kind}",
        intent_id=event["payment"],
        refunds=kind.startswith("refund"),
        handled=kind in ("payment", "refund"),
    )
