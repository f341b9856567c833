"""The warm-path benchmark's record and replay (benchmarks/warm.py): what it claims to measure rests on
a replayed request making no connection and getting the recorded answers, in the recorded order."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
import stripe
from botocore.config import Config

from benchmarks import warm
from payments_core.payments.providers.stripe.http import Urllib3Client


class FakeServices(BaseHTTPRequestHandler):
    """Answers DynamoDB's GetItem and Stripe's PaymentIntent retrieve, counting what it serves."""

    served: ClassVar[list[str]] = []

    def log_message(self, *_: Any) -> None:
        pass

    def _answer(self, body: dict[str, Any], content_type: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_1")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.served.append(f"POST {self.headers.get('X-Amz-Target')}")
        number = len(self.served)
        self._answer({"Item": {"pk": {"S": "a"}, "n": {"N": str(number)}}}, "application/x-amz-json-1.0")

    def do_GET(self) -> None:
        self.served.append(f"GET {self.path}")
        self._answer({"id": "pi_1", "object": "payment_intent", "amount": 100 * len(self.served)}, "application/json")


@pytest.fixture
def server() -> Iterator[str]:
    FakeServices.served = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeServices)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    warm.install()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        warm.uninstall()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def block_sockets(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[Any]]:
    """Once called, any socket connection fails; it returns the list of attempts."""
    attempts: list[Any] = []

    def refuse(sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("no connection while replaying")

    def block() -> list[Any]:
        monkeypatch.setattr(socket.socket, "connect", refuse)
        return attempts

    return block


def dynamodb(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
        config=Config(retries={"max_attempts": 1}),
    )


def get(client: Any) -> Any:
    return client.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]


def test_a_replayed_aws_call_gets_the_recorded_answer_with_no_connection(
    server: str, block_sockets: Callable[[], list[Any]]
) -> None:
    client = dynamodb(server)
    tape = warm.Tape()
    with warm.taped(tape):
        recorded = get(client)
    assert recorded == {"pk": {"S": "a"}, "n": {"N": "1"}}
    assert FakeServices.served == ["POST DynamoDB_20120810.GetItem"]

    attempts = block_sockets()
    tape.replaying = True
    for _ in range(3):
        with warm.taped(tape):
            assert get(dynamodb(server)) == recorded  # a fresh client: no pooled connection to reuse either
        assert tape.finished()
    assert FakeServices.served == ["POST DynamoDB_20120810.GetItem"]  # the server saw nothing more
    assert attempts == []


@pytest.mark.parametrize("http_client", [stripe.RequestsClient, Urllib3Client])  # the peer's, ours
def test_a_replayed_stripe_call_gets_the_recorded_answer_with_no_connection(
    server: str, block_sockets: Callable[[], list[Any]], http_client: Any
) -> None:
    def retrieve() -> Any:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server}, http_client=http_client())
        return client.v1.payment_intents.retrieve("pi_1")

    tape = warm.Tape()
    with warm.taped(tape):
        assert retrieve().amount == 100
    attempts = block_sockets()
    tape.replaying = True
    with warm.taped(tape):
        assert retrieve().amount == 100  # the recorded answer, not the server's next one (200)
    assert tape.finished()
    assert attempts == []
    assert FakeServices.served == ["GET /v1/payment_intents/pi_1"]


def test_a_replay_asking_for_another_call_fails(server: str) -> None:
    client = dynamodb(server)
    tape = warm.Tape()
    with warm.taped(tape):
        get(client)
    tape.replaying = True
    with warm.taped(tape), pytest.raises(warm.ReplayMismatch, match="PutItem"):
        client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    with warm.taped(tape):
        get(client)
        with pytest.raises(warm.ReplayMismatch, match="not recorded"):
            get(client)  # one call more than the recorded request made


def test_without_a_tape_calls_reach_the_network(server: str) -> None:
    client = dynamodb(server)
    assert get(client)["n"] == {"N": "1"}
    assert get(client)["n"] == {"N": "2"}
