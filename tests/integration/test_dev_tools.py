"""The developer's tools as a developer meets them: a fresh `make dev` console, `make invoke` on every
sample event, `make webhook-send`, `make redrive` and `make help`, run through make itself."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from devstack.sample_events import event_file_name
from devstack.template import Template
from tests.conftest import ROOT
from tests.integration.conftest import RunningStack, free_port, start_stack, stop_stack
from tests.integration.test_readme import walkthrough

pytestmark = pytest.mark.integration

REQUEST_LINE = re.compile(
    r"^\d\d:\d\d:\d\d (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\S+) -> (\d{3}) \(\d+ ms\) (\S+)$"
)


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make dev` as a developer starts it: the default console, state empty."""
    running = start_stack(tmp_path_factory.mktemp("fresh") / "dev.log", extra_env={"DEV_LOG": ""})
    yield running
    stop_stack(running)


def ports_of(stack: RunningStack) -> dict[str, str]:
    port = {url: url.rsplit(":", 1)[1] for url in (stack.api_url, stack.moto_url, stack.stripe_url)}
    return {
        **os.environ,
        "DEV_API_PORT": port[stack.api_url],
        "DEV_MOTO_PORT": port[stack.moto_url],
        "DEV_STRIPE_PORT": port[stack.stripe_url],
    }


def make(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def console_after_ready(stack: RunningStack) -> list[str]:
    lines = stack.log().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ready in"))
    return [line for line in lines[start + 1 :] if line.strip() and not line.startswith("  curl ")]


# The poller hands the consumer what the queue holds, as Lambda batches: one message or several.
LEDGER_DELIVERY = re.compile(r"\[sqs\] LedgerQueue -> LedgerConsumerFunction: \d+ messages? ok")
RECEIPT = re.compile(r"\[email\] to ada@example\.com: Receipt: 25\.00 USD paid")


def console_once_delivered(stack: RunningStack, within: float = 30.0) -> list[str]:
    """The console once the bus has carried the payment to the ledger and the receipt out (the queues
    are polled, so on a busy machine that can take several seconds), or as it stands at the deadline."""
    deadline = time.monotonic() + within
    while True:
        lines = console_after_ready(stack)
        text = "\n".join(lines)
        if (LEDGER_DELIVERY.search(text) and RECEIPT.search(text)) or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_the_console_of_a_fresh_session_prints_at_most_three_lines_per_request(fresh_stack: RunningStack) -> None:
    # Given a fresh `make dev`, When the README's walkthrough runs against it
    env = {**os.environ, "API": fresh_stack.api_url, "EMAIL": "ada@example.com"}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", walkthrough()], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # Then the console holds one line per request, email, bus event and queue delivery, and no handler JSON
    lines = console_once_delivered(fresh_stack)  # the receipts and the ledger follow from the bus
    requests_seen = [REQUEST_LINE.match(line) for line in lines]
    answered = [match for match in requests_seen if match]
    assert len(answered) >= 12, lines  # the walkthrough's 12 requests (and localstripe's webhooks)
    assert len(lines) <= 3 * len(answered), "\n".join(lines)
    assert not [line for line in lines if line.lstrip().startswith("{")], "handler JSON on the default console"
    functions = {match.group(2): match.group(4) for match in answered}
    assert functions["/auth/signup"] == "SignupFunction"
    assert functions["/payments"] in ("CreatePaymentFunction", "GetPaymentsFunction")
    text = "\n".join(lines)
    assert RECEIPT.search(text)
    assert re.search(r"\[bus\] PaymentSucceeded pay_", text)
    assert re.search(r"Your code is \d{6}\. It confirms payment pay_\w+ of 750\.00 USD", text)  # as receipts say it
    assert LEDGER_DELIVERY.search(text), text
    assert "\033[" not in text  # not a terminal: no colour codes


def sample_events() -> list[tuple[str, str]]:
    """(function, event file) for every file in events/, sign-up before sign-in."""
    by_file = {event_file_name(logical_id): logical_id for logical_id in Template(ROOT / "template.yaml").functions()}
    files = sorted(p.name for p in (ROOT / "events").glob("*.json") if p.name != "env.json")
    files.sort(key=lambda name: name != "signup.json")
    return [(by_file[name], name) for name in files]


# What each sample answers on a fresh stack: a 2xx, or the error its file is documented to give.
DOCUMENTED_ERRORS = {"otp_verify.json": "-> 400"}  # a sample code, not the one emailed (docs/local-stack.md)


def test_every_sample_event_runs_through_make_invoke(fresh_stack: RunningStack) -> None:
    assert len(sample_events()) == len(list((ROOT / "events").glob("*.json"))) - 1
    outcomes = {}
    for function, name in sample_events():
        done = make("invoke", f"FN={function}", f"EVENT=events/{name}", env=ports_of(fresh_stack))
        summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        outcomes[name] = (done.returncode, summary)
    for name, (status, summary) in outcomes.items():
        assert status == 0, (name, summary)
        expected = DOCUMENTED_ERRORS.get(name)
        if expected:
            assert summary.endswith(expected), (name, summary)
        else:
            assert re.search(
                r"-> (2\d\d|0 failed record\(s\)|isAuthorized: True|0 error\(s\)|0 mismatch\(es\))$", summary
            ), (name, summary)


def test_make_invoke_takes_a_payment_from_a_previous_step(fresh_stack: RunningStack) -> None:
    # Given a hold made through the API
    from tests.integration.conftest import new_user

    user = new_user(fresh_stack.api_url)
    hold = user.pay(4000, capture_method="manual").json()["payment_id"]
    # When make invoke captures it
    env = ports_of(fresh_stack)
    done = make("invoke", "FN=CapturePaymentFunction", "EVENT=events/capture_payment.json", f"PAYMENT={hold}", env=env)
    # Then that payment is the one captured
    assert done.returncode == 0, done.stderr
    assert user.call("GET", f"/payments/{hold}").json()["status"] == "succeeded"


def test_make_invoke_against_a_stopped_stack_fails_fast_with_a_hint() -> None:
    env = {**os.environ, **{name: str(free_port()) for name in ("DEV_API_PORT", "DEV_MOTO_PORT", "DEV_STRIPE_PORT")}}
    started = time.monotonic()
    done = make("invoke", "FN=HealthFunction", "EVENT=events/health.json", env=env)
    assert time.monotonic() - started < 5
    assert done.returncode != 0
    assert "make dev" in done.stderr
    assert "Traceback" not in done.stderr


def test_make_webhook_send_signs_with_the_running_stacks_secret_and_writes_no_file(fresh_stack: RunningStack) -> None:
    from tests.integration.conftest import new_user

    tracked = ["git", "status", "--porcelain", "--untracked-files=no"]
    before = subprocess.run(tracked, cwd=ROOT, capture_output=True, text=True).stdout
    # Given a payment, refunded in part on Stripe's side (its dashboard), not through our API
    payment = new_user(fresh_stack.api_url).pay(2500).json()
    made = requests.post(
        f"{fresh_stack.stripe_url}/v1/refunds",
        data={"payment_intent": payment["provider_payment_id"], "amount": 700},
        auth=("sk_test_local", ""),
        timeout=10,
    )
    assert made.status_code == 200, made.text
    # When make webhook-send tells the stack about it
    env = ports_of(fresh_stack)
    done = make("webhook-send", "TYPE=refund.created", f"PAYMENT={payment['payment_id']}", env=env)
    # Then the signature is the stack's (200, not 400) and the refund is recorded
    assert done.returncode == 0, done.stderr
    assert "-> 200" in done.stdout
    assert "RefundSucceeded" in fresh_stack.events_for(payment["payment_id"])
    after = subprocess.run(tracked, cwd=ROOT, capture_output=True, text=True).stdout
    assert after == before


def test_make_redrive_says_what_it_did(fresh_stack: RunningStack) -> None:
    env = ports_of(fresh_stack)
    peeked = make("redrive", "QUEUE=LedgerDLQ", "PEEK=1", env=env)
    assert peeked.returncode == 0
    assert peeked.stdout.strip() == "0 messages in LedgerDLQ"
    moved = make("redrive", "QUEUE=LedgerDLQ", env=env)
    assert moved.stdout.strip() == "moved 0 messages from LedgerDLQ back to LedgerQueue"
    unknown = make("redrive", f"QUEUE=NoSuchDLQ{uuid.uuid4().hex[:6]}", env=env)
    assert unknown.returncode != 0
    ours = [line for line in unknown.stderr.splitlines() if line.startswith("make redrive:")]
    assert len(ours) == 1
    assert "LedgerDLQ" in ours[0]  # it names the queues there are
    assert "Traceback" not in unknown.stderr


def test_make_help_lists_every_target() -> None:
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert phony
    listed = make("help").stdout
    missing = [target for target in phony.group(1).split() if not re.search(rf"^  make {target}\s", listed, re.M)]
    assert missing == []


def test_the_local_stack_serves_swagger_ui_assets_from_the_package(fresh_stack: RunningStack) -> None:
    page = requests.get(f"{fresh_stack.api_url}/docs", timeout=10)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', page.text)
    assert assets
    assert "http" not in " ".join(re.findall(r'(?:src|href)="([^"]+)"', page.text))  # nothing from a CDN
    for asset in assets:
        assert requests.get(fresh_stack.api_url + asset, timeout=10).status_code == 200, asset
    assert requests.get(f"{fresh_stack.api_url}/docs/static/../../README.md", timeout=10).status_code == 404


def test_local_emails_carry_when_they_were_sent(fresh_stack: RunningStack) -> None:
    from tests.integration.conftest import new_user

    new_user(fresh_stack.api_url).pay(2500)

    def receipts() -> list[dict[str, str]]:
        items: list[dict[str, str]] = requests.get(f"{fresh_stack.api_url}/_local/emails", timeout=10).json()["items"]
        return items

    from tests.integration.conftest import wait_for

    items = wait_for(receipts, message="an email")
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", item["sent_at"]) for item in items), items


def test_the_test_cards_do_what_the_local_stack_doc_says(stack: RunningStack) -> None:
    from tests.integration.conftest import new_user

    doc = (ROOT / "docs/local-stack.md").read_text()
    rows = re.findall(r"^\| `(pm_\w+)` \| (succeeds|declined)", doc, re.M)
    assert {card for card, _ in rows} >= {"pm_card_visa", "pm_card_chargeCustomerFail"}
    user = new_user(stack.api_url)
    for card, says in rows:
        response = user.pay(2500, payment_method=card)
        assert response.status_code == (201 if says == "succeeds" else 402), (card, response.text)
    # A test card of Stripe's that localstripe does not know is refused on the field, as documented
    unknown = user.pay(2500, payment_method="pm_card_chargeDeclined")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "payment_method"
