"""The payment state machine's reconciliation rules (tests/integration/test_properties.py mixes them
in): Stripe moves on without telling us (an answer lost, a webhook dropped), the reconciler runs, and
after a final pass every payment and refund agrees with Stripe and the ledger's total is the money
that moved there. Kept apart from the machine's other rules so each can grow on its own."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from payments_core import clock
from payments_core.api import status_of
from payments_core.dynamo import from_item
from payments_core.errors import DomainError
from payments_core.events import PaymentEventDetail
from payments_core.ledger import CREDITS, Ledger
from payments_core.payments import lifecycle
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.otp_repository import OtpCodeStore
from payments_core.payments.provider import Providers
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.service import PaymentService
from payments_core.reconciler import Reconciler
from tests.conftest import published_events
from tests.domain import build_payments, create
from tests.integration.test_faults import FaultyStripeClient

USER = "usr_props"  # the machine's user
SEVEN_DAYS_AND_MORE = 8 * 24 * 3600


class ReconcilerRules:
    """Rules and the final check; the machine provides ``repository``, ``service``, ``stripe``,
    ``ids`` and ``stripe_url``."""

    repository: Any
    service: PaymentService
    stripe: Any
    ids: list[str]
    stripe_url: str

    def _faulty(self) -> tuple[PaymentService, FaultyStripeClient]:
        if not hasattr(self, "_faulty_pair"):
            client = FaultyStripeClient()
            gateway = StripeGateway("sk_test_props", self.stripe_url, http_client=client)
            self._faulty_pair = (build_payments(self.repository, gateway, otp_threshold=10**8), client)
        return self._faulty_pair

    def _reconciler(self) -> Reconciler:
        # No minimum age here: every open item is due at once (the clock is not moved between steps).
        return Reconciler(
            self.repository,
            Providers.only(StripeGateway("sk_test_props", self.stripe_url)),
            OtpCodeStore("AppTable"),
            min_age_seconds=0,
        )

    # --- rules -------------------------------------------------------------------------------------
    @rule(amount=st.integers(min_value=50, max_value=5000), manual=st.booleans(), reached=st.booleans())
    def lose_an_answer(self, amount: int, manual: bool, reached: bool) -> None:
        """A create whose answer is lost (Stripe made the intent, or never got the request) and whose
        look-up fails too: the client got 503 and does not come back; Stripe's webhook is dropped."""
        service, client = self._faulty()
        client.plan = [
            ("POST", "/v1/payment_intents", "lost_answer" if reached else "unreachable"),
            ("GET", "/v1/payment_intents", "unreachable"),
        ]
        request = CreatePaymentRequest(
            amount=amount,
            currency="usd",
            payment_method="pm_card_visa",
            capture_method="manual" if manual else "automatic",
        )
        key = uuid.uuid4().hex
        try:
            create(service, USER, request, key, "req")
        except DomainError as error:
            assert status_of(error) == 503
        client.plan = []
        from payments_core.payments.transitions import operation_id

        self.ids.append(operation_id("pay", USER, key))

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), amount=st.integers(min_value=1, max_value=3000))
    def lose_a_refund_answer(self, data: st.DataObject, amount: int) -> None:
        """A refund Stripe made whose answer was lost, its look-up failing and its webhook dropped."""
        payment = self.service.get(USER, data.draw(st.sampled_from(self.ids)))
        if (
            payment.status not in lifecycle.MONEY_MOVED
            or payment.amount_captured - payment.amount_reserved < amount
            or payment.dispute is not None  # refused (payment_disputed) before Stripe is asked: no answer to lose
        ):
            return
        service, client = self._faulty()
        client.plan = [("POST", "/v1/refunds", "lost_answer"), ("GET", "/v1/refunds", "unreachable")]
        try:
            service.refund(USER, payment.payment_id, RefundRequest(amount=amount), uuid.uuid4().hex)
        except DomainError as error:
            assert status_of(error) == 503
        client.plan = []

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def drop_a_webhook(self, data: st.DataObject) -> None:
        """Stripe releases a hold (its 7 days passed) and its payment_intent.canceled never arrives."""
        payment = self.service.get(USER, data.draw(st.sampled_from(self.ids)))
        if payment.status != "requires_capture" or not payment.provider_payment_id:
            return
        if self.stripe.v1.payment_intents.retrieve(payment.provider_payment_id).status != "requires_capture":
            return  # released already (an earlier drop): ours still holds it until the reconciler runs
        self.stripe.v1.payment_intents.cancel(payment.provider_payment_id)

    @rule()
    def run_the_reconciler(self) -> None:
        summary = self._reconciler().run(lambda: 300_000, reserve_ms=0)
        assert "error" not in summary.outcomes, summary.outcomes

    # --- the final pass ----------------------------------------------------------------------------
    def reconcile_finally(self) -> None:
        """A pass once every hold's 7 days have passed too; then ours is Stripe's, and the ledger (fed
        every event) holds, in total, the money that moved at Stripe."""
        real_epoch, real_now = clock.epoch_seconds, clock.now
        later = real_epoch() + SEVEN_DAYS_AND_MORE
        clock.epoch_seconds = lambda: later
        clock.now = lambda: clock.from_epoch(later)
        try:
            for _ in range(2):  # a payment settled by the first may have pending refunds for the second
                self.run_the_reconciler()
        finally:
            clock.epoch_seconds, clock.now = real_epoch, real_now
        moved = 0
        gateway = StripeGateway("sk_test_props", self.stripe_url)
        for payment_id in self.ids:
            payment = self.service.get(USER, payment_id)
            if payment.provider_payment_id is None:
                assert payment.status == "failed", (payment_id, payment.status)  # never reached Stripe
                continue
            intent = gateway.retrieve_intent(payment.provider_payment_id)
            expected = None if intent.status == "pending" else intent.status
            if expected == "succeeded":
                assert payment.status in lifecycle.MONEY_MOVED, (payment_id, payment.status, intent.status)
                assert payment.amount_captured == intent.amount_received
            else:
                assert payment.status == expected, (payment_id, payment.status, intent.status)
            theirs = gateway.list_refunds(intent.id)
            for refund in payment.refunds.values():
                match = [r for r in theirs if r.id == refund.provider_refund_id]
                assert match, (payment_id, refund.refund_id, "not at Stripe")
                assert refund.status == {"succeeded": "succeeded"}.get(match[0].status, match[0].status)
            assert payment.amount_refunded == sum(r.amount for r in theirs if r.status == "succeeded")
            moved += intent.amount_received - payment.amount_refunded
            if payment.dispute is not None:  # a chargeback took money back, a won dispute returned it
                dispute = gateway.retrieve_dispute(payment.dispute.dispute_id)
                moved += dispute.reinstated - dispute.withdrawn
        assert self._ledger_total() == moved

    def _ledger_total(self) -> int:
        client = boto3.client("dynamodb")
        ledger = Ledger.on_table("AppTable")
        for kind, published in published_events(client):
            ledger.record(kind, PaymentEventDetail.model_validate(published))
        entries = [from_item(x) for x in client.scan(TableName="AppTable")["Items"]]
        return sum(
            int(e["amount"]) if e["type"] in CREDITS else -int(e["amount"])
            for e in entries
            if str(e["SK"]).startswith("TXN#")
        )
