"""The reconciler: Stripe moved on and nobody told us (a lost answer, a dropped webhook, an expired
code or hold). One pass brings ours to Stripe's state, with each event once.

In-process on moto (tables from template.yaml) against the session's local Stripe. Webhooks that
Stripe sends for these payments go to the stack's own store, not this one: here every webhook is
dropped unless a test delivers it. The clock is moved, never slept on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests
from stripe import StripeClient

from payments_core import clock
from payments_core.api import status_of
from payments_core.dynamo import from_item
from payments_core.errors import DomainError
from payments_core.events import PaymentEventDetail, movement_of
from payments_core.idempotency import once_per_event
from payments_core.ledger import Ledger
from payments_core.ledger_repository import LedgerRepository
from payments_core.notifications import send_receipt
from payments_core.payments import open_items
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.leases import LEASE_SECONDS, take_lease
from payments_core.payments.otp_repository import OtpCodeStore
from payments_core.payments.provider import Providers
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.transitions import operation_id
from payments_core.payments.webhook import WebhookProcessor
from payments_core.reconciler import Reconciler
from tests.conftest import published_events
from tests.domain import build_payments, create, notice_of
from tests.integration.conftest import RunningStack, run_meanwhile
from tests.integration.test_faults import FaultyStripeClient

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]

MIN_AGE = 600
USER = "usr_recon"
SENDER = "no-reply@payments.example.com"


class Clock:
    """The payments code's clock, moved by the test (both the epoch and the datetime views)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = float(int(time.time()))
        monkeypatch.setattr(clock, "epoch_seconds", lambda: int(self.now))
        monkeypatch.setattr(clock, "now", lambda: clock.from_epoch(int(self.now)))

    def advance(self, seconds: float) -> None:
        self.now += seconds


class World:
    def __init__(self, stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clock = Clock(monkeypatch)
        self.client = FaultyStripeClient()
        self.gateway = StripeGateway("sk_test_recon", stack.stripe_url, http_client=self.client)
        self.repository = PaymentRepository("AppTable")
        self.service = build_payments(self.repository, self.gateway, otp_threshold=50_000)
        self.webhooks = WebhookProcessor(self.repository, StripeGateway("sk_test_recon", stack.stripe_url))
        self.stripe = StripeClient("sk_test_recon", base_addresses={"api": stack.stripe_url})
        self.email = f"{uuid.uuid4().hex[:10]}@example.com"
        boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
        boto3.client("dynamodb").put_item(
            TableName="AppTable",
            Item={
                "PK": {"S": f"USER#{USER}"},
                "SK": {"S": "PROFILE"},
                "user_id": {"S": USER},
                "email": {"S": self.email},
            },
        )

    def reconciler(self) -> Reconciler:
        return Reconciler(
            self.repository, Providers.only(self.gateway), OtpCodeStore("AppTable"), min_age_seconds=MIN_AGE
        )

    def one_pass(self) -> dict[str, int]:
        return self.reconciler().run(lambda: 300_000).outcomes

    def status(self, payment_id: str) -> str:
        return self.service.get(USER, payment_id).status

    def outbox(self, payment_id: str) -> list[tuple[str, PaymentEventDetail]]:
        return [
            (kind, PaymentEventDetail.model_validate(detail))
            for kind, detail in published_events()
            if detail["payment"]["payment_id"] == payment_id
        ]

    def events(self, payment_id: str) -> list[str]:
        return sorted(kind for kind, _ in self.outbox(payment_id))

    def deliver_everything(self, payment_id: str) -> tuple[list[dict[str, Any]], int]:
        """Every outbox event of the payment delivered twice to the ledger and to the receipts (each
        keyed as its consumer keys it); returns the ledger's entries and the emails sent."""
        from moto.ses.models import ses_backends

        ledger = Ledger.on_table("AppTable")
        for kind, detail in self.outbox(payment_id):
            for _ in range(2):
                ledger.record(kind, detail)
                once_per_event(
                    movement_of(kind, detail) or detail.event_id,
                    lambda kind=kind, detail=detail: send_receipt(  # type: ignore[misc]
                        table_name="AppTable", sender=SENDER, detail_type=kind, detail=detail
                    ),
                    None,
                )
        items = [from_item(i) for i in boto3.client("dynamodb").scan(TableName="AppTable")["Items"]]
        entries = [i for i in items if str(i["SK"]).startswith("TXN#") and i["payment_id"] == payment_id]
        sent = [
            m
            for m in ses_backends["123456789012"]["us-east-1"].sent_messages
            if self.email in str(getattr(m, "destinations", {})) and payment_id in str(getattr(m, "body", ""))
        ]
        return entries, len(sent)

    def lost_create(self, amount: int = 2500, *, reached: bool = True, manual: bool = False) -> tuple[str, str]:
        """A create whose answer was lost (the provider made the intent, or never got the request) and
        whose look-up failed too: the client got 503 and never came back. Returns (payment id, key)."""
        key = uuid.uuid4().hex
        self.client.plan = [
            ("POST", "/v1/payment_intents", "lost_answer" if reached else "unreachable"),
            ("GET", "/v1/payment_intents", "unreachable"),
        ]
        request = CreatePaymentRequest(
            amount=amount,
            currency="usd",
            payment_method="pm_card_visa",
            capture_method="manual" if manual else "automatic",
        )
        with pytest.raises(DomainError) as lost:
            create(self.service, USER, request, key, "req")
        assert status_of(lost.value) == 503
        self.client.plan = []
        payment_id = operation_id("pay", USER, key)
        assert self.status(payment_id) == "processing"
        return payment_id, key

    def retry(self, key: str, amount: int = 2500) -> dict[str, Any]:
        request = CreatePaymentRequest(amount=amount, currency="usd", payment_method="pm_card_visa")
        return create(self.service, USER, request, key, "req")

    def intents_at_stripe(self, payment_id: str) -> list[Any]:
        return [
            intent
            for intent in self.stripe.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
            if (intent.to_dict().get("metadata") or {}).get("payment_id") == payment_id
        ]


@pytest.fixture
def world(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(stack, monkeypatch)


# --- acceptance: each ends in Stripe's state within one pass --------------------------------------
def test_a_lost_create_answer_and_a_dropped_webhook_end_in_stripes_state_within_one_pass(world: World) -> None:
    # Given a payment Stripe charged, whose answer was lost and whose webhook never came
    payment_id, _ = world.lost_create(2500)
    (intent,) = world.intents_at_stripe(payment_id)
    assert intent.status == "succeeded"
    # When the reconciler runs once the payment is old enough to be its business
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    outcomes = world.one_pass()
    # Then ours is Stripe's: succeeded for the amount, linked to that intent, announced once
    payment = world.service.get(USER, payment_id)
    assert (payment.status, payment.amount_captured, payment.provider_payment_id) == ("succeeded", 2500, intent.id)
    assert outcomes.get("settled") == 1
    assert world.events(payment_id) == ["PaymentCreated", "PaymentSucceeded"]
    entries, emails = world.deliver_everything(payment_id)
    assert [(e["type"], int(e["amount"])) for e in entries] == [("charge", 2500)]
    assert emails == 1


def test_a_lost_create_on_a_busy_account_is_found_by_stripes_search_once_indexed(
    world: World, stack: RunningStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments.providers.stripe import gateway as stripe_gateway

    # Given a payment Stripe charged, whose answer was lost, on an account that made more intents since
    # than one lookup lists (here one page of one)
    monkeypatch.setattr(stripe_gateway, "FIND_INTENT_PAGES", 1)
    monkeypatch.setattr(stripe_gateway, "FIND_INTENT_PAGE_SIZE", 1)
    payment_id, _ = world.lost_create(2900)
    (intent,) = world.intents_at_stripe(payment_id)
    world.stripe.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    # When a pass looks before Stripe's search has indexed the intent, then the payment stays as it was
    # (unknown is not "never reached Stripe")
    assert world.one_pass() == {"provider_unavailable": 1}
    assert world.status(payment_id) == "processing"
    # And once search finds it, the next pass settles it: Stripe's state, one effect
    requests.post(f"{stack.stripe_url}/_strict/search", data={"lag_seconds": 0}, timeout=30).raise_for_status()
    try:
        world.clock.advance(3600)
        outcomes = world.one_pass()
    finally:
        requests.post(f"{stack.stripe_url}/_strict/search", data={"lag_seconds": 60}, timeout=30).raise_for_status()
    assert outcomes.get("settled") == 1
    assert world.service.get(USER, payment_id).provider_payment_id == intent.id
    assert_one_effect(world, payment_id, 2900)


def test_the_reconciler_leaves_a_payment_alone_until_it_is_old_enough(world: World) -> None:
    payment_id, _ = world.lost_create(2500)
    world.clock.advance(MIN_AGE - 60)
    world.one_pass()
    assert world.status(payment_id) == "processing"  # webhooks and client retries come first


def test_an_attempt_that_never_reached_stripe_fails_once_its_lease_is_over(world: World) -> None:
    # Given a create that never reached Stripe (connection refused) and no retry from the client
    payment_id, key = world.lost_create(2500, reached=False)
    assert world.intents_at_stripe(payment_id) == []
    # When the reconciler runs past its lease and the minimum age
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    world.one_pass()
    # Then it failed, with a reason, announced once; a late retry gets that answer, and nothing is charged
    payment = world.service.get(USER, payment_id)
    assert (payment.status, payment.decline_code, payment.lease_holder) == ("failed", "provider_not_reached", None)
    assert world.events(payment_id) == ["PaymentCreated", "PaymentFailed"]
    late = world.retry(key)
    assert (late["status"], late["body"]["error"]["code"]) == (502, "provider_error")
    assert world.intents_at_stripe(payment_id) == []


def test_a_live_lease_is_not_judged(world: World) -> None:
    # Given a payment with no intent, old enough, whose create a request is making right now (a retry
    # holding the lease)
    payment_id, _ = world.lost_create(2500, reached=False)
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    world.repository.update(USER, payment_id, lambda p: take_lease(p, "a-retry-in-flight"))
    # When the reconciler runs: the payment is not failed under the request's feet
    assert world.reconciler().settle(USER, payment_id) in ("not_due", "leased")
    world.one_pass()
    assert world.status(payment_id) == "processing"
    # And once that lease has run out with nothing made at Stripe, it is
    world.clock.advance(LEASE_SECONDS + MIN_AGE)
    world.one_pass()
    assert world.status(payment_id) == "failed"


def test_a_dropped_refund_update_ends_in_stripes_state_within_one_pass(world: World) -> None:
    # Given a paid payment and a refund Stripe made whose answer was lost, and no webhook came
    paid = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=4000, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "req",
    )
    payment_id = paid["body"]["payment_id"]
    world.client.plan = [("POST", "/v1/refunds", "lost_answer"), ("GET", "/v1/refunds", "unreachable")]
    with pytest.raises(DomainError):
        world.service.refund(USER, payment_id, RefundRequest(amount=1500), uuid.uuid4().hex)
    world.client.plan = []
    payment = world.service.get(USER, payment_id)
    assert [r.status for r in payment.refunds.values()] == ["pending"]
    # When the reconciler runs
    world.clock.advance(MIN_AGE + 1)
    world.one_pass()
    # Then the refund is Stripe's: succeeded, with its event, its ledger entry and its receipt, once
    payment = world.service.get(USER, payment_id)
    assert [r.status for r in payment.refunds.values()] == ["succeeded"]
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 1500)
    assert world.events(payment_id).count("RefundSucceeded") == 1
    entries, emails = world.deliver_everything(payment_id)
    assert sorted((e["type"], int(e["amount"])) for e in entries) == [("charge", 4000), ("refund", 1500)]
    assert emails == 2  # the receipt and the refund's
    # And the payment left the open items: a second pass does not look at it
    assert world.reconciler().settle(USER, payment_id) == "not_due"


def test_a_payment_waiting_for_its_code_past_expiry_is_canceled(world: World, stack: RunningStack) -> None:
    # Given a large payment waiting for its one-time code, which nobody enters
    created = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=60_000, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "r",
    )
    payment_id = created["body"]["payment_id"]
    assert world.status(payment_id) == "requires_otp"
    # When the reconciler runs after the code expired but within the grace period: nothing yet
    world.clock.advance(5 * 60 + 1)
    world.one_pass()
    assert world.status(payment_id) == "requires_otp"
    # And when it runs past expiry plus the grace period
    world.clock.advance(MIN_AGE)
    world.one_pass()
    # Then the payment is canceled, announced once, and nothing was asked of Stripe
    assert world.status(payment_id) == "canceled"
    assert world.events(payment_id) == ["PaymentCanceled", "PaymentCreated"]
    assert world.intents_at_stripe(payment_id) == []
    with pytest.raises(DomainError) as late:
        world.service.verify_code(world.service.get(USER, payment_id), "123456")
    assert late.value.code == "otp_not_required"


def test_a_hold_past_seven_days_ends_canceled_and_its_capture_is_409(world: World) -> None:
    # Given a hold, which Stripe released after 7 days (its webhook never came)
    held = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=3000, currency="usd", payment_method="pm_card_visa", capture_method="manual"),
        uuid.uuid4().hex,
        "req",
    )
    payment_id = held["body"]["payment_id"]
    intent_id = held["body"]["provider_payment_id"]
    assert held["body"]["status"] == "requires_capture"
    world.stripe.v1.payment_intents.cancel(intent_id)  # what Stripe does when the authorisation expires
    # When the reconciler runs 7 days on
    world.clock.advance(7 * 24 * 3600 + MIN_AGE)
    world.one_pass()
    # Then ours is canceled, announced once, and a capture is the contract's 409
    assert world.status(payment_id) == "canceled"
    assert world.events(payment_id).count("PaymentCanceled") == 1
    with pytest.raises(DomainError) as refused:
        world.service.capture(USER, payment_id, CaptureRequest(), uuid.uuid4().hex)
    assert (status_of(refused.value), refused.value.code) == (409, "payment_not_capturable")


def test_a_hold_not_yet_due_is_not_asked_about(world: World) -> None:
    held = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=3000, currency="usd", payment_method="pm_card_visa", capture_method="manual"),
        uuid.uuid4().hex,
        "req",
    )
    world.clock.advance(6 * 24 * 3600)
    world.client.seen.clear()
    world.one_pass()
    assert world.status(held["body"]["payment_id"]) == "requires_capture"
    assert not [call for call in world.client.seen if held["body"]["provider_payment_id"] in call]


# --- one effect, however the reconciler meets a webhook, a client retry or itself -----------------
def succeeded_event(intent_id: str) -> dict[str, Any]:
    return {
        "id": "evt_" + uuid.uuid4().hex,
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent_id, "object": "payment_intent"}},
    }


def assert_one_effect(world: World, payment_id: str, amount: int) -> None:
    assert world.status(payment_id) == "succeeded"
    assert world.events(payment_id) == ["PaymentCreated", "PaymentSucceeded"]
    entries, emails = world.deliver_everything(payment_id)
    assert [(e["type"], int(e["amount"])) for e in entries] == [("charge", amount)]
    assert emails == 1
    assert len(world.intents_at_stripe(payment_id)) == 1


@pytest.mark.parametrize("retry_first", [True, False])
def test_a_pass_racing_the_webhook_and_a_client_retry_gives_one_effect(world: World, retry_first: bool) -> None:
    # Given a lost create whose intent Stripe made
    payment_id, key = world.lost_create(2600)
    (intent,) = world.intents_at_stripe(payment_id)
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    # When, while the reconciler has found the intent and not yet written, the client retries and the
    # webhook lands (in either order)
    seen: dict[str, Any] = {}

    def webhook() -> None:
        seen["webhook"] = world.webhooks.process(notice_of(succeeded_event(intent.id)))

    def retry() -> None:
        seen["retry"] = _outcome(lambda: world.retry(key, 2600))

    reconciler = world.reconciler()
    run_meanwhile(
        reconciler.providers["stripe"],
        "find_intent",
        lambda: [step() for step in ((retry, webhook) if retry_first else (webhook, retry))],
    )
    assert reconciler.settle(USER, payment_id) == "unchanged"  # the webhook had applied it
    # Then the webhook applied it; a retry before it was told to come back (the reconciler held the
    # lease), one after it got the payment; one charge, one event, one ledger entry, one email
    assert seen["webhook"] == "applied"
    if retry_first:
        assert isinstance(seen["retry"], DomainError)
        assert seen["retry"].code == "request_in_progress"
    else:
        assert seen["retry"]["body"]["status"] == "succeeded"
    assert world.retry(key, 2600)["body"]["status"] == "succeeded"
    assert_one_effect(world, payment_id, 2600)


def test_passes_webhooks_and_retries_all_at_once_give_one_effect(world: World) -> None:
    # Given a lost create whose intent Stripe made
    payment_id, key = world.lost_create(2700)
    (intent,) = world.intents_at_stripe(payment_id)
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    # When two reconciler passes, two deliveries of the webhook and two client retries start together
    start = threading.Barrier(6)
    outcomes: list[Any] = []

    def at_once(call: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            outcomes.append(_outcome(call))

        return run

    event = succeeded_event(intent.id)
    calls = [
        lambda: world.reconciler().settle(USER, payment_id),
        lambda: world.reconciler().settle(USER, payment_id),
        lambda: world.webhooks.process(notice_of(event)),
        lambda: world.webhooks.process(notice_of(succeeded_event(intent.id))),
        lambda: world.retry(key, 2700),
        lambda: world.retry(key, 2700),
    ]
    threads = [threading.Thread(target=at_once(call)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Then, whoever won, one effect (a retry may have been told to come back, never a 5xx)
    assert not [o for o in outcomes if isinstance(o, DomainError) and o.code != "request_in_progress"], outcomes
    assert not [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, DomainError)], outcomes
    assert_one_effect(world, payment_id, 2700)


def test_two_passes_at_once_settle_a_refund_once(world: World) -> None:
    paid = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=5000, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "req",
    )
    payment_id = paid["body"]["payment_id"]
    world.client.plan = [("POST", "/v1/refunds", "lost_answer"), ("GET", "/v1/refunds", "unreachable")]
    with pytest.raises(DomainError):
        world.service.refund(USER, payment_id, RefundRequest(amount=2000), uuid.uuid4().hex)
    world.client.plan = []
    world.clock.advance(MIN_AGE + 1)
    first, second = world.reconciler(), world.reconciler()
    run_meanwhile(first.providers["stripe"], "list_refunds", lambda: second.settle(USER, payment_id))
    first.settle(USER, payment_id)
    assert world.events(payment_id).count("RefundSucceeded") == 1
    entries, _ = world.deliver_everything(payment_id)
    assert sorted((e["type"], int(e["amount"])) for e in entries) == [("charge", 5000), ("refund", 2000)]


# --- the index ------------------------------------------------------------------------------------
def test_only_open_payments_are_in_the_index(world: World) -> None:
    paid = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=2500, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "req",
    )
    held = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=2500, currency="usd", payment_method="pm_card_visa", capture_method="manual"),
        uuid.uuid4().hex,
        "req",
    )
    indexed = set()
    for shard in range(open_items.OPEN_SHARDS):
        response = boto3.client("dynamodb").query(
            TableName="AppTable",
            IndexName=open_items.INDEX,
            KeyConditionExpression="recon_pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"OPEN#{shard}"}},
        )
        indexed |= {item["SK"]["S"].removeprefix("PAY#") for item in response["Items"]}
    assert held["body"]["payment_id"] in indexed
    assert paid["body"]["payment_id"] not in indexed


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:
        return error


# --- the daily report -----------------------------------------------------------------------------
def test_the_daily_report_over_mixed_operations_lists_exactly_the_one_discrepancy(world: World) -> None:
    from datetime import UTC, datetime

    from payments_core.reconciliation_report import DailyReport, as_csv, write_report

    # Given a span of mixed operations: a payment, a hold captured in part, a hold canceled, a decline,
    # partial and full refunds, a refund made on Stripe's dashboard (announced), each delivered to the
    # ledger and the receipts
    time.sleep(1.1)  # nothing of an earlier test in the same second at Stripe
    world.clock.now = start = float(int(time.time()))

    def pay(amount: int, **fields: Any) -> dict[str, Any]:
        request = CreatePaymentRequest(amount=amount, currency="usd", payment_method="pm_card_visa", **fields)
        body: dict[str, Any] = create(world.service, USER, request, uuid.uuid4().hex, "req")["body"]
        return body

    direct = pay(2500)
    held = pay(4000, capture_method="manual")
    world.service.capture(USER, held["payment_id"], CaptureRequest(amount=3000), uuid.uuid4().hex)
    canceled = pay(1500, capture_method="manual")
    world.service.cancel(USER, canceled["payment_id"], uuid.uuid4().hex)
    declined = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=1800, currency="usd", payment_method="pm_card_chargeCustomerFail"),
        uuid.uuid4().hex,
        "req",
    )
    assert declined["status"] == 402
    refunded = pay(6000)
    world.service.refund(USER, refunded["payment_id"], RefundRequest(amount=1000), uuid.uuid4().hex)
    world.service.refund(USER, refunded["payment_id"], RefundRequest(), uuid.uuid4().hex)
    dashboard = pay(3500)
    made = world.stripe.v1.refunds.create(params={"payment_intent": dashboard["provider_payment_id"], "amount": 700})
    world.webhooks.process(
        notice_of({"id": "evt_" + uuid.uuid4().hex, "type": "refund.created", "data": {"object": made.to_dict()}})
    )
    ids = [p["payment_id"] for p in (direct, held, canceled, refunded, dashboard)]
    for payment_id in ids:
        world.deliver_everything(payment_id)

    def report() -> dict[str, Any]:
        end = datetime.fromtimestamp(int(time.time()) + 1, UTC)
        return DailyReport(world.repository, LedgerRepository("AppTable"), world.gateway).build(
            datetime.fromtimestamp(start, UTC), end
        )

    # When the report runs over that span: the ledger, Stripe and the store agree
    clean = report()
    assert clean["mismatches"] == []
    usd = clean["totals"]["usd"]
    assert usd["ledger"] == usd["provider"] == {"charge": 2500 + 3000 + 6000 + 3500, "refund": 6000 + 700}
    assert usd["ledger_net"] == 2500 + 3000 + 3500 - 700

    # And when one refund is made on Stripe's dashboard and both its webhooks are dropped
    lost = world.stripe.v1.refunds.create(params={"payment_intent": direct["provider_payment_id"], "amount": 400})
    found = report()

    # Then the report lists exactly that one: money Stripe moved that the ledger does not show
    assert found["mismatches"] == [
        {
            "kind": "missing_in_ledger",
            "movement": f"refund:{lost.id}",
            "currency": "usd",
            "payment_id": direct["payment_id"],
            "ledger_amount": None,
            "provider_amount": 400,
            "store_amount": None,
            "detail": f"refund {lost.id}",
        }
    ]
    assert found["totals"]["usd"]["provider"]["refund"] - found["totals"]["usd"]["ledger"]["refund"] == 400
    # And it is written where an operator looks, as JSON and as CSV
    boto3.client("s3").create_bucket(Bucket="reports")
    keys = write_report(found, "reports")
    stored = json.loads(boto3.client("s3").get_object(Bucket="reports", Key=keys[0])["Body"].read())
    assert stored["mismatches"] == found["mismatches"]
    rows = [line for line in as_csv(found).splitlines() if line.startswith("mismatch,")]
    assert rows == [
        f"mismatch,{found['day']},usd,missing_in_ledger,refund:{lost.id},{direct['payment_id']},,400,,refund {lost.id}"
    ]


def test_the_daily_report_finds_a_ledger_entry_the_store_and_stripe_disagree_with(world: World) -> None:
    from datetime import UTC, datetime

    from payments_core.reconciliation_report import DailyReport

    # Given a payment whose ledger entry was written for the wrong amount
    time.sleep(1.1)
    world.clock.now = start = float(int(time.time()))
    body = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=2200, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "r",
    )["body"]
    kind, detail = next(e for e in world.outbox(body["payment_id"]) if e[0] == "PaymentSucceeded")
    detail.payment["amount_captured"] = 2000
    Ledger.on_table("AppTable").record(kind, detail)
    # When the report runs
    end = datetime.fromtimestamp(int(time.time()) + 1, UTC)
    found = DailyReport(world.repository, LedgerRepository("AppTable"), world.gateway).build(
        datetime.fromtimestamp(start, UTC), end
    )
    # Then that entry is listed against Stripe and against the store
    movement = f"charge:{body['payment_id']}"
    assert [
        (m["kind"], m["movement"], m["ledger_amount"], m["provider_amount"] or m["store_amount"])
        for m in found["mismatches"]
    ] == [
        ("amount_differs", movement, 2000, 2200),
        ("store_differs", movement, 2000, 2200),
    ]


# --- deferred webhooks ----------------------------------------------------------------------------
def test_a_deferred_webhook_still_unapplied_after_stripes_retries_is_counted_until_applied(world: World) -> None:
    from payments_core.reconciler import DEFERRED_ALERT_SECONDS

    # Given a paid payment and an event about it that cannot be applied while Stripe is unreachable
    body = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=2100, currency="usd", payment_method="pm_card_visa"),
        uuid.uuid4().hex,
        "r",
    )["body"]
    event = succeeded_event(body["provider_payment_id"])
    processor = WebhookProcessor(world.repository, world.gateway)
    for _ in range(2):  # Stripe delivers it twice, each answered "deliver again"
        world.client.plan = [("GET", f"/v1/payment_intents/{body['provider_payment_id']}", "unreachable")] * 3
        with pytest.raises(DomainError) as deferred:
            processor.process(notice_of(event))
        assert status_of(deferred.value) == 500
    world.client.plan = []
    stored = from_item(
        boto3.client("dynamodb").get_item(
            TableName="AppTable", Key={"PK": {"S": f"DEFERRED#{event['id']}"}, "SK": {"S": "DEFERRED"}}
        )["Item"]
    )
    assert (stored["event_type"], int(stored["deliveries"])) == ("payment_intent.succeeded", 2)
    # When passes run: within Stripe's 3 days of retries it is not counted, after them it is
    assert world.reconciler().deferred_unapplied() == 0
    world.clock.advance(DEFERRED_ALERT_SECONDS + 1)
    assert world.reconciler().run(lambda: 300_000).deferred_unapplied == 1
    # And once it is applied (resent from Stripe's dashboard), it is no longer counted
    # (it finds the payment already as Stripe holds it: nothing to change, and nothing left deferred)
    assert processor.process(notice_of(event)) == "unchanged"
    assert world.reconciler().deferred_unapplied() == 0


def test_a_look_that_changes_nothing_is_not_repeated_every_pass(world: World) -> None:
    # Given a hold Stripe still holds on its 7th day
    held = create(
        world.service,
        USER,
        CreatePaymentRequest(amount=3000, currency="usd", payment_method="pm_card_visa", capture_method="manual"),
        uuid.uuid4().hex,
        "req",
    )["body"]
    world.clock.advance(7 * 24 * 3600 + MIN_AGE)
    # When passes run: the first asks Stripe and changes nothing
    assert world.reconciler().settle(USER, held["payment_id"]) == "unchanged"
    world.client.seen.clear()
    # Then the next passes leave it alone until its wait (doubling) is over, and look again after it
    world.one_pass()
    assert not [call for call in world.client.seen if held["provider_payment_id"] in call]
    world.clock.advance(2 * MIN_AGE)
    assert world.reconciler().settle(USER, held["payment_id"]) == "unchanged"
    assert world.service.get(USER, held["payment_id"]).reconcile_looks == 2
    # And the payment's own changes are unaffected: a capture now settles it and it leaves the index
    world.service.capture(USER, held["payment_id"], CaptureRequest(), uuid.uuid4().hex)
    assert world.reconciler().settle(USER, held["payment_id"]) == "not_due"


def test_a_payment_that_fails_to_settle_waits_and_does_not_stop_the_pass(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two lost creates, the first of which the reconciler cannot settle (a bug, say)
    first, _ = world.lost_create(2500)
    second, _ = world.lost_create(2600)
    world.clock.advance(MIN_AGE + LEASE_SECONDS)
    reconciler = world.reconciler()
    settle = reconciler.settle

    def failing(user_id: str, payment_id: str) -> str:
        if payment_id == first:
            raise RuntimeError("injected")
        return settle(user_id, payment_id)

    monkeypatch.setattr(reconciler, "settle", failing)
    # When a pass runs: the other is settled, the failure counted, and the failing one waits
    summary = reconciler.run(lambda: 300_000)
    assert summary.outcomes.get("error") == 1
    assert world.status(second) == "succeeded"
    assert world.service.get(USER, first).reconcile_looks == 1
    assert world.reconciler().settle(USER, first) == "not_due"
