"""The daily reconciliation report: the ledger against the provider and against the payments store.

For one UTC day (``DailyReportFunction`` runs it for the previous one), it reads:

- the ledger's entries of that day, from the ``Reconciliation`` index (``LEDGER#<day>``: one Query
  per page, never a Scan; ``payments.open_items``);
- what the provider reports as created that day: charges, refunds and disputes, each listed through
  the SDK with ``created[gte]``/``created[lt]``;
- the stored payment behind each of them.

Totals per currency and kind are written side by side (a hold authorised one day and captured the
next counts on different days on the two sides, so totals alone may differ without anything being
wrong). Mismatches are found movement by movement: every money movement the provider made that day
must have its ledger entry (``LEDGER#<movement>``, whatever day it was written) for the same amount;
every ledger entry of the day must be the provider's (its intent or refund as the provider holds it
now) and the store's (the payment's captured amount, the refund's status and amount, the dispute's
amounts). Every mismatch is listed; the report goes to S3 as JSON and CSV and its mismatch count to
the metric ``ReconciliationMismatches`` (alarm: any).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from payments_core import clock
from payments_core.errors import DomainError
from payments_core.ledger_repository import LedgerStore
from payments_core.payments import lifecycle
from payments_core.payments.models import Payment
from payments_core.payments.provider import ReportingGateway
from payments_core.payments.provider_records import ProviderRefund
from payments_core.payments.repository import PaymentStore

CREDIT_KINDS = ("charge", "refund_failure", "dispute_reversal")
# How far before the report's day a ledger entry for a movement it meets may have been written.
GUARD_DAYS_BEFORE = 7


class ReportGateway(ReportingGateway, Protocol):
    def list_refunds(self, intent_id: str) -> list[ProviderRefund]: ...


class Mismatch(NamedTuple):  # not a dataclass: cheaper to create in init
    """One disagreement. ``kind``: missing_in_ledger (the provider moved money the ledger does not
    show), not_at_provider (a ledger entry the provider does not confirm), amount_differs (ledger vs
    provider), store_differs (ledger vs the payments store), not_in_store (the provider moved money
    for no payment of ours)."""

    kind: str
    movement: str
    currency: str
    payment_id: str | None = None
    ledger_amount: int | None = None
    provider_amount: int | None = None
    store_amount: int | None = None
    detail: str = ""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


class DailyReport:
    def __init__(self, repository: PaymentStore, ledger: LedgerStore, gateway: ReportGateway) -> None:
        self.repository = repository
        self.ledger = ledger
        self.gateway = gateway
        self._payments: dict[tuple[str, str], Payment | None] = {}
        self._by_movement: dict[str, dict[str, Any]] | None = None
        self._start = clock.now()

    # --- reads -----------------------------------------------------------------------------------
    def ledger_entries(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The ledger's entries written in [start, end), from the index's day partitions."""
        return self.ledger.entries_between(start, end)

    def _payment(self, user_id: str, payment_id: str) -> Payment | None:
        key = (user_id, payment_id)
        if key not in self._payments:
            self._payments[key] = self.repository.get(user_id, payment_id)
        return self._payments[key]

    def _owner(self, intent_id: str | None) -> Payment | None:
        linked = self.repository.find_by_provider_id(intent_id) if intent_id else None
        return self._payment(*linked) if linked else None

    def _guard(self, movement: str) -> dict[str, Any] | None:
        """The ledger's entry for a movement, written any day from a week before the report's day until
        now (a movement the provider made is recorded after it, and a refund failing now may have
        succeeded days ago): from the index's day partitions, read once per report."""
        if self._by_movement is None:
            start = self._start - timedelta(days=GUARD_DAYS_BEFORE)
            entries = self.ledger_entries(start, max(clock.now(), self._start) + timedelta(seconds=1))
            self._by_movement = {str(entry["movement"]): entry for entry in entries}
        return self._by_movement.get(movement)

    # --- the report ------------------------------------------------------------------------------
    def build(self, start: datetime, end: datetime, *, label: str | None = None) -> dict[str, Any]:
        first, last = int(start.timestamp()), int(end.timestamp())
        self._start, self._by_movement = start, None
        entries = self.ledger_entries(start, end)
        charges = self.gateway.list_charges(first, last)
        refunds = self.gateway.list_refunds_between(first, last)
        disputes = self.gateway.list_disputes_between(first, last)

        totals: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: {"ledger": defaultdict(int), "provider": defaultdict(int)}
        )
        for entry in entries:
            totals[str(entry["currency"])]["ledger"][str(entry["type"])] += int(entry["amount"])
        mismatches: list[Mismatch] = []
        seen: set[str] = set()

        def expect(movement: str, amount: int, currency: str, payment: Payment | None, what: str) -> None:
            """A movement the provider made must be in the ledger for the same amount."""
            seen.add(movement)
            guard = self._guard(movement)
            pid = payment.payment_id if payment else None
            if guard is None:
                note = what if payment is not None else what + "; no payment of ours holds it"
                mismatches.append(Mismatch("missing_in_ledger", movement, currency, pid, None, amount, None, note))
            elif int(guard.get("amount", amount)) != amount:
                mismatches.append(
                    Mismatch("amount_differs", movement, currency, pid, int(guard["amount"]), amount, None, what)
                )

        for charge in charges:
            if not charge.captured or charge.amount_captured <= 0 or charge.status != "succeeded":
                continue
            currency = (charge.currency or "").lower()
            totals[currency]["provider"]["charge"] += charge.amount_captured
            payment = self._owner(charge.payment_intent)
            if payment is None:
                mismatches.append(
                    Mismatch("not_in_store", f"charge:{charge.id}", currency, None, None, charge.amount_captured)
                )
                continue
            expect(f"charge:{payment.payment_id}", charge.amount_captured, currency, payment, f"charge {charge.id}")

        intent_of_charge = {charge.id: charge.payment_intent for charge in charges}
        for refund in refunds:
            currency = (refund.currency or "").lower()
            intent_id = refund.payment_intent or intent_of_charge.get(refund.charge or "")
            if refund.payment_intent is None and intent_id is None and refund.charge:
                intent_id = self.gateway.retrieve_charge_intent(refund.charge)
            payment = self._owner(intent_id)
            ours = None
            if payment is not None:
                ours = next(
                    (r for r in payment.refunds.values() if r.provider_refund_id == refund.id),
                    payment.refunds.get(refund.metadata.get("refund_id", "")),
                )
            movement = f"refund:{ours.refund_id}" if ours else f"refund:{refund.id}"
            if refund.status == "succeeded":
                totals[currency]["provider"]["refund"] += refund.amount
                expect(movement, refund.amount, currency, payment, f"refund {refund.id}")
            elif refund.status in ("failed", "canceled") and ours is not None and self._guard(movement):
                # It had succeeded here: the ledger must also show the money coming back.
                totals[currency]["provider"]["refund"] += refund.amount
                totals[currency]["provider"]["refund_failure"] += refund.amount
                seen.add(movement)
                expect(f"refund_failure:{ours.refund_id}", refund.amount, currency, payment, f"refund {refund.id}")

        for dispute in disputes:
            currency = (dispute.currency or "").lower()
            payment = self._owner(dispute.payment_intent)
            if dispute.withdrawn:
                totals[currency]["provider"]["dispute"] += dispute.withdrawn
                expect(f"dispute:{dispute.id}", dispute.withdrawn, currency, payment, f"dispute {dispute.id}")
            if dispute.reinstated:
                totals[currency]["provider"]["dispute_reversal"] += dispute.reinstated
                expect(f"dispute_reversal:{dispute.id}", dispute.reinstated, currency, payment, f"dispute {dispute.id}")

        for entry in entries:
            mismatches.extend(self._check_entry(entry, at_provider=str(entry["movement"]) in seen))

        unique = {(m.kind, m.movement): m for m in mismatches}
        return {
            "day": label or start.date().isoformat(),
            "from": clock.iso(start),
            "to": clock.iso(end),
            "generated_at": clock.iso(clock.now()),
            "ledger_entries": len(entries),
            "provider_objects": {"charges": len(charges), "refunds": len(refunds), "disputes": len(disputes)},
            "totals": {
                currency: {
                    side: {kind: sides[side][kind] for kind in sorted(sides[side])} for side in ("ledger", "provider")
                }
                | {"ledger_net": net(sides["ledger"]), "provider_net": net(sides["provider"])}
                for currency, sides in sorted(totals.items())
            },
            "mismatches": [m._asdict() for m in sorted(unique.values(), key=lambda m: (m.kind, m.movement))],
        }

    def _check_entry(self, entry: dict[str, Any], *, at_provider: bool) -> list[Mismatch]:
        """One ledger entry of the day against the store and, unless a listing of the day met it, the
        provider as it holds the object now."""
        movement, kind = str(entry["movement"]), str(entry["type"])
        amount, currency = int(entry["amount"]), str(entry["currency"])
        user_id, payment_id = str(entry["user_id"]), str(entry["payment_id"])
        payment = self._payment(user_id, payment_id)
        found: list[Mismatch] = []

        def differs(what: str, store: int | None, provider: int | None = None, where: str = "store_differs") -> None:
            found.append(Mismatch(where, movement, currency, payment_id, amount, provider, store, what))

        if payment is None:
            differs("no such payment in the store", None)
            return found
        subject = movement.partition(":")[2]
        refund = payment.refunds.get(subject)
        if kind == "charge":
            if payment.status not in lifecycle.MONEY_MOVED or payment.amount_captured != amount:
                differs(f"payment is {payment.status}, captured {payment.amount_captured}", payment.amount_captured)
            if not at_provider:
                found.extend(self._charge_at_provider(payment, movement, amount, currency))
        elif kind in ("refund", "refund_failure"):
            if refund is None:
                ok = False
            elif kind == "refund_failure":
                ok = refund.amount == amount and refund.failed_after_success
            else:  # a refund that failed after it succeeded had moved the money all the same
                ok = refund.amount == amount and (refund.status == "succeeded" or refund.failed_after_success)
            if not ok:
                differs(f"refund is {refund.status if refund else 'absent'}", refund.amount if refund else None)
            if kind == "refund" and not at_provider and refund is not None:
                found.extend(self._refund_at_provider(payment, refund.provider_refund_id, movement, amount, currency))
        elif kind in ("dispute", "dispute_reversal"):
            dispute = payment.dispute
            held = (
                None
                if dispute is None
                else (dispute.amount_withdrawn if kind == "dispute" else dispute.amount_reinstated)
            )
            if held != amount:
                differs("the payment's dispute", held)
        return found

    def _charge_at_provider(self, payment: Payment, movement: str, amount: int, currency: str) -> list[Mismatch]:
        if payment.provider_payment_id is None:
            return [
                Mismatch("not_at_provider", movement, currency, payment.payment_id, amount, None, None, "no intent")
            ]
        try:
            intent = self.gateway.retrieve_intent(payment.provider_payment_id)
        except DomainError:
            return [
                Mismatch("not_at_provider", movement, currency, payment.payment_id, amount, None, None, "unreadable")
            ]
        if intent.status != "succeeded" or min(intent.amount_received, payment.amount) != amount:
            return [
                Mismatch(
                    "amount_differs",
                    movement,
                    currency,
                    payment.payment_id,
                    amount,
                    intent.amount_received,
                    None,
                    f"intent {intent.id} is {intent.status}",
                )
            ]
        return []

    def _refund_at_provider(
        self, payment: Payment, provider_refund_id: str | None, movement: str, amount: int, currency: str
    ) -> list[Mismatch]:
        refunds = self.gateway.list_refunds(payment.provider_payment_id) if payment.provider_payment_id else []
        theirs = next((r for r in refunds if r.id == provider_refund_id), None)
        if theirs is None or theirs.amount != amount or theirs.status not in ("succeeded", "failed", "canceled"):
            return [
                Mismatch(
                    "not_at_provider" if theirs is None else "amount_differs",
                    movement,
                    currency,
                    payment.payment_id,
                    amount,
                    theirs.amount if theirs else None,
                    None,
                    f"provider refund {provider_refund_id}",
                )
            ]
        return []


def net(amounts: dict[str, int]) -> int:
    """Money in minus money out: charges, reversed refunds and won disputes in; refunds and disputes out."""
    return sum(value if kind in CREDIT_KINDS else -value for kind, value in amounts.items())


def as_csv(report: dict[str, Any]) -> str:
    """The report as one CSV: a row per currency and kind of total, then a row per mismatch."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "record",
            "day",
            "currency",
            "kind",
            "movement",
            "payment_id",
            "ledger_amount",
            "provider_amount",
            "store_amount",
            "detail",
        ]
    )
    for currency, sides in report["totals"].items():
        for kind in sorted(set(sides["ledger"]) | set(sides["provider"])):
            writer.writerow(
                [
                    "total",
                    report["day"],
                    currency,
                    kind,
                    "",
                    "",
                    sides["ledger"].get(kind, 0),
                    sides["provider"].get(kind, 0),
                    "",
                    "",
                ]
            )
    for m in report["mismatches"]:
        writer.writerow(
            [
                "mismatch",
                report["day"],
                m["currency"],
                m["kind"],
                m["movement"],
                m["payment_id"] or "",
                "" if m["ledger_amount"] is None else m["ledger_amount"],
                "" if m["provider_amount"] is None else m["provider_amount"],
                "" if m["store_amount"] is None else m["store_amount"],
                m["detail"],
            ]
        )
    return out.getvalue()


def write_report(report: dict[str, Any], bucket: str) -> list[str]:
    """The report's S3 objects (JSON and CSV), one pair per day, overwritten by a rerun of that day."""
    from payments_core.aws import client

    s3 = client("s3")
    keys = []
    for suffix, body, content_type in (
        ("json", json.dumps(report, indent=2, sort_keys=True), "application/json"),
        ("csv", as_csv(report), "text/csv"),
    ):
        key = f"daily/{report['day']}.{suffix}"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=content_type)
        keys.append(key)
    return keys
