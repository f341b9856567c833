"""The end-to-end suite: `make dev`'s own local stack, started once per session as a subprocess on
free ports, driven over HTTP with a real client."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml

from payments_core import clock
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from payments_core.payment_outcomes import payment_outcome
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.models import Payment, Refund
from payments_core.payments.otp import OtpService
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.repository import PaymentRepository
from payments_core.payments.service import PaymentService
from tests.conftest import ROOT
from tests.domain import build_payments, create, otp_service


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningStack:
    api_url: str
    moto_url: str
    stripe_url: str
    webhook_secret: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.moto_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def outbox(self) -> list[dict[str, Any]]:
        """Every event the stack's payment writes carried, from the table's stream (as the relay reads it)."""
        from tests.conftest import published_events

        events = published_events(self.client("dynamodb"), self.client("dynamodbstreams"))
        return [{"detail_type": kind, "detail": detail} for kind, detail in events]

    def events_for(self, payment_id: str) -> list[str]:
        return sorted(
            item["detail_type"] for item in self.outbox() if item["detail"]["payment"]["payment_id"] == payment_id
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_stack(log_path: Path, extra_env: dict[str, str] | None = None, template: Path | None = None) -> RunningStack:
    ports = {name: free_port() for name in ("DEV_API_PORT", "DEV_MOTO_PORT", "DEV_STRIPE_PORT")}
    secret = "whsec_" + secrets.token_hex(24)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "JWT_"))},
        **{name: str(port) for name, port in ports.items()},
        "DEV_STRIPE_WEBHOOK_SECRET": secret,
        "PYTHONUNBUFFERED": "1",
        "DEV_LOG": "json",  # every handler line, for the scans of what the stack logged
        # Scheduled functions (the reconciler) stay off unless a test turns them on: a pass in the
        # middle of another test would settle what that test is looking at.
        "DEV_SCHEDULE_SECONDS": "0",
        **(extra_env or {}),
    }
    if template is not None:
        env["DEV_TEMPLATE"] = str(template)
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while "ready in" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("local stack did not start:\n" + log_path.read_text(errors="replace"))
        time.sleep(0.1)
    return RunningStack(
        api_url=f"http://127.0.0.1:{ports['DEV_API_PORT']}",
        moto_url=f"http://127.0.0.1:{ports['DEV_MOTO_PORT']}",
        stripe_url=f"http://127.0.0.1:{ports['DEV_STRIPE_PORT']}",
        webhook_secret=secret,
        log_path=log_path,
        process=process,
    )


def stop_stack(stack: RunningStack) -> int:
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stack.process.kill()  # never leave a stack behind, even when the test fails
        stack.process.wait(timeout=10)
        raise


# Refusals by the strict Stripe that our own validation should have made first (a 422 of ours, or no
# call at all): a request of ours refused for one of these is a bug, whatever the test asserted.
OUR_VALIDATION_SHOULD_HAVE_CAUGHT = frozenset(
    {
        "parameter_unknown",
        "payment_method_types_no_longer_supported",
        "idempotency_error",
        "amount_too_small",
        "invalid_charge_amount",
        "amount_too_large",
        "charge_already_refunded",
    }
)
# Sent by tests that provoke a refusal on purpose; our code never sends it.
PROBE = {"X-Strict-Probe": "1"}
# Refusals of requests our code makes that a test provokes on purpose (see expect_refusal).
EXPECTED_REFUSALS: list[dict[str, Any]] = []


def expect_refusal(code: str, path: str, **params: str) -> None:
    """Declares that the strict Stripe will refuse, with ``code``, one request our code makes to ``path``
    with these form parameters, for a reason our validation could not know (e.g. our refund racing one
    made on Stripe's dashboard): the session's final check lets that one pass."""
    EXPECTED_REFUSALS.append({"code": code, "path": path, "params": params})


def _expected(request: dict[str, Any], code: str | None, pending: list[dict[str, Any]]) -> bool:
    sent = {str(k): str(v) for k, v in request["params"]}
    for expectation in pending:
        if (
            expectation["code"] == code
            and expectation["path"] == request["path"]
            and all(sent.get(k) == v for k, v in expectation["params"].items())
        ):
            pending.remove(expectation)
            return True
    return False


def refused_for_our_reasons(stripe_url: str) -> list[dict[str, Any]]:
    """Requests the strict Stripe refused for a reason our validation should have caught, except probes."""
    answer = requests.get(f"{stripe_url}/_strict/requests", timeout=30)
    if answer.status_code != 200:  # DEV_STRICT_STRIPE=0: localstripe itself, nothing to read
        return []
    pending = list(EXPECTED_REFUSALS)
    refused = []
    for request in answer.json()["data"]:
        code = (request["error"] or {}).get("code") or (request["error"] or {}).get("type")
        if request["refused_by"] != "strict" or request["probe"] or code not in OUR_VALIDATION_SHOULD_HAVE_CAUGHT:
            continue
        if not _expected(request, code, pending):
            refused.append(request)
    return refused


STACK_LOG_LINES = 200
_LOG_START = pytest.StashKey[int]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None]:
    """Notes where the session's stack log stood when a test that uses the stack began."""
    running = getattr(item, "funcargs", {}).get("stack")
    if isinstance(running, RunningStack) and running.log_path.exists():
        item.stash[_LOG_START] = running.log_path.stat().st_size
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the stack shows what the stack logged while it ran (its last
    ``STACK_LOG_LINES`` lines): a webhook that never arrived or a call that failed says why there, and
    CI keeps no other copy. The log holds nothing secret (the session's log hygiene check)."""
    report: pytest.TestReport = yield
    running = getattr(item, "funcargs", {}).get("stack")
    if report.failed and call.when == "call" and isinstance(running, RunningStack) and _LOG_START in item.stash:
        with running.log_path.open("rb") as log:
            log.seek(item.stash[_LOG_START])
            lines = log.read().decode(errors="replace").splitlines()[-STACK_LOG_LINES:]
        report.sections.append(("local stack log during the test", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    from tests.integration.log_hygiene import leaks

    running = start_stack(tmp_path_factory.mktemp("stack") / "dev.log")
    yield running
    try:
        refused = refused_for_our_reasons(running.stripe_url)
        outbox = running.outbox()
    finally:
        stop_stack(running)
    # Once every test that used the stack has run, whatever their order: everything it logged is scanned.
    leaked = leaks(running.log(), webhook_secret=running.webhook_secret, outbox=outbox)
    assert not refused, "the strict Stripe refused requests our own validation should have caught:\n" + "\n".join(
        f"{r['method']} {r['path']} -> {r['status']} {r['error']} params={r['params']}" for r in refused
    )
    assert not leaked, f"the local stack logged what no log may hold ({running.log_path}):\n" + "\n".join(leaked)


@dataclass
class ApiClient:
    """A signed-up, signed-in user of the local API."""

    base: str
    token: str = ""
    email: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        auth: bool = True,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = dict(headers or {})
        if auth and self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if key is not None:
            sent["Idempotency-Key"] = key
        return self.session.request(method, self.base + path, json=body, headers=sent, timeout=60)

    def pay(self, amount: int = 2500, *, key: str | None = None, **fields: Any) -> requests.Response:
        body = {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", **fields}
        return self.call("POST", "/payments", body, key=key or uuid.uuid4().hex)

    def refund(self, payment_id: str, amount: int | None = None, *, key: str | None = None) -> requests.Response:
        body: dict[str, int] = {} if amount is None else {"amount": amount}
        return self.call("POST", f"/payments/{payment_id}/refunds", body, key=key or uuid.uuid4().hex)


def new_user(base: str) -> ApiClient:
    client = ApiClient(base)
    client.email = f"user-{uuid.uuid4().hex[:12]}@example.com"
    password = "a long enough password"
    assert client.call("POST", "/auth/signup", {"email": client.email, "password": password}).status_code == 201
    response = client.call("POST", "/auth/signin", {"email": client.email, "password": password})
    assert response.status_code == 200, response.text
    client.token = response.json()["access_token"]
    return client


@pytest.fixture
def user(stack: RunningStack) -> ApiClient:
    return new_user(stack.api_url)


@contextlib.contextmanager
def template_copy(change: Callable[[dict[str, Any]], None]) -> Iterator[Path]:
    """A changed copy of template.yaml, beside it so CodeUri paths still resolve; removed afterwards."""
    body = yaml.safe_load((ROOT / "template.yaml").read_text().replace("!", "__bang__"))
    change(body)
    copy = ROOT / f".template-test-{uuid.uuid4().hex[:8]}.yaml"
    copy.write_text(yaml.safe_dump(body, sort_keys=False).replace("__bang__", "!"))
    try:
        yield copy
    finally:
        copy.unlink()


def wait_for(condition: Callable[[], Any], seconds: float = 30, message: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.2)


def outcome_of(call: Callable[[], Any]) -> Any:
    """What ``call`` returns, or the client error it raises."""
    from payments_core.errors import DomainError

    try:
        return call()
    except DomainError as error:
        return error


def run_meanwhile(target: Any, name: str, meanwhile: Callable[[], Any], *, before: bool = False) -> list[Any]:
    """Wraps ``target.name`` so that ``meanwhile`` runs once, right after its first call returns (or
    just before it starts); the returned list then holds what ``meanwhile`` returned or raised."""
    original = getattr(target, name)
    seen: list[Any] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        first = not seen
        if first:
            seen.append(None)
        if first and before:
            seen[0] = outcome_of(meanwhile)
        result = original(*args, **kwargs)
        if first and not before:
            seen[0] = outcome_of(meanwhile)
        return result

    setattr(target, name, wrapped)
    return seen


def user_id_of(client: ApiClient) -> str:
    import jwt

    return str(jwt.decode(client.token, options={"verify_signature": False})["sub"])


def store_refunds(stack: RunningStack, user_id: str, payment_id: str, refunds: list[Refund]) -> None:
    """Writes refunds onto a stored payment as refund requests would have left them (a faster way to
    reach a state than as many requests, or one localstripe cannot make: a refund still pending)."""
    dynamodb = stack.client("dynamodb")
    key = {"PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"PAY#{payment_id}"}}
    item = dynamodb.get_item(TableName="AppTable", Key=key, ConsistentRead=True)["Item"]
    payment = Payment.model_validate_json(item["doc"]["S"])
    for refund in refunds:
        payment.refunds[refund.refund_id] = refund
        payment.amount_reserved += refund.amount if refund.status != "failed" else 0
        payment.amount_refunded += refund.amount if refund.status == "succeeded" else 0
    if payment.amount_refunded:
        payment.status = "refunded" if payment.amount_refunded == payment.amount_captured else "partially_refunded"
    payment.version += 1
    dynamodb.put_item(
        TableName="AppTable",
        Item={
            **item,
            "doc": {"S": payment.model_dump_json()},
            "status": {"S": payment.status},
            "version": {"N": str(payment.version)},
        },
    )


OTP_PEPPER = "pepper-for-tests-only-0123456789abcdef"


@dataclass
class InProcessOtp:
    """The payment and one-time-code services in this process (on the ``aws`` fixture's moto and the
    stack's localstripe), for a user with a profile, on a clock the test moves (``now[0]``)."""

    payments: PaymentService
    otp: OtpService
    user_id: str
    now: list[int]

    def create(self, amount: int = 60_000) -> str:
        request = CreatePaymentRequest(amount=amount, currency="usd", payment_method="pm_card_visa")
        return str(create(self.payments, self.user_id, request, uuid.uuid4().hex, "req")["body"]["payment_id"])

    def get(self, payment_id: str) -> Payment:
        return self.payments.get(self.user_id, payment_id)

    def verify(self, payment_id: str, code: str) -> Any:
        return payment_outcome(self.payments.verify_code(self.get(payment_id), code), 200, "req")

    def status(self, payment_id: str) -> str:
        return self.get(payment_id).status


@pytest.fixture
def otp_services(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> InProcessOtp:
    boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
    user_id = f"usr_{uuid.uuid4().hex[:12]}"
    dynamodb_client().put_item(
        TableName="AppTable",
        Item=to_item({"PK": f"USER#{user_id}", "SK": "PROFILE", "user_id": user_id, "email": "otp@example.com"}),
    )
    otp = otp_service(pepper=OTP_PEPPER)
    payments = build_payments(
        PaymentRepository("AppTable"), StripeGateway("sk_test_otp", stack.stripe_url), 50_000, otp=otp
    )
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    return InProcessOtp(payments, otp, user_id, now)


def last_code() -> str:
    """The code in the last email moto's SES (in this process) sent."""
    from moto.ses.models import ses_backends

    body = ses_backends["123456789012"]["us-east-1"].sent_messages[-1].body
    match = re.search(r"Your code is (\d{6})", body)
    assert match
    return match.group(1)
