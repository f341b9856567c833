"""The fast suite: the payments domain on in-memory doubles and a provider that is not Stripe. No
network, no moto, no local stack: `make test-fast` answers in seconds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from payments_core import clock
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.models import Payment
from payments_core.payments.otp import OtpService
from payments_core.payments.provider import Providers
from payments_core.payments.service import PaymentService
from payments_core.payments.webhook import WebhookProcessor
from tests.fast.fakes import FakePay, InMemoryCodes, InMemoryPayments, Mailbox, fakepay_notice

USER = "usr_fast"
OTP_THRESHOLD = 50_000


@dataclass
class Domain:
    """The real domain wired to its doubles, as ``payments.wiring`` wires it to DynamoDB and Stripe."""

    store: InMemoryPayments
    provider: FakePay
    codes: InMemoryCodes
    mailbox: Mailbox
    service: PaymentService
    webhooks: WebhookProcessor
    now: list[int]

    def pay(self, amount: int = 2500, method: str = "fp_ok", **fields: object) -> Payment:
        request = CreatePaymentRequest.model_validate(
            {"amount": amount, "currency": "usd", "payment_method": method, **fields}
        )
        return self.service.create(USER, request, uuid.uuid4().hex)

    def deliver(self, event_id: str, kind: str, intent_id: str) -> str:
        """A FakePay webhook delivery: verified and read by FakePay's own code, applied by the domain's."""
        return self.webhooks.process(fakepay_notice(*self.provider.event(event_id, kind, intent_id)))

    def stored(self, payment_id: str) -> Payment:
        found = self.store.get(USER, payment_id)
        assert found is not None
        return found


@pytest.fixture
def domain(monkeypatch: pytest.MonkeyPatch) -> Domain:
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    store, provider, codes, mailbox = InMemoryPayments(), FakePay(), InMemoryCodes(), Mailbox()
    otp = OtpService(codes, pepper="fast-pepper", mailer=mailbox)
    service = PaymentService(store, Providers.only(provider), lambda: otp, OTP_THRESHOLD)
    return Domain(store, provider, codes, mailbox, service, WebhookProcessor(store, provider), now)
