"""Which payments the reconciler's sparse index holds, and from when (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devstack.pollers import seconds_until_next
from devstack.template import Template
from payments_core.payments import open_items, otp
from payments_core.payments.models import Payment, Refund
from tests.conftest import ROOT

CREATED = "2026-12-01T10:00:00.000Z"
UPDATED = "2026-12-01T10:00:05.000Z"


def payment(status: str, **fields: object) -> Payment:
    return Payment.model_validate(
        {
            "payment_id": "pay_1",
            "user_id": "usr_1",
            "status": status,
            "amount": 5000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "request_fingerprint": "f",
            "created_at": CREATED,
            "updated_at": UPDATED,
            **fields,
        }
    )


def refund(status: str, created_at: str) -> Refund:
    return Refund(
        refund_id=f"ref_{created_at}",
        payment_id="pay_1",
        amount=100,
        currency="usd",
        status=status,
        created_at=created_at,
    )


@pytest.mark.parametrize(
    ("status", "due"),
    [
        ("processing", UPDATED),
        ("requires_action", UPDATED),
        ("requires_otp", "2026-12-01T10:05:05.000Z"),  # when its code expires
        ("requires_capture", "2026-12-08T10:00:00.000Z"),  # when Stripe releases the hold
    ],
)
def test_an_unsettled_payment_is_open_from_when_it_is_worth_a_look(status: str, due: str) -> None:
    attributes = open_items.index_attributes(payment(status))
    assert attributes == {"recon_pk": open_items.shard_of("pay_1"), "recon_at": due}


@pytest.mark.parametrize("status", ["succeeded", "partially_refunded", "refunded", "failed", "canceled"])
def test_a_settled_payment_is_not_in_the_index(status: str) -> None:
    assert open_items.index_attributes(payment(status)) == {}


def test_a_pending_refund_keeps_a_payment_open_from_the_oldest_one() -> None:
    refunds = {
        r.refund_id: r
        for r in (
            refund("succeeded", "2026-12-01T09:00:00.000Z"),
            refund("pending", "2026-12-01T11:00:00.000Z"),
            refund("pending", "2026-12-01T10:30:00.000Z"),
        )
    }
    assert open_items.index_attributes(payment("partially_refunded", refunds=refunds))["recon_at"] == (
        "2026-12-01T10:30:00.000Z"
    )


def test_a_live_lease_and_the_reconcilers_backoff_push_the_look_later() -> None:
    lease_until = int(datetime(2026, 12, 1, 10, 0, 35, tzinfo=UTC).timestamp())
    assert open_items.index_attributes(payment("processing", lease_until=lease_until))["recon_at"] == (
        "2026-12-01T10:00:35.000Z"
    )
    backoff = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp())
    looked_at = payment("requires_action", reconcile_after=backoff, reconcile_seen=UPDATED, reconcile_looks=3)
    assert open_items.index_attributes(looked_at)["recon_at"] == "2026-12-02T00:00:00.000Z"
    assert looked_at.looks_since_change() == 3
    # Any change since that look (its updated_at moved) puts the payment back on its own schedule
    changed = looked_at.model_copy(update={"status": "requires_capture", "updated_at": "2026-12-01T11:00:00.000Z"})
    assert open_items.index_attributes(changed)["recon_at"] == "2026-12-08T10:00:00.000Z"
    assert changed.looks_since_change() == 0


def test_shards_spread_payments_and_a_payment_stays_on_its_shard() -> None:
    shards = {open_items.shard_of(f"pay_{n}") for n in range(200)}
    assert shards == {f"OPEN#{n}" for n in range(open_items.OPEN_SHARDS)}
    assert open_items.shard_of("pay_7") == open_items.shard_of("pay_7")


def test_the_code_lifetime_is_the_one_time_codes_own() -> None:
    assert open_items.CODE_TTL_SECONDS == otp.CODE_TTL_SECONDS


def test_ledger_entries_are_indexed_by_their_utc_day() -> None:
    assert open_items.ledger_attributes("2026-12-03T23:59:59.999Z") == {
        "recon_pk": "LEDGER#2026-12-03",
        "recon_at": "2026-12-03T23:59:59.999Z",
    }


def test_the_index_is_the_templates_and_keeps_the_payment_document_out() -> None:
    table = Template(ROOT / "template.yaml").properties("AppTable")
    (index,) = [i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == open_items.INDEX]
    assert [k["AttributeName"] for k in index["KeySchema"]] == [open_items.PK, open_items.AT]
    assert index["Projection"]["ProjectionType"] == "INCLUDE"
    assert "doc" not in index["Projection"]["NonKeyAttributes"]


def test_the_local_stack_fires_schedules_when_the_template_says() -> None:
    now = datetime(2026, 12, 4, 16, 0, 0, tzinfo=UTC)
    assert seconds_until_next("rate(5 minutes)", now) == 300
    assert seconds_until_next("rate(1 hour)", now) == 3600
    assert seconds_until_next("cron(15 0 * * ? *)", now) == (8 * 60 + 15) * 60
    assert seconds_until_next("cron(15 0 * * ? *)", now.replace(hour=0, minute=10)) == 5 * 60
    schedules = dict(Template(ROOT / "template.yaml").schedules())
    assert schedules == {"ReconcilerFunction": "rate(5 minutes)", "DailyReportFunction": "cron(15 0 * * ? *)"}


def test_a_pass_with_no_minimum_age_finds_a_payment_written_earlier_in_the_same_second(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{"min_age_seconds": 0}`` looks at every open item now: the index's times have milliseconds, so the
    pass's cutoff must too (a cutoff cut to the whole second left out what was written since it began)."""
    from payments_core import clock
    from payments_core.payments.models import Change
    from payments_core.payments.otp_repository import OtpCodeStore
    from payments_core.payments.provider import Providers
    from payments_core.payments.providers.stripe.gateway import StripeGateway
    from payments_core.payments.repository import PaymentRepository
    from payments_core.reconciler import Reconciler

    written = "2026-12-01T10:00:05.300Z"
    PaymentRepository("AppTable").create(Change(payment("processing", updated_at=written), []))
    now = open_items.parse("2026-12-01T10:00:05.800Z")
    monkeypatch.setattr(clock, "now", lambda: now)
    monkeypatch.setattr(clock, "epoch_seconds", lambda: int(now.timestamp()))
    reconciler = Reconciler(
        PaymentRepository("AppTable"),
        Providers.only(StripeGateway("sk_test_unused", "http://127.0.0.1:9")),
        OtpCodeStore("AppTable"),
        min_age_seconds=0,
    )
    assert list(reconciler.due()) == [("usr_1", "pay_1")]
    # and a minimum age still holds back what is younger than it, to the millisecond
    older = Reconciler(reconciler.repository, reconciler.providers, reconciler.codes, min_age_seconds=1)
    assert list(older.due()) == []
