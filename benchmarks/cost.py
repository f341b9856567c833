"""AWS calls, DynamoDB capacity and Stripe calls per operation, and the monthly bill they imply.

The local stack runs in this process; every botocore call made while a handler runs is counted and
attributed to that function (the pollers' own receive/delete calls play the event source mappings
and are priced separately below). DynamoDB capacity is computed from the request and response item
sizes with DynamoDB's published rules (moto's ConsumedCapacity is not exact): a write unit per KB
(two in a transaction), a read unit per 4 KB strongly consistent (half eventually consistent, two in
a transaction). Global secondary indexes are counted too (``gsi_wru``), as DynamoDB bills them: a write
that adds an item to an index, removes it, changes its index keys (a delete and a put) or changes a
projected attribute costs a write unit per KB of the projected item; one that touches nothing the
index holds costs it nothing. The item before and after each write is read outside the count.
Prices: PRICES below (us-east-1, on-demand list prices as of 2026-11; Lambda on arm64).
"""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import botocore.client
import requests

from devstack import runtime
from devstack.stack import LocalStack, StackConfig

PRICES = {
    "apigw_request": 1.00 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_s": 0.0000133334,
    "ddb_wru": 0.625 / 1e6,
    "ddb_rru": 0.125 / 1e6,
    "eventbridge_event": 1.00 / 1e6,
    "sqs_request": 0.40 / 1e6,
    "ses_email": 0.10 / 1000,
}


# The committed figures of the last run before events rode on the payment item (results.json of
# 2026-12-04 00:44 UTC): base-table units only (indexes were not counted then; ByCreated projected
# every attribute, so each payment write was also a full index write).
BEFORE = {"wru": 20.0, "rru": 2.5, "total_usd": 124.32, "total_without_ses_usd": 24.32}
MAX_WRU_PER_PAYMENT = 10.0


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


def table_indexes(table: str = "AppTable") -> list[tuple[list[str], str, list[str]]]:
    """The table's GSIs as (key attributes, projection type, non-key attributes), from template.yaml."""
    from devstack.template import Template
    from tests.conftest import ROOT

    properties = Template(ROOT / "template.yaml").properties(table)
    table_keys = [k["AttributeName"] for k in properties["KeySchema"]]
    return [
        (
            table_keys + [k["AttributeName"] for k in index["KeySchema"]],
            str(index["Projection"]["ProjectionType"]),
            list(index["Projection"].get("NonKeyAttributes", [])),
        )
        for index in properties.get("GlobalSecondaryIndexes", [])
    ]


def _projected_units(item: dict[str, Any], names: set[str] | None) -> int:
    """Write units of an item as an index holds it (``names`` None: every attribute)."""
    kept = item if names is None else {name: value for name, value in item.items() if name in names}
    return max(1, math.ceil(item_bytes(kept) / 1024))


def gsi_write_units(indexes: list[tuple[list[str], str, list[str]]], old: dict[str, Any], new: dict[str, Any]) -> int:
    """What one base-table write costs the table's indexes (items in DynamoDB's JSON)."""
    units = 0
    for key_names, projection, non_key in indexes:
        names = None if projection == "ALL" else set(key_names) | (set(non_key) if projection == "INCLUDE" else set())
        was = bool(old) and all(name in old for name in key_names)
        now = bool(new) and all(name in new for name in key_names)
        if was and now:
            if any(old[name] != new[name] for name in key_names):
                units += _projected_units(old, names) + _projected_units(new, names)
            elif any(old.get(name) != new.get(name) for name in (names if names is not None else set(old) | set(new))):
                units += _projected_units(new, names)
        elif was:
            units += _projected_units(old, names)
        elif now:
            units += _projected_units(new, names)
    return units


class Meter:
    def __init__(self) -> None:
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)
        self.wru: defaultdict[str, float] = defaultdict(float)
        self.gsi_wru: defaultdict[str, float] = defaultdict(float)
        self.indexes = table_indexes()
        self.rru: defaultdict[str, float] = defaultdict(float)
        self.stripe: Counter[str] = Counter()

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
        meter = self

        def item_at(client: Any, table: str, key: dict[str, Any]) -> dict[str, Any]:
            # The meter's own read, not the function's: outside the function's context, so the local
            # stack's IAM enforcement (devstack/iam.py) does not judge it by the function's role.
            token = runtime.CURRENT_FUNCTION.set(None)
            try:
                found = original(client, "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
            finally:
                runtime.CURRENT_FUNCTION.reset(token)
            return dict(found.get("Item") or {})

        def written(params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            """(table, key) of each item a write call writes (a transaction's ConditionCheck writes none)."""
            if "TransactItems" in params:
                bodies = [body for e in params["TransactItems"] for kind, body in e.items() if kind != "ConditionCheck"]
            else:
                bodies = [params]
            # AppTable's items only (its indexes are the ones counted; its key is PK and SK).
            return [
                (str(body["TableName"]), body.get("Key") or {k: body["Item"][k] for k in ("PK", "SK")})
                for body in bodies
                if body.get("TableName") == "AppTable"
            ]

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            function = runtime.CURRENT_FUNCTION.get()
            writes = (
                written(params)
                if function is not None
                and client.meta.service_model.service_name == "dynamodb"
                and operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems")
                else []
            )
            before = [(table, key, item_at(client, table, key)) for table, key in writes]
            response = original(client, operation, params)
            changes = [(table, old, item_at(client, table, key)) for table, key, old in before]
            if function is not None:
                service = client.meta.service_model.service_name
                meter.calls[function][f"{service}:{operation}"] += 1
                if service == "dynamodb":
                    meter.capacity(function, operation, params, response, changes)
            return response

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[attr-defined]
        from payments_core.payments.providers.stripe.http import Urllib3Client

        original_request = Urllib3Client.request

        def counted_stripe(client: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            function = runtime.CURRENT_FUNCTION.get()
            if function is not None:
                meter.stripe[function] += 1
            return original_request(client, method, url, *args, **kwargs)

        Urllib3Client.request = counted_stripe  # type: ignore[method-assign,assignment]

    def capacity(
        self,
        function: str,
        operation: str,
        params: dict[str, Any],
        response: dict[str, Any],
        changes: list[tuple[str, dict[str, Any], dict[str, Any]]] = (),  # type: ignore[assignment]
    ) -> None:
        for table, old, new in changes:
            if table == "AppTable":
                self.gsi_wru[function] += gsi_write_units(self.indexes, old, new)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            # DynamoDB counts the larger of the item before and after the write.
            _, old, new = changes[0] if changes else ("", {}, params.get("Item") or params.get("Key") or {})
            size = max(item_bytes(old), item_bytes(new), 1)
            self.wru[function] += max(1, math.ceil(size / 1024))
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                body = next(iter(entry.values()))
                self.wru[function] += 2 * max(
                    1, math.ceil(item_bytes(body.get("Item") or body.get("Key") or {}) / 1024)
                )
        elif operation == "GetItem":
            units = max(1, math.ceil(item_bytes(response.get("Item") or {}) / 4096))
            self.rru[function] += units if params.get("ConsistentRead") else units / 2
        elif operation == "Query":
            size = sum(item_bytes(item) for item in response.get("Items", []))
            self.rru[function] += max(1, math.ceil(size / 4096)) / (1 if params.get("ConsistentRead") else 2)


def measure(payments: int = 20) -> dict[str, Any]:
    from tests.integration.conftest import free_port

    config = StackConfig(
        api_port=free_port(), moto_port=free_port(), stripe_port=free_port(), echo_emails=False, access_log=False
    )
    meter = Meter()
    meter.install()
    with LocalStack(config) as stack:
        api = stack.api_url
        email = f"cost-{uuid.uuid4().hex[:8]}@example.com"
        requests.post(f"{api}/auth/signup", json={"email": email, "password": "a long enough password"}, timeout=30)
        token = requests.post(
            f"{api}/auth/signin", json={"email": email, "password": "a long enough password"}, timeout=30
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        runtime.INVOCATIONS.clear()
        for name in list(meter.calls):
            meter.calls[name].clear()
        meter.wru.clear()
        meter.gsi_wru.clear()
        meter.rru.clear()
        meter.stripe.clear()
        for _ in range(payments):
            response = requests.post(
                f"{api}/payments",
                json={"amount": 2500, "currency": "usd", "payment_method": "pm_card_visa"},
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                timeout=30,
            )
            assert response.status_code == 201, response.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = Counter(name for name, _ in runtime.INVOCATIONS)
            if done["NotificationsConsumerFunction"] >= payments and done["LedgerConsumerFunction"] >= payments:
                break
            time.sleep(0.5)
        time.sleep(2)
        invocations = list(runtime.INVOCATIONS)
    per_function: dict[str, dict[str, Any]] = {}
    counts = Counter(name for name, _ in invocations)
    for name, count in sorted(counts.items()):
        durations = [seconds for fn, seconds in invocations if fn == name]
        per_function[name] = {
            "invocations_per_payment": round(count / payments, 2),
            "median_ms": round(statistics.median(durations) * 1000, 1),
            "aws_calls_per_invocation": {op: round(n / count, 2) for op, n in sorted(meter.calls[name].items())},
            "wru_per_payment": round(meter.wru[name] / payments, 2),
            "gsi_wru_per_payment": round(meter.gsi_wru[name] / payments, 2),
            "rru_per_payment": round(meter.rru[name] / payments, 2),
            "stripe_calls_per_payment": round(meter.stripe[name] / payments, 2),
        }
    return {"payments": payments, "functions": per_function, "bill": bill(per_function)}


def bill(
    per_function: dict[str, dict[str, Any]], monthly_payments: int = 1_000_000, memory_mb: int = 512
) -> dict[str, Any]:
    """The monthly AWS bill for ``monthly_payments`` payments like the measured ones."""
    lambda_requests = sum(f["invocations_per_payment"] for f in per_function.values())
    gb_seconds = sum(
        f["invocations_per_payment"] * f["median_ms"] / 1000 * memory_mb / 1024 for f in per_function.values()
    )
    wru = sum(f["wru_per_payment"] + f.get("gsi_wru_per_payment", 0) for f in per_function.values())
    base_wru = sum(f["wru_per_payment"] for f in per_function.values())
    rru = sum(f["rru_per_payment"] for f in per_function.values())
    api_requests = sum(
        f["invocations_per_payment"]
        for name, f in per_function.items()
        if name in ("CreatePaymentFunction", "StripeWebhookFunction")
    )
    # Per payment: PaymentCreated and PaymentSucceeded are published; PaymentSucceeded goes to the
    # ledger and the notifications queue (EventBridge's send, the receive, the delete: 3 requests each).
    events = 2
    sqs_requests = 2 * 3
    emails = 1
    lines = {
        "API Gateway": api_requests * PRICES["apigw_request"],
        "Lambda requests": lambda_requests * PRICES["lambda_request"],
        "Lambda duration": gb_seconds * PRICES["lambda_gb_s"],
        "DynamoDB writes": wru * PRICES["ddb_wru"],
        "DynamoDB reads": rru * PRICES["ddb_rru"],
        "EventBridge": events * PRICES["eventbridge_event"],
        "SQS": sqs_requests * PRICES["sqs_request"],
        "SES": emails * PRICES["ses_email"],
    }
    monthly = {name: round(cost * monthly_payments, 2) for name, cost in lines.items()}
    return {
        "per_payment_units": {
            "api_requests": api_requests,
            "lambda_invocations": round(lambda_requests, 2),
            "lambda_gb_s": round(gb_seconds, 4),
            "wru": round(wru, 2),
            "base_table_wru": round(base_wru, 2),
            "gsi_wru": round(wru - base_wru, 2),
            "rru": round(rru, 2),
            "bus_events": events,
            "sqs_requests": sqs_requests,
            "emails": emails,
        },
        "monthly_usd_for_1M_payments": monthly,
        "total_usd": round(sum(monthly.values()), 2),
        "total_without_ses_usd": round(sum(v for k, v in monthly.items() if k != "SES"), 2),
    }
