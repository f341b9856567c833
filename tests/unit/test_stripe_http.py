"""The Stripe SDK's HTTP layer (payments_core.payments.providers.stripe.http.Urllib3Client) against a
local server standing in for Stripe: what a payment call does when Stripe answers 5xx, 4xx, too late
or not at all, under the SDK's retry rules (one network retry, the same idempotency key), and through
the environment's proxy."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from payments_core.payments.provider import ProviderFailed, ProviderRefused, ProviderUnavailable
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.providers.stripe.http import Urllib3Client

INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "succeeded",
    "amount": 2500,
    "amount_received": 2500,
    "currency": "usd",
    "metadata": {},
}


class FakeStripe(ThreadingHTTPServer):
    """Answers each request with the next planned answer: a status code, or "slow" (no answer for
    longer than the client's read timeout); then 200 with an intent. Records what it was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.plan: list[int | str] = []
        self.seen: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeStripe

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.server.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = self.server.plan.pop(0) if self.server.plan else 200
        if answer == "slow":
            time.sleep(1.0)
            return
        status = int(answer)
        payload = INTENT if status == 200 else {"error": {"type": "api_error", "message": "injected"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST


@pytest.fixture
def stripe_server() -> Iterator[FakeStripe]:
    server = FakeStripe()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_without_backoff() -> Urllib3Client:
    client = Urllib3Client(timeout=(0.5, 0.3))
    client._sleep_time_seconds = lambda _: 0.0  # type: ignore[method-assign,assignment]  # the SDK's backoff: not slept here
    return client


def capture(api_base: str, client: Urllib3Client) -> Any:
    return StripeGateway("sk_test_http", api_base, http_client=client).capture("pi_1", None, "pay_1-capture")


def test_a_5xx_is_retried_once_with_the_same_idempotency_key(stripe_server: FakeStripe) -> None:
    stripe_server.plan = [503]
    intent = capture(stripe_server.url, client_without_backoff())
    assert intent.id == "pi_1"
    assert [seen["path"] for seen in stripe_server.seen] == ["/v1/payment_intents/pi_1/capture"] * 2
    assert {seen["headers"]["Idempotency-Key"] for seen in stripe_server.seen} == {"pay_1-capture"}


def test_a_5xx_twice_is_a_provider_failure_after_one_retry(stripe_server: FakeStripe) -> None:
    stripe_server.plan = [500, 500]
    with pytest.raises(ProviderFailed):
        capture(stripe_server.url, client_without_backoff())
    assert len(stripe_server.seen) == 2


def test_a_4xx_is_not_retried(stripe_server: FakeStripe) -> None:
    stripe_server.plan = [400]
    with pytest.raises(ProviderRefused):
        capture(stripe_server.url, client_without_backoff())
    assert len(stripe_server.seen) == 1


def test_an_answer_that_never_comes_is_retried_then_unavailable(stripe_server: FakeStripe) -> None:
    stripe_server.plan = ["slow", "slow"]
    started = time.perf_counter()
    with pytest.raises(ProviderUnavailable):
        capture(stripe_server.url, client_without_backoff())
    assert len(stripe_server.seen) == 2
    assert time.perf_counter() - started < 2.0  # two read timeouts of 0.3 s, not the server's 1 s each


def test_a_slow_answer_then_an_answer_succeeds(stripe_server: FakeStripe) -> None:
    stripe_server.plan = ["slow"]
    assert capture(stripe_server.url, client_without_backoff()).id == "pi_1"
    assert len(stripe_server.seen) == 2


def test_no_connection_is_retried_then_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = client_without_backoff()
    tries: list[str] = []
    request = client.request

    def counted(*args: Any, **kwargs: Any) -> Any:
        tries.append(args[1])
        return request(*args, **kwargs)

    client.request = counted  # type: ignore[method-assign]
    with pytest.raises(ProviderUnavailable):
        capture(f"http://127.0.0.1:{port}", client)
    assert len(tries) == 2


def test_a_payment_creation_is_never_retried_by_the_sdk(stripe_server: FakeStripe) -> None:
    # (a retry after a lost answer goes through find_intent first: the payment service's rule)
    stripe_server.plan = [503]
    gateway = StripeGateway("sk_test_http", stripe_server.url, http_client=client_without_backoff())
    with pytest.raises(ProviderFailed):
        gateway.create_intent(
            amount=2500,
            currency="usd",
            payment_method="pm_card_visa",
            capture_method="automatic",
            description=None,
            metadata={},
            idempotency_key="pay_1-create",
        )
    assert len(stripe_server.seen) == 1


def test_the_environments_proxy_is_used(stripe_server: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a proxy in the environment, as requests honoured it
    monkeypatch.setenv("HTTP_PROXY", stripe_server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # When a call goes to Stripe's address
    capture("http://api.stripe.invalid", client_without_backoff())
    # Then it went through the proxy (which is asked for the absolute address)
    assert stripe_server.seen[0]["path"] == "http://api.stripe.invalid/v1/payment_intents/pi_1/capture"


def test_no_proxy_is_honoured(stripe_server: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert capture(stripe_server.url, client_without_backoff()).id == "pi_1"
    assert stripe_server.seen[0]["path"] == "/v1/payment_intents/pi_1/capture"


# --- reading an intent (every webhook delivery, every reconciler look) ---------------------------------
def gateway(api_base: str) -> StripeGateway:
    return StripeGateway("sk_test_http", api_base, http_client=client_without_backoff())


def test_an_intent_is_read_as_the_sdk_reads_it_without_building_the_sdks_objects(
    stripe_server: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stripe import _api_requestor

    from payments_core.payments.providers.stripe.sdk import STRIPE_API_VERSION

    reference = StripeGateway._intent(gateway(stripe_server.url).client.v1.payment_intents.retrieve("pi_1"))

    def no_objects(*_: Any, **__: Any) -> Any:
        raise AssertionError("the SDK's StripeObject tree was built")

    monkeypatch.setattr(_api_requestor, "_convert_to_stripe_object", no_objects)
    stripe_server.plan = [503]  # and retried once, as the SDK's own retrieve is
    assert gateway(stripe_server.url).retrieve_intent("pi_1") == reference
    (first, _, retried) = stripe_server.seen
    assert retried["path"] == first["path"] == "/v1/payment_intents/pi_1"
    assert retried["headers"]["Stripe-Version"] == STRIPE_API_VERSION
    assert retried["headers"]["Authorization"] == "Bearer sk_test_http"


def test_an_intent_id_cannot_reach_another_path_and_an_unknown_one_is_rejected(stripe_server: FakeStripe) -> None:
    from payments_core.payments.provider import ProviderRejected

    stripe_server.plan = [404]
    with pytest.raises(ProviderRejected):
        gateway(stripe_server.url).retrieve_intent("pi_1/capture")
    assert [seen["path"] for seen in stripe_server.seen] == ["/v1/payment_intents/pi_1%2Fcapture"]


# --- looking for the intent a lost create made (a client's retry, the reconciler) ------------------------
class IntentList(ThreadingHTTPServer):
    """``GET /v1/payment_intents`` of an account holding ``count`` intents, newest first, the one made
    for ``pay_ours`` (if any) at ``ours_at`` from the newest; records each query. Its search
    (``/v1/payment_intents/search``) answers ``search`` (a status, or "index" to search the intents by
    the metadata the query names); None: as the list does (a 404)."""

    daemon_threads = True

    def __init__(self, count: int, ours_at: int | None, search: int | str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), ListHandler)
        self.intents = [
            {**INTENT, "id": f"pi_{n:05d}", "metadata": {"payment_id": "pay_ours" if n == ours_at else f"pay_{n}"}}
            for n in range(count)
        ]
        self.search = search
        self.queries: list[dict[str, list[str]]] = []
        self.searches: list[dict[str, list[str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class ListHandler(BaseHTTPRequestHandler):
    server: IntentList

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        from urllib.parse import parse_qs, urlsplit

        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/v1/payment_intents/search":
            self.search(query)
            return
        self.server.queries.append(query)
        ids = [intent["id"] for intent in self.server.intents]
        start = ids.index(query["starting_after"][0]) + 1 if "starting_after" in query else 0
        limit = int(query["limit"][0])
        page = self.server.intents[start : start + limit]
        self.answer(
            200, {"object": "list", "url": "/v1/payment_intents", "data": page, "has_more": start + limit < len(ids)}
        )

    def search(self, query: dict[str, list[str]]) -> None:
        self.server.searches.append(query)
        if self.server.search != "index":
            error = {"type": "invalid_request_error", "message": "Unrecognized request URL"}
            self.answer(int(self.server.search or 404), {"error": error})
            return
        wanted = re.fullmatch(r"metadata\['payment_id'\]:'([^']*)'", query["query"][0])
        assert wanted is not None, query
        found = [i for i in self.server.intents if i["metadata"] == {"payment_id": wanted.group(1)}]
        self.answer(200, {"object": "search_result", "url": "/v1/payment_intents/search", "data": found,
                          "has_more": False, "next_page": None})  # fmt: skip

    def answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def intent_list(request: pytest.FixtureRequest) -> Iterator[IntentList]:
    server = IntentList(*request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("intent_list", "found", "pages"),
    [((250, 230), "pi_00230", 3), ((250, None), None, 3), ((1000, 999), "pi_00999", 10)],
    indirect=["intent_list"],
)
def test_the_intent_a_lost_create_made_is_found_among_those_made_since_its_payment(
    intent_list: IntentList, found: str | None, pages: int
) -> None:
    # When the intent made for a payment created at 1_800_000_000 is looked for
    intent = gateway(intent_list.url).find_intent("pay_ours", created_since=1_800_000_000)
    # Then it is found (or there is none) by paging newest first through the intents made since the
    # payment, less five minutes of the clocks' skew
    assert (intent.id if intent else None) == found
    assert len(intent_list.queries) == pages
    assert all(query["created[gte]"] == ["1799999700"] for query in intent_list.queries)


@pytest.mark.parametrize(
    "intent_list",
    [(1001, 1000), (5000, None), (1001, 1000, 400), (1001, 1000, 500), (5000, None, "index")],
    indirect=True,
)
def test_past_the_pages_one_lookup_reads_the_answer_is_unknown_not_none(intent_list: IntentList) -> None:
    from payments_core.payments.provider import IntentLookupIncomplete

    # Given more intents made since the payment than ten pages of 100 hold (the one made for it, if
    # any, beyond them), and a search that finds none (it lags writes) or is refused (not offered in
    # every country)
    # When the intent is looked for, then the answer is "unknown": a payment is never failed as never
    # having reached the provider while an intent for it may exist
    with pytest.raises(IntentLookupIncomplete):
        gateway(intent_list.url).find_intent("pay_ours", created_since=1_800_000_000)
    assert len(intent_list.queries) == 10
    assert intent_list.searches  # (a 500 is tried again, as the SDK's network retries do)
    assert {q["query"][0] for q in intent_list.searches} == {"metadata['payment_id']:'pay_ours'"}


@pytest.mark.parametrize("intent_list", [(5000, 4321, "index")], indirect=True)
def test_past_the_pages_one_lookup_reads_stripes_search_finds_the_intent(intent_list: IntentList) -> None:
    # Given an intent made for the payment beyond ten pages of those made since it
    # When it is looked for, then the list's ten pages are read and then one search by our metadata
    # finds it (a payment that would otherwise stay unknown at every reconciler pass)
    intent = gateway(intent_list.url).find_intent("pay_ours", created_since=1_800_000_000)
    assert intent is not None
    assert intent.id == "pi_04321"
    assert (len(intent_list.queries), len(intent_list.searches)) == (10, 1)


@pytest.mark.parametrize("intent_list", [(250, None, "index")], indirect=True)
def test_a_lookup_the_list_answers_never_searches(intent_list: IntentList) -> None:
    # Given fewer intents made since the payment than ten pages hold, none of them its own
    # When the intent is looked for, then the answer is "none", from the list alone: search lags
    # writes, so it never decides that a payment has no intent
    assert gateway(intent_list.url).find_intent("pay_ours", created_since=1_800_000_000) is None
    assert intent_list.searches == []


@pytest.mark.parametrize("intent_list", [(250, 230)], indirect=True)
def test_a_lookup_bounded_by_the_end_of_the_attempts_asks_for_that_span_only(intent_list: IntentList) -> None:
    # When the reconciler looks for the intent of a payment whose attempts ended (lease included) by
    # 1_800_000_900, then the list asks Stripe for the intents created in that span, with the skew
    gateway(intent_list.url).find_intent("pay_ours", created_since=1_800_000_000, created_until=1_800_000_900)
    assert intent_list.queries[0]["created[gte]"] == ["1799999700"]
    assert intent_list.queries[0]["created[lte]"] == ["1800001200"]


def test_a_failed_intent_is_closed_with_the_reason_that_keeps_it_a_failure(stripe_server: FakeStripe) -> None:
    # When a failed intent is closed, then it is canceled with the reason no other cancel of ours sends
    gateway(stripe_server.url).close_failed("pi_1", "pi_1-close-x")
    (seen,) = stripe_server.seen
    assert (seen["path"], seen["body"]) == ("/v1/payment_intents/pi_1/cancel", "cancellation_reason=abandoned")
    assert seen["headers"]["Idempotency-Key"] == "pi_1-close-x"
    # and an intent canceled with it reads as the failure it was, any other canceled one as canceled
    canceled = {**INTENT, "status": "canceled", "last_payment_error": {"code": "card_declined"}}
    closed = StripeGateway._intent({**canceled, "cancellation_reason": "abandoned"})
    assert (closed.status, closed.decline_code, closed.cancellation_reason) == ("failed", "card_declined", "abandoned")
    assert StripeGateway._intent({**canceled, "cancellation_reason": "requested_by_customer"}).status == "canceled"
    assert StripeGateway._intent({**canceled, "cancellation_reason": None}).status == "canceled"
