"""Load through the local stack: many payments from concurrent clients, refunds and duplicate-key
retries mixed in; then the ledger and the receipts are counted: exactly one per money movement."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class ClientResult:
    email: str
    token: str
    latencies: list[float] = field(default_factory=list)
    charges: int = 0
    refunds: int = 0
    replays: int = 0
    errors: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)


RETRYABLE = {500, 502, 503, 504, 409}  # 409 only as request_in_progress: see _settle


def _settle(
    session: requests.Session,
    response: requests.Response,
    result: ClientResult,
    what: str,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> requests.Response:
    """What a client of the contract does with an answer that is not final: retry with the same
    Idempotency-Key (never a new one), so the outcome it ends with is the one that happened."""
    for _ in range(3):
        in_progress = response.status_code == 409 and "request_in_progress" in response.text
        if response.status_code not in RETRYABLE or (response.status_code == 409 and not in_progress):
            return response
        result.retried.append(f"{what} {response.status_code}")
        time.sleep(1)
        response = session.post(url, json=body, headers=headers, timeout=60)
    return response


def _client_run(api: str, payments: int) -> ClientResult:
    session = requests.Session()
    email = f"load-{uuid.uuid4().hex[:10]}@example.com"
    session.post(f"{api}/auth/signup", json={"email": email, "password": "a long enough password"}, timeout=60)
    token = session.post(
        f"{api}/auth/signin", json={"email": email, "password": "a long enough password"}, timeout=60
    ).json()["access_token"]
    result = ClientResult(email, token)
    headers = {"Authorization": f"Bearer {token}"}
    for index in range(payments):
        key = uuid.uuid4().hex
        body = {"amount": 1000 + index, "currency": "usd", "payment_method": "pm_card_visa"}
        started = time.perf_counter()
        response = session.post(f"{api}/payments", json=body, headers={**headers, "Idempotency-Key": key}, timeout=60)
        result.latencies.append(time.perf_counter() - started)
        response = _settle(
            session, response, result, "pay", f"{api}/payments", body, {**headers, "Idempotency-Key": key}
        )
        if response.status_code != 201:
            result.errors.append(f"pay {response.status_code}")
            continue
        result.charges += 1
        payment_id = response.json()["payment_id"]
        if index % 7 == 0:  # a client retry with the same key: must be a replay, never a second charge
            again = session.post(f"{api}/payments", json=body, headers={**headers, "Idempotency-Key": key}, timeout=60)
            result.replays += again.headers.get("Idempotent-Replayed") == "true"
        if index % 3 == 0:
            started = time.perf_counter()
            refund_url, refund_headers = (
                f"{api}/payments/{payment_id}/refunds",
                {**headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            refund = session.post(refund_url, json={"amount": 100}, headers=refund_headers, timeout=60)
            result.latencies.append(time.perf_counter() - started)
            refund = _settle(session, refund, result, "refund", refund_url, {"amount": 100}, refund_headers)
            if refund.status_code == 201:
                result.refunds += 1
            else:
                result.errors.append(f"refund {refund.status_code}")
    return result


def _ledger_size(api: str, token: str) -> int:
    count, cursor = 0, None
    while True:
        url = f"{api}/transactions?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        count += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return count


def measure(api: str, clients: int = 20, payments_per_client: int = 25, drain_seconds: float = 180) -> dict[str, Any]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda _: _client_run(api, payments_per_client), range(clients)))
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for result in results for latency in result.latencies)
    expected_entries = {r.email: r.charges + r.refunds for r in results}
    deadline = time.monotonic() + drain_seconds
    while True:
        ledger = {r.email: _ledger_size(api, r.token) for r in results}
        emails: dict[str, int] = {}
        for item in requests.get(f"{api}/_local/emails", timeout=60).json()["items"]:
            emails[item["to"]] = emails.get(item["to"], 0) + 1
        if (ledger == expected_entries and emails == expected_entries) or time.monotonic() > deadline:
            break
        time.sleep(2)
    drained = time.perf_counter() - started
    movements = sum(expected_entries.values())
    retried = Counter(answer for r in results for answer in r.retried)
    ledger_total = sum(ledger.values())
    email_total = sum(emails.get(r.email, 0) for r in results)
    return {
        "clients": clients,
        "payments": sum(r.charges for r in results),
        "refunds": sum(r.refunds for r in results),
        "duplicate_retries_replayed": sum(r.replays for r in results),
        "errors": sum(len(r.errors) for r in results),
        "retried_with_same_key": ", ".join(f"{k} x{n}" for k, n in sorted(retried.items())) or "none",
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
        "money_movements": movements,
        "ledger_entries": ledger_total,
        "receipts": email_total,
        "lost": max(0, movements - ledger_total) + max(0, movements - email_total),
        "doubled": sum(max(0, ledger[e] - n) + max(0, emails.get(e, 0) - n) for e, n in expected_entries.items()),
        "seconds_until_all_delivered": round(drained, 1),
    }
