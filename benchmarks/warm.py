"""The warm path: per route, the handler's own CPU time per request, ours beside the lean lambdalith's.

Each route's request is first run once for real against the local stack (moto + the strict local
Stripe, in this process), with the state it needs prepared (a user, a hold to capture, a code to
verify, ...), while every HTTP exchange botocore and the Stripe SDK make is recorded (`Tape`). The
stack is then stopped and the same request is replayed many times: each AWS or Stripe call gets the
recorded answer, in order, with no socket and no server CPU, so what is measured is the handler's own
work (parsing, validation, our domain, the SDKs' serialisation and parsing). A replay that asks for
another call than the one recorded, leaves recorded calls unasked, or answers another status fails the
run: each measured request does the work the recorded one did.

Our side is the function's handler called as Lambda calls it (an API Gateway HTTP API payload 2.0
event with the authorizer's context, a Lambda context); the authorizer is measured on its own. The
peer (benchmarks/peer_lean.py) gets the same event through its Mangum handler and checks the bearer
token itself. CPU time is ``time.process_time_ns()`` around the call: FastAPI runs sync routes on a
worker thread, so the calling thread's clock alone would miss the peer's route; nothing else in the
process runs while measuring (the stack is stopped). Requests alternate ours / peer to share drift.
"""

from __future__ import annotations

import contextvars
import copy
import importlib
import json
import os
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

PEER_FUNCTION = "PeerLeanLambdalith"
# The contract's routes, in the order of the table.
ROUTES = [
    "GET /health", "POST /auth/signup", "POST /auth/signin", "POST /payments", "GET /payments/{payment_id}",
    "GET /payments", "POST /payments/{payment_id}/capture", "POST /payments/{payment_id}/cancel",
    "POST /payments/{payment_id}/refunds", "POST /payments/{payment_id}/otp", "POST /payments/{payment_id}/otp/verify",
    "GET /transactions", "POST /webhooks/stripe",
]  # fmt: skip


# --- record and replay ----------------------------------------------------------------------------
class ReplayMismatch(AssertionError):
    """A replayed request asked for another call than the recorded one (or for one more)."""


@dataclass
class Exchange:
    kind: str  # "aws" or "stripe"
    key: str  # what was asked: method, path, and the AWS operation
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Tape:
    exchanges: list[Exchange] = field(default_factory=list)
    replaying: bool = False
    position: int = 0

    def rewind(self) -> None:
        self.position = 0

    def next(self, kind: str, key: str) -> Exchange:
        if self.position >= len(self.exchanges):
            raise ReplayMismatch(f"call {self.position + 1} ({kind} {key}) was not recorded")
        exchange = self.exchanges[self.position]
        if (exchange.kind, exchange.key) != (kind, key):
            raise ReplayMismatch(f"call {self.position + 1}: recorded {exchange.kind} {exchange.key}, asked {key}")
        self.position += 1
        return exchange

    def finished(self) -> bool:
        return self.position == len(self.exchanges)


# The tape of the request running in this context (FastAPI's worker threads run in a copy of it);
# None: calls go to the network (the stack's own pollers, state preparation).
TAPE: contextvars.ContextVar[Tape | None] = contextvars.ContextVar("warm_tape", default=None)


class _Raw:
    """What botocore reads an answer's body from (``AWSResponse.raw``)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.body


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def aws_key(request: Any) -> str:
    """Method, path and operation: ``X-Amz-Target`` (JSON protocols) or the form's ``Action`` (query)."""
    operation = _text(request.headers.get("X-Amz-Target"))
    if not operation and request.body:
        body = request.body if isinstance(request.body, bytes | str) else b""
        operation = dict(parse_qsl(_text(body))).get("Action", "")
    return f"{request.method} {urlsplit(request.url).path} {operation}"


_ORIGINALS: dict[str, Any] = {}


def install() -> None:
    """Wraps botocore's and the Stripe SDK's HTTP sends: they record or replay when a tape is set."""
    if _ORIGINALS:
        return
    import botocore.awsrequest
    import botocore.httpsession
    import stripe
    from requests.structures import CaseInsensitiveDict

    send = botocore.httpsession.URLLib3Session.send

    def taped_send(session: Any, request: Any) -> Any:
        tape = TAPE.get()
        if tape is None:
            return send(session, request)
        key = aws_key(request)
        if tape.replaying:
            exchange = tape.next("aws", key)
            return botocore.awsrequest.AWSResponse(request.url, exchange.status, exchange.headers, _Raw(exchange.body))  # type: ignore[arg-type]
        response = send(session, request)
        body = response.content
        tape.exchanges.append(Exchange("aws", key, response.status_code, dict(response.headers.items()), body))
        return response

    from payments_core.payments.providers.stripe.http import Urllib3Client

    def taped_client(stripe_request: Any) -> Any:
        def taped_request(client: Any, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
            tape = TAPE.get()
            if tape is None:
                return stripe_request(client, method, url, headers, post_data)
            key = f"{method.upper()} {urlsplit(url).path}"
            if tape.replaying:
                exchange = tape.next("stripe", key)
                return exchange.body, exchange.status, CaseInsensitiveDict(exchange.headers)
            body, status, answer_headers = stripe_request(client, method, url, headers, post_data)
            tape.exchanges.append(Exchange("stripe", key, status, dict(answer_headers.items()), body))
            return body, status, answer_headers

        return taped_request

    # Ours calls Stripe through its urllib3 client (payments_core.payments.providers.stripe.http), the
    # peer through the SDK's RequestsClient: both are taped.
    _ORIGINALS.update(send=send, request=stripe.RequestsClient.request, urllib3_request=Urllib3Client.request)
    botocore.httpsession.URLLib3Session.send = taped_send  # type: ignore[method-assign,assignment]
    stripe.RequestsClient.request = taped_client(_ORIGINALS["request"])  # type: ignore[method-assign]
    Urllib3Client.request = taped_client(_ORIGINALS["urllib3_request"])  # type: ignore[method-assign]


def uninstall() -> None:
    import botocore.httpsession
    import stripe

    if _ORIGINALS:
        botocore.httpsession.URLLib3Session.send = _ORIGINALS.pop("send")  # type: ignore[method-assign]
        stripe.RequestsClient.request = _ORIGINALS.pop("request")  # type: ignore[method-assign]
        from payments_core.payments.providers.stripe.http import Urllib3Client

        Urllib3Client.request = _ORIGINALS.pop("urllib3_request")  # type: ignore[method-assign]


@contextmanager
def taped(tape: Tape) -> Iterator[Tape]:
    tape.rewind()
    token = TAPE.set(tape)
    try:
        yield tape
    finally:
        TAPE.reset(token)


# --- the requests ---------------------------------------------------------------------------------
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class Side:
    name: str
    handler: Handler
    function: str
    event: dict[str, Any]
    tape: Tape = field(default_factory=Tape)
    status: int = 0
    samples: list[int] = field(default_factory=list)


@dataclass
class Case:
    route: str
    ours: Side
    peer: Side | None  # None: the authorizer's own row


def http(
    route_key: str,
    path: str,
    *,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    from devstack.lambda_events import http_event

    method, _ = route_key.split(" ", 1)
    all_headers = {"content-type": "application/json", "user-agent": "bench", **(headers or {})}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return http_event(
        method,
        path,
        route_key=route_key,
        headers=all_headers,
        body=text,
        query=query,
        raw_query=urlencode(query or {}),
        path_parameters=params,
    )


def status_of(answer: Any) -> int:
    if isinstance(answer, dict) and "isAuthorized" in answer:  # the authorizer's verdict
        return 200 if answer["isAuthorized"] else 403
    return int(answer.get("statusCode", 0)) if isinstance(answer, dict) else 0


def body_of(answer: Any) -> Any:
    return json.loads(answer["body"]) if answer.get("body") else None


def replayed_header(answer: Any) -> bool:
    return any(name.lower() == "idempotent-replayed" for name in (answer.get("headers") or {}))


class Bench:
    """The stack, our handlers (one warm container each) and the peer, with helpers to prepare state."""

    def __init__(self, stack: Any) -> None:
        from devstack.lambda_events import LocalLambdaContext

        self.stack = stack
        self.context_of = LocalLambdaContext
        self.modules: dict[str, ModuleType] = {}
        self.peer: ModuleType = importlib.import_module("benchmarks.peer_lean")

    def handler(self, function: str) -> Handler:
        runtime = self.stack.runtimes[function]
        if function not in self.modules:
            self.modules[function] = runtime._new_container()
        handler: Handler = getattr(self.modules[function], runtime.spec.attribute)
        return handler

    def context(self, function: str) -> Any:
        return self.context_of(function_name=function, timeout_seconds=30)

    def call(self, side: Side) -> Any:
        return side.handler(copy.deepcopy(side.event), self.context(side.function))

    def ours(self, function: str, event: dict[str, Any]) -> Any:
        return self.handler(function)(copy.deepcopy(event), self.context(function))

    def authorized(self, event: dict[str, Any], token: str) -> dict[str, Any]:
        from devstack.lambda_events import authorizer_event

        verdict = self.ours("AuthorizerFunction", authorizer_event(event, [f"Bearer {token}"]))
        assert verdict.get("isAuthorized"), verdict
        event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
        return event

    def latest_code(self, email: str) -> str:
        for sent in reversed(self.stack.sent_emails()):
            if sent["to"] == email:
                found = re.search(r"\b(\d{6})\b", str(sent["body"]))
                if found and "code" in f"{sent['subject']} {sent['body']}".lower():
                    return found.group(1)
        raise AssertionError(f"no code was emailed to {email}")


@dataclass
class User:
    """One side's user and how to call that side's routes (ours: the route's function; the peer: its
    single handler), before measuring."""

    bench: Bench
    peer: bool
    email: str = ""
    token: str = ""

    def event(self, route_key: str, path: str, **kwargs: Any) -> dict[str, Any]:
        event = http(route_key, path, token=self.token or None, **kwargs)
        if self.token and not self.peer:
            event = self.bench.authorized(event, self.token)
        return event

    def side(self, route_key: str, path: str, **kwargs: Any) -> Side:
        from devstack.template import Template
        from tests.conftest import ROOT

        event = self.event(route_key, path, **kwargs)
        if self.peer:
            return Side("peer", self.bench.peer.handler, PEER_FUNCTION, event)
        function = next(
            r.function_id for r in Template(ROOT / "template.yaml").http_routes() if f"{r.method} {r.path}" == route_key
        )
        return Side("ours", self.bench.handler(function), function, event)

    def run(self, route_key: str, path: str, expected: int, **kwargs: Any) -> Any:
        side = self.side(route_key, path, **kwargs)
        answer = self.bench.call(side)
        assert status_of(answer) == expected, (route_key, answer)
        return body_of(answer)

    def signup(self) -> None:
        self.email = f"warm-{'peer' if self.peer else 'ours'}-{uuid.uuid4().hex[:8]}@example.com"
        credentials = {"email": self.email, "password": "a long enough password"}
        self.run("POST /auth/signup", "/auth/signup", 201, body=credentials)
        self.token = self.run("POST /auth/signin", "/auth/signin", 200, body=credentials)["access_token"]

    def pay(self, amount: int = 2500, capture_method: str = "automatic") -> dict[str, Any]:
        body = {"amount": amount, "currency": "usd", "payment_method": "pm_card_visa", "capture_method": capture_method}
        payment: dict[str, Any] = self.run(
            "POST /payments", "/payments", 201, body=body, headers={"idempotency-key": uuid.uuid4().hex}
        )
        return payment


def prepare(bench: Bench, user: User) -> dict[str, Side]:
    """The state each route's measured request needs, and the request itself, for one side."""
    key = {"idempotency-key": "warm-" + uuid.uuid4().hex}
    user.signup()
    for _ in range(5):
        user.pay()
    paid = user.pay()
    held = [user.pay(capture_method="manual") for _ in range(3)]
    user.run(
        "POST /payments/{payment_id}/refunds",
        f"/payments/{paid['payment_id']}/refunds",
        201,
        body={"amount": 300},
        params={"payment_id": paid["payment_id"]},
        headers={"idempotency-key": uuid.uuid4().hex},
    )
    coded = [user.pay(amount=60_000) for _ in range(2)]
    code = bench.latest_code(user.email)  # the code of the last payment needing one
    # The webhook: a hold captured on Stripe's side, not yet known here (the stack's own deliveries are off).
    intent = stripe_admin(bench).v1.payment_intents.capture(held[2]["provider_payment_id"])
    event = {
        "id": "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": intent.to_dict()},
    }
    from devstack.webhook_event import sign

    payload = json.dumps(event)
    credentials = {"email": user.email, "password": "a long enough password"}
    new_user = {"email": f"warm-new-{uuid.uuid4().hex[:8]}@example.com", "password": "a long enough password"}
    pid = paid["payment_id"]
    return {
        "GET /health": User(bench, user.peer).side("GET /health", "/health"),
        "POST /auth/signup": User(bench, user.peer).side("POST /auth/signup", "/auth/signup", body=new_user),
        "POST /auth/signin": User(bench, user.peer).side("POST /auth/signin", "/auth/signin", body=credentials),
        "POST /payments": user.side(
            "POST /payments",
            "/payments",
            body={"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa"},
            headers=key,
        ),
        "GET /payments/{payment_id}": user.side(
            "GET /payments/{payment_id}", f"/payments/{pid}", params={"payment_id": pid}
        ),
        "GET /payments": user.side("GET /payments", "/payments"),
        "POST /payments/{payment_id}/capture": user.side(
            "POST /payments/{payment_id}/capture",
            f"/payments/{held[0]['payment_id']}/capture",
            body={},
            params={"payment_id": held[0]["payment_id"]},
            headers=key,
        ),
        "POST /payments/{payment_id}/cancel": user.side(
            "POST /payments/{payment_id}/cancel",
            f"/payments/{held[1]['payment_id']}/cancel",
            params={"payment_id": held[1]["payment_id"]},
            headers=key,
        ),
        "POST /payments/{payment_id}/refunds": user.side(
            "POST /payments/{payment_id}/refunds",
            f"/payments/{pid}/refunds",
            body={"amount": 500, "reason": "requested_by_customer"},
            params={"payment_id": pid},
            headers=key,
        ),
        "POST /payments/{payment_id}/otp": user.side(
            "POST /payments/{payment_id}/otp",
            f"/payments/{coded[0]['payment_id']}/otp",
            params={"payment_id": coded[0]["payment_id"]},
        ),
        "POST /payments/{payment_id}/otp/verify": user.side(
            "POST /payments/{payment_id}/otp/verify",
            f"/payments/{coded[1]['payment_id']}/otp/verify",
            body={"code": code},
            params={"payment_id": coded[1]["payment_id"]},
        ),
        "GET /transactions": user.side("GET /transactions", "/transactions"),
        "POST /webhooks/stripe": User(bench, user.peer).side(
            "POST /webhooks/stripe",
            "/webhooks/stripe",
            raw_body=payload,
            headers={"stripe-signature": sign(payload, bench.stack.webhook_secret)},
        ),
    }


def stripe_admin(bench: Bench) -> Any:
    import stripe

    from payments_core.payments.providers.stripe.sdk import STRIPE_API_VERSION

    return stripe.StripeClient(
        os.environ["STRIPE_SECRET_KEY"],
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": bench.stack.stripe_url},
        http_client=stripe.RequestsClient(),
    )


def copy_ledger(bench: Bench, ours: User, peer_user_id: str) -> None:
    """The peer's ledger gets as many entries as ours holds (our ledger consumer writes them from the
    bus; the peer has no consumer): both GET /transactions read pages of the same length."""
    import boto3

    deadline = time.monotonic() + 60
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:  # 6 charges, 1 refund
        entries = ours.run("GET /transactions", "/transactions", 200)["items"]
        if len(entries) >= 7:
            break
        time.sleep(0.5)
    dynamodb = boto3.client("dynamodb")
    for entry in entries:
        item = {k: {"N": str(v)} if isinstance(v, int) else {"S": str(v)} for k, v in entry.items()}
        dynamodb.put_item(
            TableName=bench.peer.TABLE,
            Item={
                **item,
                "pk": {"S": f"LEDGER#{peer_user_id}"},
                "sk": {"S": f"{entry['created_at']}#{entry['transaction_id']}"},
            },
        )


def create_peer_table(name: str) -> None:
    import boto3

    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def record(bench: Bench, side: Side) -> None:
    side.tape = Tape()
    with taped(side.tape):
        answer = bench.call(side)
    side.status = status_of(answer)
    assert 200 <= side.status < 300, (side.function, answer)
    assert not replayed_header(answer), (side.function, "answered a replay when recorded")
    side.tape.replaying = True


def replay(bench: Bench, side: Side) -> int:
    """One replayed request; its CPU nanoseconds."""
    event = copy.deepcopy(side.event)
    context = bench.context(side.function)
    with taped(side.tape) as tape:
        started = time.process_time_ns()
        answer = side.handler(event, context)
        spent = time.process_time_ns() - started
    if status_of(answer) != side.status or replayed_header(answer) or not tape.finished():
        raise ReplayMismatch(
            f"{side.function}: answered {status_of(answer)} (recorded {side.status}), "
            f"{tape.position} of {len(tape.exchanges)} calls made: {answer}"
        )
    return spent


# --- the run --------------------------------------------------------------------------------------
def record_cases() -> tuple[Bench, list[Case]]:
    """Every route's request, prepared and recorded on both sides (the stack is stopped on return)."""
    from devstack.stack import LocalStack, StackConfig
    from tests.integration.conftest import free_port

    install()
    config = StackConfig(
        api_port=free_port(), moto_port=free_port(), stripe_port=free_port(), echo_emails=False, access_log=False
    )
    stack = LocalStack(config)
    stack.start()
    try:
        # Stripe's own deliveries would settle the webhook's payment before the measured event does.
        stack.runtimes["StripeWebhookFunction"].invoke = lambda _event: {"statusCode": 200, "body": "{}"}  # type: ignore[method-assign,assignment]
        os.environ.setdefault("PEER_TABLE_NAME", "PeerTable")
        os.environ["STRIPE_WEBHOOK_SECRET"] = stack.webhook_secret
        create_peer_table(os.environ["PEER_TABLE_NAME"])
        bench = Bench(stack)
        ours_user, peer_user = User(bench, peer=False), User(bench, peer=True)
        ours = prepare(bench, ours_user)
        peer = prepare(bench, peer_user)
        import jwt

        copy_ledger(bench, ours_user, jwt.decode(peer_user.token, options={"verify_signature": False})["sub"])
        cases = [Case(route, ours[route], peer[route]) for route in ours]
        authorizer_event = bench.authorized(
            http("GET /payments", "/payments", token=ours_user.token), ours_user.token
        )  # a request it authorizes
        from devstack.lambda_events import authorizer_event as authorizer_payload

        cases.append(
            Case(
                "authorizer (each protected request)",
                Side(
                    "ours",
                    bench.handler("AuthorizerFunction"),
                    "AuthorizerFunction",
                    authorizer_payload(authorizer_event, [f"Bearer {ours_user.token}"]),
                ),
                None,
            )
        )
        # The code and the webhook's signature go stale: those are recorded and measured first.
        cases.sort(key=lambda case: ("otp/verify" not in case.route, "webhooks" not in case.route))
        for case in cases:
            record(bench, case.ours)
            if case.peer is not None:
                record(bench, case.peer)
    finally:
        stack.stop()
    return bench, cases


def run_cases(requests: int = 200, warmup: int = 5) -> list[Case]:
    bench, cases = record_cases()
    for case in cases:
        sides = [case.ours] + ([case.peer] if case.peer is not None else [])
        for index in range(warmup + requests):
            for side in sides if index % 2 else reversed(sides):
                spent = replay(bench, side)
                if index >= warmup:
                    side.samples.append(spent)
    return cases


def percentile(samples: list[int], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] / 1e6


def rows(cases: list[Case]) -> list[dict[str, Any]]:
    table = []
    for case in cases:
        ours_p50 = statistics.median(case.ours.samples) / 1e6
        row: dict[str, Any] = {
            "route": case.route,
            "ours_p50_ms": round(ours_p50, 3),
            "ours_p99_ms": round(percentile(case.ours.samples, 0.99), 3),
            "peer_p50_ms": "",
            "peer_p99_ms": "",
            "ours/peer_p50": "",
            "calls_ours/peer": f"{len(case.ours.tape.exchanges)}/",
        }
        if case.peer is not None:
            peer_p50 = statistics.median(case.peer.samples) / 1e6
            row |= {
                "peer_p50_ms": round(peer_p50, 3),
                "peer_p99_ms": round(percentile(case.peer.samples, 0.99), 3),
                "ours/peer_p50": round(ours_p50 / peer_p50, 2),
                "calls_ours/peer": f"{len(case.ours.tape.exchanges)}/{len(case.peer.tape.exchanges)}",
            }
        table.append(row)
    return sorted(table, key=lambda r: ROUTES.index(r["route"]) if r["route"] in ROUTES else len(ROUTES))


def measure(requests: int = 200, warmup: int = 5) -> dict[str, Any]:
    from datetime import UTC, datetime

    cases = run_cases(requests, warmup)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"date": date, "requests": requests, "warmup": warmup, "routes": rows(cases)}


def measure_apart(requests: int = 200, warmup: int = 5) -> dict[str, Any]:
    """``measure`` in a fresh interpreter: the local stack it starts, the handlers it imports (their
    secrets and endpoints cached) and its taps stay out of the process that runs the other benchmarks."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "warm.json"
        command = [sys.executable, "-m", "benchmarks.warm", "--requests", str(requests), "--warmup", str(warmup)]
        subprocess.run([*command, "--out", str(out)], cwd=root, check=True, stdout=subprocess.DEVNULL)
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def profile(routes: list[str], requests: int) -> None:
    """The calls each chosen route makes, and where its CPU goes (ours and the peer's)."""
    import cProfile
    import pstats

    bench, cases = record_cases()
    for case in cases:
        if routes and case.route not in routes:
            continue
        for side in [case.ours] + ([case.peer] if case.peer is not None else []):
            print(f"\n=== {case.route} ({side.name}): {len(side.tape.exchanges)} calls")
            for exchange in side.tape.exchanges:
                print(f"    {exchange.kind} {exchange.key} -> {exchange.status}")
            for _ in range(5):
                replay(bench, side)
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                replay(bench, side)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("WARM_SORT", "cumulative"))
            stats.print_stats(int(os.environ.get("WARM_ROWS", "45")))


def main() -> None:
    import argparse
    from pathlib import Path

    from devstack.template import Template
    from tests.conftest import ROOT

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile", nargs="*", help="routes to profile (cProfile over --requests replays of ours)")
    args = parser.parse_args()
    Template(ROOT / "template.yaml").put_layers_on_path()
    if args.profile is not None:
        profile(args.profile, args.requests)
        return
    result = json.dumps(measure(args.requests, args.warmup), indent=2)
    if args.out:
        args.out.write_text(result + "\n")
    else:
        print(result)


if __name__ == "__main__":
    main()
