"""Over HTTP, as a client sees it: the strict local Stripe moves on without telling us (an answer lost,
a webhook dropped, a hold expired) and `make invoke FN=ReconcilerFunction` runs a pass. On a stack of
its own, so its passes (which look at every open item) touch no other test's payments. Skipped when
the local Stripe has no strict controls (DEV_STRICT_STRIPE=0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT
from tests.integration.conftest import ApiClient, RunningStack, new_user, start_stack, stop_stack, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("reconcile") / "dev.log")
    try:
        if requests.get(f"{running.stripe_url}/_strict/events", timeout=10).status_code != 200:
            pytest.skip("the local Stripe has no strict controls")
        yield running
    finally:
        stop_stack(running)


@pytest.fixture
def client(strict_stack: RunningStack) -> ApiClient:
    return new_user(strict_stack.api_url)


def control(stack: RunningStack, route: str, **form: Any) -> Any:
    answer = requests.post(f"{stack.stripe_url}/_strict/{route}", data=form, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def reconcile(stack: RunningStack, tmp_path: Path, **event: Any) -> dict[str, Any]:
    """`make invoke FN=ReconcilerFunction` with an event: one pass, now."""
    path = tmp_path / f"reconcile-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps({"min_age_seconds": 0, **event}))
    done = subprocess.run(
        [sys.executable, "-m", "devstack.invoke", "ReconcilerFunction", str(path)],
        cwd=ROOT,
        env={
            **os.environ,
            "DEV_API_PORT": stack.api_url.rsplit(":", 1)[1],
            "DEV_MOTO_PORT": stack.moto_url.rsplit(":", 1)[1],
            "DEV_STRIPE_PORT": stack.stripe_url.rsplit(":", 1)[1],
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{\n") :])
    assert "error" not in result["outcomes"], result
    return result


def payment(client: ApiClient, payment_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.call("GET", f"/payments/{payment_id}").json()
    return body


def ledger(client: ApiClient, payment_id: str) -> list[tuple[str, int]]:
    items = client.call("GET", "/transactions?limit=100").json()["items"]
    return sorted((t["type"], t["amount"]) for t in items if t["payment_id"] == payment_id)


def emails(stack: RunningStack, client: ApiClient, payment_id: str) -> list[str]:
    items = requests.get(f"{stack.api_url}/_local/emails", timeout=30).json()["items"]
    return [m["subject"] for m in items if m["to"] == client.email and payment_id in m["body"]]


def events(stack: RunningStack) -> list[dict[str, Any]]:
    """Every event the strict Stripe has sent, or dropped, so far."""
    data: list[dict[str, Any]] = requests.get(f"{stack.stripe_url}/_strict/events", timeout=30).json()["data"]
    return data


def lose_the_create(
    stack: RunningStack, client: ApiClient, amount: int, **fields: Any
) -> tuple[str, str, dict[str, Any]]:
    """A create Stripe processes but whose answer, and the look-up's after it, never arrive; its
    webhook is dropped. The client gets 503 and, here, does not come back. Returns the payment's id,
    its idempotency key and the dropped event: Stripe sends it after the answer (localstripe's own
    events leave it a second after the call), so it is waited for, not read at once; read at once, it
    was not there yet, and a test found another payment's dropped event, or none."""
    control(stack, "answers/lose", method="POST", path="/v1/payment_intents", count=1)
    control(stack, "answers/lose", method="GET", path="/v1/payment_intents", count=2)  # the look-up, retried
    control(stack, "webhooks/drop", type="payment_intent.succeeded", count=1)
    before = {e["id"] for e in events(stack)}
    key = uuid.uuid4().hex
    answer = client.pay(amount, key=key, **fields)
    assert answer.status_code == 503, answer.text
    (mine,) = client.call("GET", "/payments?limit=1").json()["items"]
    assert mine["status"] == "processing"
    (dropped,) = wait_for(
        lambda: [
            e
            for e in events(stack)
            if e["id"] not in before and e["type"] == "payment_intent.succeeded" and e["status"] == "dropped"
        ],
        30,
        "the lost create's webhook, dropped",
    )
    return mine["payment_id"], key, dropped


def test_a_lost_answer_and_a_dropped_webhook_end_in_stripes_state_within_one_pass(
    strict_stack: RunningStack, client: ApiClient, tmp_path: Path
) -> None:
    payment_id, _, dropped = lose_the_create(strict_stack, client, 3100)
    reconcile(strict_stack, tmp_path)
    settled = payment(client, payment_id)
    assert (settled["status"], settled["amount_captured"]) == ("succeeded", 3100)
    assert settled["provider_payment_id"] == dropped["object_id"]  # the intent whose webhook never came
    wait_for(lambda: ledger(client, payment_id) == [("charge", 3100)], 30, "the ledger entry")
    wait_for(lambda: len(emails(strict_stack, client, payment_id)) == 1, 30, "the receipt")


def test_a_dropped_refund_update_ends_in_stripes_state_within_one_pass(
    strict_stack: RunningStack, client: ApiClient, tmp_path: Path
) -> None:
    paid = client.pay(4000).json()
    payment_id = paid["payment_id"]
    control(strict_stack, "answers/lose", method="POST", path="/v1/refunds", count=1)
    control(strict_stack, "answers/lose", method="GET", path="/v1/refunds", count=2)
    for kind in ("refund.created", "refund.updated", "charge.refunded"):
        control(strict_stack, "webhooks/drop", type=kind, count=1)
    assert client.refund(payment_id, 1200).status_code == 503
    assert [r["status"] for r in payment(client, payment_id)["refunds"]] == ["pending"]
    reconcile(strict_stack, tmp_path)
    settled = payment(client, payment_id)
    assert [r["status"] for r in settled["refunds"]] == ["succeeded"]
    assert (settled["status"], settled["amount_refunded"]) == ("partially_refunded", 1200)
    wait_for(lambda: ledger(client, payment_id) == [("charge", 4000), ("refund", 1200)], 30, "the ledger")


def test_a_hold_stripe_released_after_seven_days_ends_canceled_and_capture_is_409(
    strict_stack: RunningStack, client: ApiClient, tmp_path: Path
) -> None:
    held = client.pay(2800, capture_method="manual").json()
    assert held["status"] == "requires_capture"
    # Stripe releases it 7 days on: what the create announced was delivered long before. Released at
    # once, the create's own event, still on its way, made the webhook fetch the released intent.
    wait_for(
        lambda: any(
            e["object_id"] == held["provider_payment_id"]
            and e["type"] == "payment_intent.amount_capturable_updated"
            and e["status"] == "delivered"
            for e in events(strict_stack)
        ),
        30,
        "the hold's own webhook, delivered",
    )
    control(strict_stack, "webhooks/drop", type="payment_intent.canceled", count=1)
    control(strict_stack, f"payment_intents/{held['provider_payment_id']}/expire")
    assert payment(client, held["payment_id"])["status"] == "requires_capture"  # nobody told us
    reconcile(strict_stack, tmp_path, all_open=True)  # the stack's clock cannot jump 7 days
    assert payment(client, held["payment_id"])["status"] == "canceled"
    refused = client.call("POST", f"/payments/{held['payment_id']}/capture", {}, key=uuid.uuid4().hex)
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "payment_not_capturable")


def test_a_pass_racing_the_webhook_and_a_client_retry_gives_one_effect(
    strict_stack: RunningStack, client: ApiClient, tmp_path: Path
) -> None:
    # Given a lost create whose webhook was dropped
    payment_id, key, dropped = lose_the_create(strict_stack, client, 3300)
    # When a pass, Stripe delivering the event again and the client's retry all happen at once
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda: answers.append(reconcile(strict_stack, tmp_path))),
        threading.Thread(target=lambda: control(strict_stack, f"events/{dropped['id']}/resend")),
        threading.Thread(target=lambda: answers.append(client.pay(3300, key=key))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(answers) == 2, answers  # the pass ran with no error (a thread's exception is only printed)
    # Then the payment succeeded once: one ledger entry, one receipt
    wait_for(lambda: payment(client, payment_id)["status"] == "succeeded", 30, "succeeded")
    assert payment(client, payment_id)["provider_payment_id"] == dropped["object_id"]  # its own event raced
    assert client.pay(3300, key=key).json()["status"] == "succeeded"
    wait_for(lambda: ledger(client, payment_id) == [("charge", 3300)], 30, "the ledger entry")
    wait_for(lambda: len(emails(strict_stack, client, payment_id)) >= 1, 30, "the receipt")
    assert len(emails(strict_stack, client, payment_id)) == 1
