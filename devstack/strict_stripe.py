"""A strict Stripe in front of localstripe: answers as Stripe does at the API version the SDK pins where
localstripe is lenient and our code depends on the difference, delivers webhooks as Stripe does, and
lets tests make Stripe-side things happen.

The functions and the tests talk to this layer (``stack.stripe_url``); localstripe runs behind it on an
internal port. It never imports payments_core: it is the reference our code is checked against.

- Requests: a parameter the SDK's params TypedDict of the endpoint does not declare is 400
  ``parameter_unknown``; ``payment_method_types`` on a PaymentIntent 400
  ``payment_method_types_no_longer_supported``; idempotency keys are honoured (replay for 24 h,
  ``idempotency_error`` for other parameters); refunds beyond what remains, or of an intent with no
  successful charge, and charges under the currency's minimum are refused with Stripe's errors; an
  intent is captured or canceled only in the statuses Stripe acts on
  (``payment_intent_unexpected_state``).
- Answers are shaped as Stripe's at this version: an intent's ``latest_charge`` is an id and it has no
  ``charges``; a charge has no ``refunds`` list; the remainder a partial capture releases is not a
  refund; a refund failed after it succeeded shows ``failed``; disputes are served here; intents can
  be searched by exact-match clauses, found only ``search_lag`` seconds after they are made.
- Events: localstripe's own (``payment_intent.succeeded`` / ``.payment_failed``) pass through here and
  are re-signed; the ones Stripe sends and localstripe does not are emitted here. Delivered after the
  answer, retried with backoff on a non-2xx answer.
- Controls under ``/_strict/`` (README, "The local Stripe is strict").
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from devstack.strict_rules import (
    SEARCH_LAG_SECONDS,
    IdempotencyKeys,
    StripeRefusal,
    as_int,
    check_amount,
    check_parameters,
    check_values,
    invalid,
    matches,
    search_terms,
    settled,
    shown,
)

# The statuses in which Stripe acts on an intent (its API reference for capture and cancel); in any
# other, 400 ``payment_intent_unexpected_state``.
ACTED_UPON_IN: dict[str, tuple[str, ...]] = {
    "capture": ("requires_capture",),
    "cancel": ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing"),
}

# The codes that mean our own validation should have refused the request before Stripe saw it.
OUR_VALIDATION_CODES = frozenset(
    {
        "parameter_unknown",
        "payment_method_types_no_longer_supported",
        "amount_too_small",
        "invalid_charge_amount",
        "amount_too_large",
        "charge_already_refunded",
    }
)
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # after the first attempt: 6 tries in all, ~15 s
FIRST_DELIVERY_DELAY = 0.1  # after the API answer, as Stripe's events arrive
INTERNAL_KEY = "sk_test_strict_layer"
# A list's ``created`` filter as Stripe reads it (``created[gte]=<epoch seconds>``, ...).
CREATED_FILTERS: tuple[tuple[str, Callable[[int, int], bool]], ...] = (
    ("created[gte]", lambda created, bound: created >= bound),
    ("created[gt]", lambda created, bound: created > bound),
    ("created[lt]", lambda created, bound: created < bound),
    ("created[lte]", lambda created, bound: created <= bound),
)


def api_version() -> str:
    from stripe._api_version import _ApiVersion

    return str(_ApiVersion.CURRENT)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


class AnswerLost(ConnectionAbortedError):
    """Raised after the socket is shut: werkzeug treats it as a dropped connection and writes nothing."""


@dataclass
class Delivery:
    event: dict[str, Any]
    object_id: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    status: str = "pending"  # pending, delivered, failed, dropped
    dropped: bool = False


class StrictStripe:
    def __init__(
        self,
        upstream: str,
        host: str,
        port: int,
        *,
        log: Callable[[str], None] | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        search_lag: float = SEARCH_LAG_SECONDS,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = f"http://{host}:{port}"
        self.version = api_version()
        self.log = log or (lambda line: print(line, flush=True))
        self.retry_delays = retry_delays
        self.search_lag = search_lag  # an intent is found by search this long after it was made
        self.idempotency = IdempotencyKeys()
        self.requests: list[dict[str, Any]] = []
        self.deliveries: dict[str, Delivery] = {}
        self.webhooks: dict[str, tuple[str, str]] = {}  # id -> (url, secret): where events really go
        self.inbound_secret = "whsec_" + secrets.token_hex(16)
        self.refunds_made: dict[str, str] = {}  # refunds created through this layer -> their intent
        self.refunds_failed: dict[str, dict[str, Any]] = {}  # refund id -> failure overlay
        self.intents: dict[str, dict[str, Any]] = {}  # intent id -> overlay (cancellation_reason, canceled_at)
        self.disputes: dict[str, dict[str, Any]] = {}
        # What came back of each dispute so far (in the charge's currency), and the ones appealed once.
        self.dispute_reinstated: dict[str, int] = {}
        self.disputes_appealed: set[str] = set()
        self.balance_transactions: dict[str, dict[str, Any]] = {}
        self.drop_rules: list[dict[str, Any]] = []
        self.lose_rules: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._refund_lock = threading.Lock()
        self._local = threading.local()
        self._queue: list[tuple[float, int, str, int]] = []  # (due, seq, event id, attempt number)
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer = make_server(host, port, self, threaded=True)
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> StrictStripe:
        workers = [(self._deliver_forever, f"strict-stripe-webhooks-{n}") for n in range(3)]
        for target, name in [(self._server.serve_forever, "strict-stripe"), *workers]:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # --- talking to localstripe ---------------------------------------------------------------------
    def _http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def upstream_get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        response = self._http().get(
            self.upstream + path, params=params, headers={"Authorization": f"Bearer {INTERNAL_KEY}"}, timeout=30
        )
        return response.json() if response.status_code == 200 else None

    def upstream_post(self, path: str, data: dict[str, Any] | None = None) -> requests.Response:
        return self._http().post(
            self.upstream + path, data=data or {}, headers={"Authorization": f"Bearer {INTERNAL_KEY}"}, timeout=30
        )

    # --- WSGI ---------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        request.get_data()  # cached first, so the form parsed from it leaves the raw body to forward
        path = request.path
        if path.startswith("/_strict/inbound/"):
            response = self._inbound(request)
        elif path.startswith("/_strict/"):
            response = self._control(request)
        elif request.method == "POST" and path.startswith("/_config/webhooks/"):
            response = self._config_webhook(request, path.rsplit("/", 1)[1])
        elif path.startswith("/v1/"):
            response = self._api(request, environ)
        else:
            status, body, headers = self._forward(request, request.get_data())
            response = Response(body, status=status, headers=headers)
        return response(environ, start_response)

    def _forward(self, request: Request, body: bytes, query: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        qs = request.query_string.decode() if query is None else query
        url = self.upstream + request.path + (f"?{qs}" if qs else "")
        upstream = self._http().request(request.method, url, data=body, headers=headers, timeout=30)
        kept = {"Content-Type": upstream.headers.get("Content-Type", "application/json")}
        return upstream.status_code, upstream.content, kept

    # --- the API --------------------------------------------------------------------------------------
    def _api(self, request: Request, environ: dict[str, Any]) -> Response:
        """One API request; the events it causes are delivered once its answer has been written."""
        self._local.deferred = []
        try:
            response = self._answer(request, environ)
        except AnswerLost:
            self._release_deferred()
            raise
        except Exception:
            self._local.deferred = None
            raise
        deferred, self._local.deferred = self._local.deferred, None
        response.call_on_close(lambda: self._schedule_all(deferred))
        return response

    def _release_deferred(self) -> None:
        deferred, self._local.deferred = getattr(self._local, "deferred", None) or [], None
        self._schedule_all(deferred)

    def _schedule_all(self, deferred: list[tuple[str, float]]) -> None:
        for event_id, delay in deferred:
            self._schedule(event_id, delay, 0)

    def _answer(self, request: Request, environ: dict[str, Any]) -> Response:
        request_id = new_id("req_")
        method, path = request.method, request.path
        params = list((request.form if method == "POST" else request.args).items(multi=True))
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        seen: dict[str, Any] = {
            "request_id": request_id,
            "at": time.time(),
            "method": method,
            "path": path,
            "params": [[k, _redacted(k, v)] for k, v in params],
            "idempotency_key": key,
            "stripe_version": request.headers.get("Stripe-Version"),
            "probe": request.headers.get("X-Strict-Probe") == "1",
            "status": None,
            "error": None,
            "refused_by": None,
            "replayed": False,
            "answer_lost": False,
        }
        with self._lock:
            self.requests.append(seen)
        started = False
        try:
            check_parameters(method, path, [k for k, _ in params])
            check_values(method, path, params)
            self._check_amounts(method, path, dict(params))
            if key:
                stored = self.idempotency.begin(key, f"{method} {path}", params)
                if stored is not None and stored.answer is not None:
                    status, body, original = stored.answer
                    seen |= {"status": status, "replayed": True}
                    response = self._json_response(status, body, request_id)
                    response.headers["Idempotent-Replayed"] = "true"
                    response.headers["Original-Request"] = original
                    return self._maybe_lose(seen, environ, response)
                started = True
            status, body = self._execute(request, path, dict(params), request_id, key)
        except StripeRefusal as refusal:
            body = json.dumps(refusal.body()).encode()
            status = refusal.status
            seen["refused_by"] = "strict"
            seen["error"] = {"type": refusal.type, "code": refusal.code, "param": refusal.param}
            if started and key:
                self.idempotency.finish(key, status, body, request_id)  # refused while executing: kept
            seen["status"] = status
            self.log(f"[stripe] {status} {refusal.code or refusal.type} {method} {path}")
            return self._maybe_lose(seen, environ, self._json_response(status, body, request_id))
        except Exception:
            if started and key:
                self.idempotency.abandon(key)
            raise
        if started and key:
            self.idempotency.finish(key, status, body, request_id)
        seen["status"] = status
        if status >= 400:
            seen["refused_by"] = "localstripe"
            error = _error_of(body)
            seen["error"] = {"type": error.get("type"), "code": error.get("code"), "param": error.get("param")}
        return self._maybe_lose(seen, environ, self._json_response(status, body, request_id))

    def _json_response(self, status: int, body: bytes, request_id: str) -> Response:
        response = Response(body, status=status, content_type="application/json")
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = self.version
        return response

    def _maybe_lose(self, seen: dict[str, Any], environ: dict[str, Any], response: Response) -> Response:
        with self._lock:
            rule = next(
                (
                    r
                    for r in self.lose_rules
                    if r["count"] > 0 and r["method"] == seen["method"] and seen["path"].endswith(r["path"])
                ),
                None,
            )
            if rule is None:
                return response
            rule["count"] -= 1
            seen["answer_lost"] = True
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.log(f"[stripe] answer lost on purpose: {seen['method']} {seen['path']}")
        raise AnswerLost

    def _check_amounts(self, method: str, path: str, params: dict[str, str]) -> None:
        if method != "POST":
            return
        if path == "/v1/payment_intents" and "amount" in params and "currency" in params:
            amount = as_int(params["amount"])
            if amount is not None:
                check_amount(amount, params["currency"], charge=True)
        elif path.startswith("/v1/payment_intents/") and path.endswith("/capture") and "amount_to_capture" in params:
            amount = as_int(params["amount_to_capture"])
            intent = self.upstream_get(path.removesuffix("/capture"))
            if amount is not None and intent is not None:
                check_amount(amount, str(intent["currency"]), charge=True)

    def _execute(
        self, request: Request, path: str, params: dict[str, str], request_id: str, key: str | None
    ) -> tuple[int, bytes]:
        method = request.method
        parts = path.strip("/").split("/")
        origin = {"id": request_id, "idempotency_key": key}
        if method == "GET":
            return self._get(request, parts, params)
        if path == "/v1/refunds":
            with self._refund_lock:
                self._check_refund(params)
                status, body, _ = self._forward(request, request.get_data())
                if status == 200:
                    refund = json.loads(body)
                    charge = self.upstream_get(f"/v1/charges/{refund['charge']}") or {}
                    intent_id = str(refund.get("payment_intent") or charge.get("payment_intent") or "")
                    self.refunds_made[refund["id"]] = intent_id
                    body = json.dumps(self.refund_as_stripe(refund)).encode()
                    self.emit("refund.created", "refund", refund["id"], origin)
                    self.emit("charge.refunded", "charge", refund["charge"], origin)
                return status, body
        if len(parts) == 4 and parts[1] == "payment_intents" and parts[3] in ACTED_UPON_IN:
            self._check_state(parts[2], parts[3])
        if len(parts) == 4 and parts[1] == "payment_intents" and parts[3] == "cancel":
            reason = params.pop("cancellation_reason", None)
            status, body, _ = self._forward(request, urlencode(params).encode())
            if status == 200:
                with self._lock:
                    self.intents[parts[2]] = {"cancellation_reason": reason, "canceled_at": int(time.time())}
                self.emit("payment_intent.canceled", "payment_intent", parts[2], origin)
                return status, json.dumps(self.intent_as_stripe(json.loads(body))).encode()
            return status, body
        status, body, _ = self._forward(request, request.get_data())
        if status == 200 and parts[1] == "payment_intents":
            intent = json.loads(body)
            if path == "/v1/payment_intents" or (len(parts) == 4 and parts[3] == "confirm"):
                self._emit_for_status(intent, origin)
            return status, json.dumps(self.intent_as_stripe(intent)).encode()
        return status, body

    def _check_state(self, intent_id: str, action: str) -> None:
        """Stripe acts on an intent only in the statuses it lists for the action, and answers any other
        400 ``payment_intent_unexpected_state`` with the intent in the error (localstripe captures a
        canceled intent, and refuses the rest without the code)."""
        raw = self.upstream_get(f"/v1/payment_intents/{intent_id}")
        if raw is None:
            return  # localstripe's own 404 answers it
        intent = self.intent_as_stripe(raw)
        allowed = ACTED_UPON_IN[action]
        if intent["status"] in allowed:
            return
        if action == "capture" and intent["status"] == "succeeded":
            message = "This PaymentIntent could not be captured because it has already been captured."
        else:
            verb = {"capture": "could not be captured", "cancel": "could not be canceled"}[action]
            message = (
                f"This PaymentIntent {verb} because it has a status of {intent['status']}. Only a PaymentIntent"
                f" with one of the following statuses may be acted upon: {', '.join(allowed)}."
            )
        refusal = invalid(message, code="payment_intent_unexpected_state")
        refusal.extra["payment_intent"] = intent
        raise refusal

    def _emit_for_status(self, intent: dict[str, Any], origin: dict[str, Any] | None) -> None:
        if intent["status"] == "requires_action":
            self.emit("payment_intent.requires_action", "payment_intent", intent["id"], origin)
        elif intent["status"] == "requires_capture":
            self.emit("payment_intent.amount_capturable_updated", "payment_intent", intent["id"], origin)

    def _check_refund(self, params: dict[str, str]) -> None:
        """Stripe's refusals of a refund localstripe would make: nothing left to refund, more than is
        left, an intent with no successful charge, a disputed charge."""
        intent_id = params.get("payment_intent")
        charge: dict[str, Any] | None
        if intent_id:
            intent = self.upstream_get(f"/v1/payment_intents/{intent_id}")
            if intent is None:
                raise invalid(
                    f"No such payment_intent: '{intent_id}'",
                    code="resource_missing",
                    param="payment_intent",
                    status=404,
                )
            charge = intent.get("latest_charge") if isinstance(intent.get("latest_charge"), dict) else None
            if intent["status"] != "succeeded" or charge is None:
                raise invalid(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
        elif params.get("charge"):
            charge = self.upstream_get(f"/v1/charges/{params['charge']}")
            if charge is None:
                raise invalid(
                    f"No such charge: '{params['charge']}'", code="resource_missing", param="charge", status=404
                )
            if charge.get("status") != "succeeded" or not charge.get("captured"):
                raise invalid(f"Charge {charge['id']} has not been captured or has failed.", param="charge")
        else:
            return  # localstripe's own 400
        shaped = self.charge_as_stripe(charge)
        # Stripe's own flag says whether a disputed charge can still be refunded (an inquiry can; a
        # chargeback cannot until it is won)
        if any(
            d["charge"] == charge["id"] and not d["is_charge_refundable"] and d["status"] != "won"
            for d in self._disputes()
        ):
            raise invalid(
                f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
            )
        remaining = int(shaped["amount_captured"]) - int(shaped["amount_refunded"])
        if remaining <= 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        amount = as_int(params.get("amount"))
        if amount is not None:
            check_amount(amount, str(charge["currency"]), charge=False)
            if amount > remaining:
                currency = str(charge["currency"])
                raise invalid(
                    f"Refund amount ({shown(amount, currency)}) is greater than unrefunded amount on charge "
                    f"({shown(remaining, currency)})",
                    code="amount_too_large",
                    param="amount",
                )

    # --- GETs, as Stripe answers them ---------------------------------------------------------------
    def _get(self, request: Request, parts: list[str], params: dict[str, str]) -> tuple[int, bytes]:
        resource = parts[1] if len(parts) > 1 else ""
        one = parts[2] if len(parts) > 2 else None
        if resource == "disputes":
            return self._get_disputes(one, params)
        if resource == "balance_transactions" and one in self.balance_transactions:
            return 200, json.dumps(self.balance_transactions[one]).encode()
        if resource == "refunds" and one is not None and one not in self.refunds_made:
            raise invalid(f"No such refund: '{one}'", code="resource_missing", param="id", status=404)
        if (
            resource == "refunds"
            and one is None
            and params.get("payment_intent") not in (None, *self.refunds_made.values())
        ):
            # No refund of that intent: Stripe lists none (localstripe answers 500 for an intent with no charge).
            return 200, json.dumps({"object": "list", "data": [], "has_more": False, "url": "/v1/refunds"}).encode()
        if resource == "payment_intents" and one is None:
            return self._list_intents_newest_first(request, params)
        if resource == "payment_intents" and one == "search":
            return self._search_intents(request, params)
        query = request.query_string.decode()
        if resource == "charges" and one is None and "payment_intent" in params:
            query = urlencode({"limit": 100})
        status, body, _ = self._forward(request, b"", query)
        if status != 200:
            return status, body
        data = json.loads(body)
        expand = [v for k, v in params.items() if k.startswith("expand")]
        shape: Callable[[dict[str, Any]], dict[str, Any]] | None = {
            "payment_intents": lambda o: self.intent_as_stripe(o, expand),
            "charges": self.charge_as_stripe,
            "refunds": self.refund_as_stripe,
        }.get(resource)
        if data.get("object") == "list":
            data.pop("total_count", None)  # localstripe's; Stripe's lists have none
            items = data.get("data", [])
            if resource == "refunds":
                items = [r for r in items if r["id"] in self.refunds_made]
            if resource == "charges" and "payment_intent" in params:
                items = [c for c in items if c.get("payment_intent") == params["payment_intent"]]
            if resource == "balance_transactions":
                items = sorted(
                    items + list(self.balance_transactions.values()), key=lambda t: -int(t.get("created", 0))
                )
            data["data"] = [shape(item) for item in items] if shape else items
        elif shape:
            data = shape(data)
        return 200, json.dumps(data).encode()

    def _search_intents(self, request: Request, params: dict[str, str]) -> tuple[int, bytes]:
        """``GET /v1/payment_intents/search`` (localstripe has no search): the intents matching the query's
        clauses among those made at least ``search_lag`` seconds ago, newest first, paged by ``page``."""
        terms = search_terms(params.get("query"))
        indexed_until = time.time() - self.search_lag
        indexed = [intent for intent in self._every_intent(request) if int(intent.get("created", 0)) <= indexed_until]
        found = [shaped for shaped in map(self.intent_as_stripe, indexed) if matches(shaped, terms)]
        start = int(params["page"].removeprefix("page_")) if params.get("page", "").startswith("page_") else 0
        limit = min(max(int(params.get("limit") or 10), 1), 100)
        more = len(found) > start + limit
        result = {
            "object": "search_result",
            "data": found[start : start + limit],
            "has_more": more,
            "next_page": f"page_{start + limit}" if more else None,
            "url": "/v1/payment_intents/search",
        }
        return 200, json.dumps(result).encode()

    def _every_intent(self, request: Request) -> list[dict[str, Any]]:
        """localstripe's intents, newest first (it keeps creation order)."""
        every: list[dict[str, Any]] = []
        query: dict[str, Any] = {"limit": 100}
        while True:
            headers = {"Authorization": request.headers.get("Authorization", "")}
            answer = self._http().get(self.upstream + "/v1/payment_intents", params=query, headers=headers, timeout=30)
            if answer.status_code != 200:
                error = _error_of(answer.content)
                raise StripeRefusal(answer.status_code, error.get("type") or "api_error", error.get("message") or "")
            page = answer.json()
            every.extend(page.get("data", []))
            if not page.get("has_more") or not page.get("data"):
                break
            query["starting_after"] = page["data"][-1]["id"]
        every.reverse()
        return every

    def _list_intents_newest_first(self, request: Request, params: dict[str, str]) -> tuple[int, bytes]:
        """``GET /v1/payment_intents`` as Stripe pages it: newest first (localstripe lists oldest first,
        so code that looks for a recent intent by paging would find it only after every older one)."""
        every = self._every_intent(request)
        for name, test in CREATED_FILTERS:
            if name in params:
                every = [intent for intent in every if test(int(intent.get("created", 0)), int(params[name]))]
        if params.get("starting_after"):
            ids = [intent["id"] for intent in every]
            if params["starting_after"] not in ids:
                raise invalid(f"No such payment_intent: '{params['starting_after']}'", param="starting_after")
            every = every[ids.index(params["starting_after"]) + 1 :]
        limit = min(max(int(params.get("limit") or 10), 1), 100)
        expand = [v for k, v in params.items() if k.startswith("expand")]
        listed = {
            "object": "list",
            "data": [self.intent_as_stripe(intent, expand) for intent in every[:limit]],
            "has_more": len(every) > limit,
            "url": "/v1/payment_intents",
        }
        return 200, json.dumps(listed).encode()

    def _disputes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(d)) for d in self.disputes.values()]

    def _get_disputes(self, one: str | None, params: dict[str, str]) -> tuple[int, bytes]:
        if one is not None:
            with self._lock:
                dispute = self.disputes.get(one)
            if dispute is None:
                raise invalid(f"No such dispute: '{one}'", code="resource_missing", param="dispute", status=404)
            return 200, json.dumps(dispute).encode()
        items = sorted(self._disputes(), key=lambda d: -int(d["created"]))
        filters: tuple[tuple[str, Callable[[dict[str, Any], str], bool]], ...] = (
            ("payment_intent", lambda d, v: d["payment_intent"] == v),
            ("charge", lambda d, v: d["charge"] == v),
        )
        for name, test in filters:
            if name in params:
                items = [d for d in items if test(d, params[name])]
        for name, compare in CREATED_FILTERS:
            if name in params:
                items = [d for d in items if compare(int(d["created"]), int(params[name]))]
        if "starting_after" in params:
            ids = [d["id"] for d in items]
            items = items[ids.index(params["starting_after"]) + 1 :] if params["starting_after"] in ids else []
        limit = as_int(params.get("limit")) or 10
        page = {"object": "list", "url": "/v1/disputes", "has_more": len(items) > limit, "data": items[:limit]}
        return 200, json.dumps(page).encode()

    def intent_as_stripe(self, intent: dict[str, Any], expand: list[str] | None = None) -> dict[str, Any]:
        shaped = dict(intent)
        shaped.pop("charges", None)
        latest = shaped.get("latest_charge")
        if isinstance(latest, dict) and "latest_charge" not in (expand or []):
            shaped["latest_charge"] = latest["id"]
        elif isinstance(latest, dict):
            shaped["latest_charge"] = self.charge_as_stripe(latest)
        with self._lock:
            overlay = dict(self.intents.get(str(intent["id"]), {}))
        shaped["cancellation_reason"] = overlay.get("cancellation_reason") if shaped["status"] == "canceled" else None
        shaped["canceled_at"] = overlay.get("canceled_at") if shaped["status"] == "canceled" else None
        shaped["amount_capturable"] = shaped["amount"] if shaped["status"] == "requires_capture" else 0
        shaped["payment_method_types"] = shaped.get("allowed_payment_method_types") or ["card"]
        shaped.setdefault("description", None)
        return shaped

    def charge_as_stripe(self, charge: dict[str, Any]) -> dict[str, Any]:
        """A charge at this API version: no ``refunds`` list (gone since 2022-11-15), what was captured in
        ``amount_captured``, and only real refunds (not a partial capture's released remainder, not a
        refund that failed) in ``amount_refunded``."""
        shaped = dict(charge)
        listed = (shaped.pop("refunds", None) or {}).get("data", [])
        with self._lock:
            made = set(self.refunds_made)
            failed = set(self.refunds_failed)
            disputed = any(d["charge"] == charge["id"] for d in self.disputes.values())
        released = sum(int(r["amount"]) for r in listed if r["id"] not in made)
        refunded = sum(int(r["amount"]) for r in listed if r["id"] in made and r["id"] not in failed)
        captured = int(shaped["amount"]) - released if shaped.get("captured") else 0
        shaped["amount_captured"] = captured
        shaped["amount_refunded"] = refunded
        shaped["refunded"] = captured > 0 and refunded >= captured
        shaped["disputed"] = disputed
        return shaped

    def refund_as_stripe(self, refund: dict[str, Any]) -> dict[str, Any]:
        shaped = dict(refund)
        shaped.pop("date", None)
        with self._lock:
            shaped["payment_intent"] = shaped.get("payment_intent") or self.refunds_made.get(str(refund["id"]))
            shaped |= self.refunds_failed.get(str(refund["id"]), {})
        shaped.setdefault("reason", None)
        shaped.setdefault("failure_reason", None)
        return shaped

    def current(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """The object as a GET would return it now."""
        if kind == "dispute":
            with self._lock:
                found = self.disputes.get(object_id)
                return json.loads(json.dumps(found)) if found else None
        raw = self.upstream_get(f"/v1/{kind}s/{object_id}")
        if raw is None:
            return None
        shape: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "payment_intent": self.intent_as_stripe,
            "charge": self.charge_as_stripe,
            "refund": self.refund_as_stripe,
        }
        return shape[kind](raw)

    # --- events -------------------------------------------------------------------------------------
    def emit(
        self, event_type: str, kind: str, object_id: str, origin: dict[str, Any] | None, *, after: float = 0
    ) -> str:
        obj = self.current(kind, object_id)
        event_id = new_id("evt_")
        event: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": self.version,
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": origin or {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
        with self._lock:
            self.deliveries[event_id] = Delivery(event, object_id)
        deferred = getattr(self._local, "deferred", None)
        if deferred is not None:  # inside an API request: after its answer
            deferred.append((event_id, FIRST_DELIVERY_DELAY + after))
        else:
            self._schedule(event_id, FIRST_DELIVERY_DELAY + after, 0)
        return event_id

    def _schedule(self, event_id: str, delay: float, attempt: int) -> None:
        with self._wake:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._seq), event_id, attempt))
            self._wake.notify()

    def _deliver_forever(self) -> None:
        while not self._stopping.is_set():
            with self._wake:
                while not self._stopping.is_set() and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._wake.wait(timeout=timeout)
                if self._stopping.is_set():
                    return
                _, _, event_id, attempt = heapq.heappop(self._queue)
            try:
                self._attempt(event_id, attempt)
            except Exception as error:  # a delivery thread never dies
                self.log(f"[stripe] delivery of {event_id} broke: {type(error).__name__}")

    def _dropped(self, delivery: Delivery) -> bool:
        with self._lock:
            for rule in self.drop_rules:
                if rule["count"] > 0 and rule["type"] in (None, delivery.event["type"]):
                    rule["count"] -= 1
                    delivery.dropped = True
                    delivery.status = "dropped"
                    return True
        return False

    def _attempt(self, event_id: str, attempt: int) -> None:
        with self._lock:
            delivery = self.deliveries[event_id]
            targets = list(self.webhooks.values())
        if attempt == 0 and delivery.attempts == [] and self._dropped(delivery):
            self.log(f"[stripe] {event_id} {delivery.event['type']} dropped on purpose")
            return
        payload = json.dumps(delivery.event).encode()
        statuses: list[int | str] = []
        for url, secret in targets:
            stamp = int(time.time())
            signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": f"t={stamp},v1={signature}",
            }
            try:
                answer = requests.post(url, data=payload, headers=headers, timeout=30)
                statuses.append(answer.status_code)
            except requests.RequestException as error:
                statuses.append(type(error).__name__)
        ok = bool(statuses) and all(isinstance(s, int) and 200 <= s < 300 for s in statuses)
        with self._lock:
            delivery.attempts.append({"at": time.time(), "status": statuses})
            delivery.status = "delivered" if ok else "pending"
            if not ok and attempt >= len(self.retry_delays):
                delivery.status = "failed"
        self.log(f"[stripe] webhook {delivery.event['type']} {event_id} -> {statuses} (attempt {attempt + 1})")
        if not ok and attempt < len(self.retry_delays):
            self._schedule(event_id, self.retry_delays[attempt], attempt + 1)

    def _config_webhook(self, request: Request, hook_id: str) -> Response:
        url, secret = request.form.get("url"), request.form.get("secret")
        if not url or not secret or not url.startswith("http"):
            return Response(json.dumps({"error": {"message": "url and secret needed"}}), status=400)
        with self._lock:
            self.webhooks[hook_id] = (url, secret)
        registered = self.upstream_post(
            f"/_config/webhooks/{hook_id}",
            {"url": f"{self.url}/_strict/inbound/{hook_id}", "secret": self.inbound_secret},
        )
        return Response(status=registered.status_code)

    def _inbound(self, request: Request) -> Response:
        """localstripe's own events: re-sent as Stripe's (envelope, current object, our signature)."""
        event = json.loads(request.get_data() or b"{}")
        obj = (event.get("data") or {}).get("object") or {}
        kind = str(obj.get("object") or "")
        if kind in ("payment_intent", "charge", "refund") and obj.get("id"):
            self.emit(str(event["type"]), kind, str(obj["id"]), None)
        return Response(status=200)

    # --- controls -----------------------------------------------------------------------------------
    def _control(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")[1:]
        form = request.form
        try:
            answer = self._run_control(request.method, parts, form)
        except StripeRefusal as refusal:
            return Response(json.dumps(refusal.body()), status=refusal.status, content_type="application/json")
        return Response(json.dumps(answer, default=str), content_type="application/json")

    def _run_control(self, method: str, parts: list[str], form: Any) -> Any:
        if method == "GET" and parts == ["requests"]:
            with self._lock:
                return {"data": json.loads(json.dumps(self.requests))}
        if method == "GET" and parts == ["events"]:
            with self._lock:
                return {"data": [self._delivery_view(eid, d) for eid, d in self.deliveries.items()]}
        if method != "POST":
            raise invalid("Unknown control", status=404)
        match parts:
            case ["events", event_id, "resend"]:
                with self._lock:
                    if event_id not in self.deliveries:
                        raise invalid(f"No such event: {event_id}", status=404)
                    self.deliveries[event_id].status = "pending"
                self._schedule(event_id, 0, 1)
                return {"resent": event_id}
            case ["webhooks", "drop"]:
                rule = {"count": int(form.get("count", 1)), "type": form.get("type") or None}
                with self._lock:
                    self.drop_rules.append(rule)
                return rule
            case ["answers", "lose"]:
                rule = {
                    "method": form.get("method", "POST").upper(),
                    "path": form["path"],
                    "count": int(form.get("count", 1)),
                }
                with self._lock:
                    self.lose_rules.append(rule)
                return rule
            case ["refunds", refund_id, "fail"]:
                return self._fail_refund(refund_id, form.get("failure_reason", "lost_or_stolen_card"))
            case ["payment_intents", intent_id, "dispute"]:
                return self._open_dispute(
                    intent_id, form.get("reason", "fraudulent"), inquiry=form.get("inquiry") == "true"
                )
            case ["disputes", dispute_id, "close"]:
                reinstate = form.get("reinstate")
                return self._close_dispute(
                    dispute_id, form.get("outcome", ""), int(reinstate) if reinstate is not None else None
                )
            case ["disputes", dispute_id, "appeal"]:
                return self._appeal_dispute(dispute_id)
            case ["payment_intents", intent_id, "authenticate"]:
                return self._authenticate(intent_id, form.get("outcome", "succeeded"))
            case ["payment_intents", intent_id, "expire"]:
                return self._expire(intent_id)
            case ["search"]:
                self.search_lag = float(form.get("lag_seconds", SEARCH_LAG_SECONDS))
                return {"lag_seconds": self.search_lag}
            case ["payment_intents", intent_id, "confirm_again"]:
                return self._confirm_again(intent_id, form.get("payment_method", "pm_card_visa"))
        raise invalid("Unknown control", status=404)

    def _delivery_view(self, event_id: str, delivery: Delivery) -> dict[str, Any]:
        return {
            "id": event_id,
            "type": delivery.event["type"],
            "object_id": delivery.object_id,
            "created": delivery.event["created"],
            "request": delivery.event["request"],
            "status": delivery.status,
            "dropped": delivery.dropped,
            "attempts": delivery.attempts,
        }

    def _fail_refund(self, refund_id: str, reason: str) -> dict[str, Any]:
        refund = self.current("refund", refund_id) if refund_id in self.refunds_made else None
        if refund is None:
            raise invalid(f"No such refund: '{refund_id}'", status=404)
        if refund["status"] != "succeeded":
            raise invalid(f"Refund {refund_id} is {refund['status']}, not succeeded")
        reversal = self._balance_transaction(
            int(refund["amount"]), str(refund["currency"]), refund_id, "refund_failure"
        )
        with self._lock:
            self.refunds_failed[refund_id] = {
                "status": "failed",
                "failure_reason": reason,
                "failure_balance_transaction": reversal["id"],
            }
        self.emit("refund.updated", "refund", refund_id, None)
        self.emit("refund.failed", "refund", refund_id, None, after=0.05)
        return self.current("refund", refund_id) or {}

    def _balance_transaction(
        self, amount: int, currency: str, source: str, category: str, fee: int = 0
    ) -> dict[str, Any]:
        """A balance transaction of ``amount`` in ``currency`` (a charge's), as Stripe states it: in the
        account's settlement currency (USD here), converted at ``exchange_rate``; the fee in USD."""
        now = int(time.time())
        in_settlement, rate = settled(amount, currency)
        currency = "usd"
        txn = {
            "id": new_id("txn_"),
            "object": "balance_transaction",
            "amount": in_settlement,
            "available_on": now,
            "created": now,
            "currency": currency,
            "description": category.replace("_", " "),
            "exchange_rate": rate,
            "fee": fee,
            "fee_details": [{"amount": fee, "currency": currency, "description": "Dispute fee", "type": "stripe_fee"}]
            if fee
            else [],
            "net": in_settlement - fee,
            "reporting_category": category,
            "source": source,
            "status": "available",
            "type": "adjustment",
        }
        with self._lock:
            self.balance_transactions[str(txn["id"])] = txn
        return txn

    def _open_dispute(self, intent_id: str, reason: str, *, inquiry: bool = False) -> dict[str, Any]:
        """A chargeback (funds withdrawn at once, the charge no longer refundable), or an ``inquiry``: the
        bank asks first (``warning_needs_response``), nothing is withdrawn, and the charge can still be
        refunded (``is_charge_refundable``)."""
        intent = self.current("payment_intent", intent_id)
        if intent is None or intent["status"] != "succeeded" or not intent.get("latest_charge"):
            raise invalid(f"PaymentIntent {intent_id} has no captured charge to dispute")
        charge = self.current("charge", str(intent["latest_charge"])) or {}
        dispute_id = new_id("dp_")
        amount = int(charge["amount_captured"])
        currency = str(charge["currency"])
        withdrawals = [] if inquiry else [self._balance_transaction(-amount, currency, dispute_id, "dispute", 1500)]
        now = int(time.time())
        dispute = {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "balance_transactions": withdrawals,
            "charge": charge["id"],
            "created": now,
            "currency": currency,
            "evidence": {},
            "evidence_details": {
                "due_by": now + 7 * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": inquiry,
            "livemode": False,
            "metadata": {},
            "payment_intent": intent_id,
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "network_reason_code": "10.4"}},
            "reason": reason,
            "status": "warning_needs_response" if inquiry else "needs_response",
        }
        with self._lock:
            self.disputes[dispute_id] = dispute
        self.emit("charge.dispute.created", "dispute", dispute_id, None)
        if not inquiry:
            self.emit("charge.dispute.funds_withdrawn", "dispute", dispute_id, None, after=0.05)
        return self.current("dispute", dispute_id) or {}

    def _close_dispute(self, dispute_id: str, outcome: str, reinstate: int | None = None) -> dict[str, Any]:
        """Decides a dispute (or its appeal): won, the rest of its amount comes back; lost, nothing does,
        or only ``reinstate`` of it (in the charge's currency): Stripe's "partially won" when part of the
        charge had been refunded before, which keeps the status ``lost``."""
        if outcome not in ("won", "lost"):
            raise invalid("outcome must be won or lost", param="outcome")
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise invalid(f"No such dispute: '{dispute_id}'", status=404)
            if dispute["status"] in ("won", "lost"):
                raise invalid(f"Dispute {dispute_id} is already closed ({dispute['status']})")
            amount = int(dispute["amount"])
            already = self.dispute_reinstated.get(dispute_id, 0)
        back = amount - already if outcome == "won" else int(reinstate or 0)
        if outcome == "lost" and not 0 <= back < amount - already:
            raise invalid("reinstate must be less than what is still withdrawn", param="reinstate")
        if back:
            reinstated = self._balance_transaction(back, str(dispute["currency"]), dispute_id, "dispute_reversal")
            with self._lock:
                dispute["balance_transactions"].append(reinstated)
                self.dispute_reinstated[dispute_id] = already + back
        with self._lock:
            dispute["status"] = outcome
        if back:
            self.emit("charge.dispute.funds_reinstated", "dispute", dispute_id, None)
        self.emit("charge.dispute.closed", "dispute", dispute_id, None, after=0.05 if back else 0)
        return self.current("dispute", dispute_id) or {}

    def _appeal_dispute(self, dispute_id: str) -> dict[str, Any]:
        """The merchant appeals a lost dispute (API version 2026-10-28.endive, where enabled):
        ``appeal_needs_response``, then, once evidence is in, ``appeal_under_review``; ``close`` decides it."""
        steps = {"lost": "appeal_needs_response", "appeal_needs_response": "appeal_under_review"}
        with self._lock:
            dispute = self.disputes.get(dispute_id)
            if dispute is None:
                raise invalid(f"No such dispute: '{dispute_id}'", status=404)
            if dispute["status"] not in steps or (dispute["status"] == "lost" and dispute_id in self.disputes_appealed):
                raise invalid(f"Dispute {dispute_id} cannot be appealed ({dispute['status']})")
            dispute["status"] = steps[dispute["status"]]
            self.disputes_appealed.add(dispute_id)
        self.emit("charge.dispute.updated", "dispute", dispute_id, None)
        return self.current("dispute", dispute_id) or {}

    def _authenticate(self, intent_id: str, outcome: str) -> dict[str, Any]:
        if outcome not in ("succeeded", "failed"):
            raise invalid("outcome must be succeeded or failed", param="outcome")
        raw = self.upstream_get(f"/v1/payment_intents/{intent_id}")
        if raw is None or raw["status"] != "requires_action":
            raise invalid(f"PaymentIntent {intent_id} is not waiting for authentication")
        answer = self.upstream_post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            {"client_secret": raw["client_secret"], "success": "true" if outcome == "succeeded" else "false"},
        )
        if answer.status_code >= 400 and outcome == "succeeded":  # a decline after authentication
            self.emit("payment_intent.payment_failed", "payment_intent", intent_id, None)
            return self.current("payment_intent", intent_id) or {}
        intent = self.current("payment_intent", intent_id) or {}
        if outcome == "failed":
            self.emit("payment_intent.payment_failed", "payment_intent", intent_id, None)
        elif intent.get("status") == "requires_capture":
            self.emit("payment_intent.amount_capturable_updated", "payment_intent", intent_id, None)
        # automatic capture: localstripe's own payment_intent.succeeded passes through, once
        return intent

    def _confirm_again(self, intent_id: str, payment_method: str) -> dict[str, Any]:
        """What the customer's browser can do with the intent's client secret (Stripe.js
        ``confirmCardPayment``) after an attempt failed (a 3-D Secure challenge failed, a card declined):
        confirm the same intent again with another payment method. Stripe allows it while the intent is
        ``requires_payment_method``, and refuses it once the intent is canceled."""
        raw = self.upstream_get(f"/v1/payment_intents/{intent_id}")
        if raw is None:
            raise invalid(f"No such payment_intent: '{intent_id}'", code="resource_missing", status=404)
        if raw["status"] != "requires_payment_method":
            raise invalid(
                f"You cannot confirm this PaymentIntent because it has a status of {raw['status']}.",
                code="payment_intent_unexpected_state",
            )
        updated = self.upstream_post(f"/v1/payment_intents/{intent_id}", {"payment_method": payment_method})
        if updated.status_code != 200:
            raise invalid(f"localstripe refused the payment method {payment_method}")
        confirmed = self.upstream_post(f"/v1/payment_intents/{intent_id}/confirm")
        if confirmed.status_code >= 400:  # declined again
            self.emit("payment_intent.payment_failed", "payment_intent", intent_id, None)
        # succeeded: localstripe's own payment_intent.succeeded passes through, once
        return self.current("payment_intent", intent_id) or {}

    def _expire(self, intent_id: str) -> dict[str, Any]:
        raw = self.upstream_get(f"/v1/payment_intents/{intent_id}")
        if raw is None or raw["status"] != "requires_capture":
            raise invalid(f"PaymentIntent {intent_id} is not a hold waiting for capture")
        canceled = self.upstream_post(f"/v1/payment_intents/{intent_id}/cancel")
        if canceled.status_code != 200:
            raise invalid(f"localstripe refused to cancel {intent_id}")
        with self._lock:
            self.intents[intent_id] = {"cancellation_reason": "expired", "canceled_at": int(time.time())}
        self.emit("payment_intent.canceled", "payment_intent", intent_id, None)
        return self.current("payment_intent", intent_id) or {}


def _redacted(key: str, value: str) -> str:
    """A card's number or code is not kept in the record (test cards, but the habit matters)."""
    if key.endswith(("[number]", "[cvc]")):
        return "..." + value[-4:] if key.endswith("[number]") else "***"
    return value


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}
