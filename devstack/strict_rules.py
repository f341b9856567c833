"""What the strict Stripe refuses, as plain functions (no server, no network): unknown parameters read
from the installed SDK's params TypedDicts, Stripe's idempotency keys, and its amount rules.

The reference is Stripe at the API version the SDK pins; nothing here imports payments_core, which is
what it checks. Sources: https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/error-codes,
https://docs.stripe.com/currencies.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

# --- errors, as Stripe writes them -------------------------------------------------------------------


@dataclass
class StripeRefusal(Exception):
    status: int
    type: str
    message: str
    code: str | None = None
    param: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = "https://stripe.com/docs/error-codes/" + self.code.replace("_", "-")
        if self.param:
            error["param"] = self.param
        return {"error": error | self.extra}


def invalid(message: str, *, code: str | None = None, param: str | None = None, status: int = 400) -> StripeRefusal:
    return StripeRefusal(status, "invalid_request_error", message, code, param)


# --- parameters: the SDK's params TypedDicts -----------------------------------------------------------

# (method, path pattern, params TypedDict in stripe.params) for every endpoint our code and tests call.
ENDPOINTS: list[tuple[str, str, str]] = [
    ("POST", r"/v1/payment_intents", "PaymentIntentCreateParams"),
    ("GET", r"/v1/payment_intents", "PaymentIntentListParams"),
    ("GET", r"/v1/payment_intents/search", "PaymentIntentSearchParams"),
    ("GET", r"/v1/payment_intents/[^/]+", "PaymentIntentRetrieveParams"),
    ("POST", r"/v1/payment_intents/[^/]+", "PaymentIntentUpdateParams"),
    ("POST", r"/v1/payment_intents/[^/]+/confirm", "PaymentIntentConfirmParams"),
    ("POST", r"/v1/payment_intents/[^/]+/capture", "PaymentIntentCaptureParams"),
    ("POST", r"/v1/payment_intents/[^/]+/cancel", "PaymentIntentCancelParams"),
    ("POST", r"/v1/refunds", "RefundCreateParams"),
    ("GET", r"/v1/refunds", "RefundListParams"),
    ("GET", r"/v1/refunds/[^/]+", "RefundRetrieveParams"),
    ("GET", r"/v1/charges", "ChargeListParams"),
    ("GET", r"/v1/charges/[^/]+", "ChargeRetrieveParams"),
    ("GET", r"/v1/disputes", "DisputeListParams"),
    ("GET", r"/v1/disputes/[^/]+", "DisputeRetrieveParams"),
    ("GET", r"/v1/balance_transactions", "BalanceTransactionListParams"),
    ("GET", r"/v1/balance_transactions/[^/]+", "BalanceTransactionRetrieveParams"),
    ("GET", r"/v1/balance", "BalanceRetrieveParams"),
    ("POST", r"/v1/payment_methods", "PaymentMethodCreateParams"),
    ("GET", r"/v1/payment_methods/[^/]+", "PaymentMethodRetrieveParams"),
    ("GET", r"/v1/events", "EventListParams"),
    ("GET", r"/v1/events/[^/]+", "EventRetrieveParams"),
]
# Request options every params TypedDict inherits from RequestOptions: sent as headers, never as form fields.
_REQUEST_OPTIONS = frozenset(
    {
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
    }
)
_FREE_FORM = frozenset({"Dict", "Mapping", "UntypedStripeObject", "Any"})
_LISTS = frozenset({"List", "Sequence"})
# Endpoints where Stripe answers 400 payment_method_types_no_longer_supported (changelog 2026-09-30.endive).
_PAYMENT_METHOD_TYPES_REMOVED = ("PaymentIntentCreateParams", "PaymentIntentConfirmParams", "PaymentIntentUpdateParams")


def endpoint_params(method: str, path: str) -> str | None:
    """The name of the params TypedDict of ``method path``, or None for an endpoint not mapped."""
    for verb, pattern, name in ENDPOINTS:
        if verb == method and re.fullmatch(pattern, path):
            return name
    return None


@dataclass
class Shape:
    """What a parameter may hold: named fields (a TypedDict), anything (metadata), or a plain value."""

    fields: dict[str, Any] | None = None  # name -> annotation, resolved on first use
    namespace: dict[str, Any] = field(default_factory=dict)
    free: bool = False
    is_list: bool = False


def _is_typeddict(value: Any) -> TypeGuard[type]:
    return isinstance(value, type) and issubclass(value, dict) and hasattr(value, "__required_keys__")


def _shape_of(annotation: Any, namespace: dict[str, Any]) -> Shape:
    """The shape of a field's annotation. Annotations are forward references (strings) to names in the
    params module, so the annotation's text is read and its names are looked up in that module."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    is_list = bool(names & _LISTS)
    if names & _FREE_FORM:
        return Shape(free=True, is_list=is_list)
    fields: dict[str, Any] = {}
    found = False
    for name in names:
        candidate = namespace.get(name) or _params_namespace().get(name)
        if _is_typeddict(candidate):
            found = True
            fields.update(_annotations(candidate))
            namespace = {**namespace, **vars(sys.modules[candidate.__module__])}
    if found:
        return Shape(fields=fields, namespace=namespace, is_list=is_list)
    return Shape(is_list=is_list)


def _annotations(cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(getattr(klass, "__annotations__", {}) or {})
    return merged


def _params_namespace() -> dict[str, Any]:
    import stripe.params

    return vars(stripe.params)


def top_shape(params_name: str) -> Shape | None:
    import stripe.params

    cls = getattr(stripe.params, params_name, None)
    if not _is_typeddict(cls):
        return None
    fields = {k: v for k, v in _annotations(cls).items() if k not in _REQUEST_OPTIONS}
    return Shape(fields=fields, namespace=dict(vars(sys.modules[cls.__module__])))


def split_key(key: str) -> list[str]:
    """``a[b][0][]`` -> ``["a", "b", "0", ""]``."""
    head, _, rest = key.partition("[")
    return [head, *re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [head]


def _name(parts: list[str]) -> str:
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])


def _resolve(top: Shape, key: str) -> tuple[str | None, Any]:
    """Walks a form key (``a[b][0]``) through the params: the first part not declared (its name), or
    None and the annotation of the field the key sets (a list's element; None when free-form, metadata)."""
    parts = split_key(key)
    shape, annotation = top, None
    for index, part in enumerate(parts):
        if shape.free:
            return None, None
        if (part == "" or part.isdigit()) and shape.is_list and index > 0:
            continue
        if shape.fields is None or part not in shape.fields:
            return _name(parts[: index + 1]), None
        annotation = shape.fields[part]
        shape = _shape_of(annotation, shape.namespace)
    return None, annotation


def unknown_parameter(params_name: str, keys: Iterable[str]) -> str | None:
    """The first form key (nested too) that ``params_name`` does not declare, or None."""
    top = top_shape(params_name)
    if top is None:
        return None
    for key in keys:
        unknown, _ = _resolve(top, key)
        if unknown is not None:
            return unknown
    return None


def _literal_values(annotation: Any) -> frozenset[str] | None:
    """The values a field's ``Literal[...]`` lists (the SDK adds ``|str`` to every such field for values
    newer than itself; the API version takes the listed ones), or None for a field that lists none."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    found = re.search(r"Literal\[([^\]]*)\]", text)
    if found is None:
        return None
    # Only a field whose other alternatives are the SDK's ``str`` is enumerated: ``Literal['']|int``
    # (an empty string unsets an amount) takes any integer too.
    rest = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.replace(found.group(0), "")))
    if rest - {"NotRequired", "ForwardRef", "typing", "Union", "List", "Optional", "str"}:
        return None
    values = frozenset(re.findall(r"'([^']*)'", found.group(1)))
    return None if values <= {""} else values  # ``Literal['']|str``: any string, or '' to unset


METADATA_MAX_KEYS = 50
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500


def check_values(method: str, path: str, params: list[tuple[str, str]]) -> None:
    """Stripe's 400 for a value the endpoint does not take: one its params TypedDict does not list for
    an enumerated field (a ``capture_method``, a refund's ``reason``, a ``cancellation_reason``), and
    metadata beyond Stripe's limits (50 keys, keys of 40 characters, values of 500)."""
    params_name = endpoint_params(method, path)
    top = top_shape(params_name) if params_name is not None else None
    if top is None:
        return
    split = [(split_key(key), key, value) for key, value in params]
    metadata = {parts[1]: value for parts, _, value in split if parts[0] == "metadata" and len(parts) > 1}
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid(f"You can have up to {METADATA_MAX_KEYS} metadata keys.", param="metadata")
    for name, value in metadata.items():
        if len(name) > METADATA_KEY_MAX:
            raise invalid(
                f"Metadata keys can have up to {METADATA_KEY_MAX} characters; {name[:40]}... has {len(name)}.",
                param=f"metadata[{name[:40]}]",
            )
        if len(value) > METADATA_VALUE_MAX:
            raise invalid(
                f"Metadata values can have up to {METADATA_VALUE_MAX} characters, but you passed in a value "
                f"that is {len(value)} characters.",
                param=f"metadata[{name}]",
            )
    for parts, key, value in split:
        if parts[0] == "metadata":
            continue
        allowed = _literal_values(_resolve(top, key)[1])
        if allowed and value not in allowed:
            raise invalid(f"Invalid {parts[0]}: must be one of {', '.join(sorted(allowed))}", param=key)


def check_parameters(method: str, path: str, keys: list[str]) -> None:
    """Raises Stripe's 400 for a parameter the endpoint does not take at the pinned version."""
    params_name = endpoint_params(method, path)
    if params_name is None:
        return
    if params_name in _PAYMENT_METHOD_TYPES_REMOVED and any(split_key(k)[0] == "payment_method_types" for k in keys):
        raise invalid(
            "The `payment_method_types` parameter is no longer supported at this API version. "
            "Use `allowed_payment_method_types` (or `automatic_payment_methods`) instead.",
            code="payment_method_types_no_longer_supported",
            param="payment_method_types",
        )
    unknown = unknown_parameter(params_name, keys)
    if unknown is not None:
        raise invalid(f"Received unknown parameter: {unknown}", code="parameter_unknown", param=unknown)


# --- search: https://docs.stripe.com/search ------------------------------------------------------------

# Stripe: "Under normal operating conditions, data is searchable in less than 1 minute" (longer during an
# outage); search is not for read-after-write flows.
SEARCH_LAG_SECONDS = 60.0
_SEARCH_CLAUSE = re.compile(
    r"""^(?:metadata\[(?P<q1>['"])(?P<key>[^'"\[\]]{1,40})(?P=q1)\]|(?P<field>status|currency)):"""
    r"""(?P<q2>['"])(?P<value>[^'"]*)(?P=q2)$"""
)


def search_terms(query: str | None) -> list[tuple[str, str]]:
    """A search query's exact-match clauses joined by AND, as (field, value): ``metadata.<key>``,
    ``status`` or ``currency``. What this layer does not emulate (OR, negation, ranges, other fields)
    is refused, never answered wrongly."""
    if not query:
        raise invalid("Missing required param: query.", code="parameter_missing", param="query")
    clauses = query.split(" AND ")
    if len(clauses) > 10:
        raise invalid("A search query may contain at most 10 clauses.", param="query")
    terms = []
    for clause in clauses:
        found = _SEARCH_CLAUSE.match(clause.strip())
        if found is None:
            raise invalid(f"The strict local Stripe does not emulate this search clause: {clause!r}", param="query")
        name = f"metadata.{found['key']}" if found["key"] else str(found["field"])
        terms.append((name, found["value"]))
    return terms


def matches(obj: dict[str, Any], terms: list[tuple[str, str]]) -> bool:
    for name, value in terms:
        got = (obj.get("metadata") or {}).get(name[9:]) if name.startswith("metadata.") else obj.get(name)
        if got is None or str(got) != value:
            return False
    return True


# --- idempotency keys ----------------------------------------------------------------------------------

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass
class Stored:
    endpoint: str
    params: list[tuple[str, str]]
    at: float
    answer: tuple[int, bytes, str] | None = None  # status, body, request id; None while in progress


@dataclass
class IdempotencyKeys:
    """Stripe's idempotent requests: a key's first answer is replayed for 24 h to the same request; the
    same key with other parameters or on another endpoint is refused (400 idempotency_error); while the
    first is still running, 409 idempotency_key_in_use. Refused validation is never stored."""

    clock: Callable[[], float] = time.time
    _keys: dict[str, Stored] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, key: str, endpoint: str, params: list[tuple[str, str]]) -> Stored | None:
        """None: go ahead (then ``finish`` or ``abandon``); a Stored: replay its answer."""
        with self._lock:
            now = self.clock()
            seen = self._keys.get(key)
            if seen is not None and now - seen.at >= IDEMPOTENCY_TTL_SECONDS:
                seen = None
            if seen is None:
                self._keys[key] = Stored(endpoint, sorted(params), now)
                return None
            if seen.endpoint != endpoint:
                raise StripeRefusal(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used for the same endpoint they were first used "
                    f"for ('{seen.endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if you meant "
                    "to execute a different request.",
                )
            if seen.params != sorted(params):
                raise StripeRefusal(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                )
            if seen.answer is None:
                raise invalid(
                    "There is currently another in-progress request using this Stripe-Idempotency-Key (that "
                    "probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    code="idempotency_key_in_use",
                    status=409,
                )
            return seen

    def finish(self, key: str, status: int, body: bytes, request_id: str) -> None:
        with self._lock:
            if key in self._keys:
                self._keys[key].answer = (status, body, request_id)

    def abandon(self, key: str) -> None:
        with self._lock:
            stored = self._keys.get(key)
            if stored is not None and stored.answer is None:
                del self._keys[key]


# --- amounts (https://docs.stripe.com/currencies; our own copy, not payments_core's) --------------------

THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
WHOLE_UNITS_WITH_TWO_DECIMALS = frozenset({"isk", "ugx"})
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"}
)
MINIMUM_CHARGE = {
    "usd": 50,
    "aed": 200,
    "ars": 50,
    "aud": 50,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "cop": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "idr": 50,
    "ils": 50,
    "inr": 50,
    "jpy": 50,
    "krw": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "php": 50,
    "pln": 200,
    "ron": 200,
    "rub": 50,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
    "zar": 50,
}
_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}

# The account settles in USD, as a US account does: a charge in another currency moves the balance in
# USD (a balance transaction's ``amount`` is in the settlement currency, with its ``exchange_rate``).
# Made-up but fixed rates (USD per unit of the currency), so tests know what to expect.
SETTLEMENT_CURRENCY = "usd"
USD_PER_UNIT = {"usd": 1.0, "eur": 1.08, "gbp": 1.27, "jpy": 0.0066}


def places(currency: str) -> int:
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def settled(amount: int, currency: str) -> tuple[int, float | None]:
    """``amount`` (minor units of ``currency``) in the settlement currency's minor units, and the
    exchange rate used (None when no conversion was needed), as a balance transaction states them."""
    code = currency.lower()
    if code == SETTLEMENT_CURRENCY:
        return amount, None
    rate = USD_PER_UNIT.get(code, 0.5)
    in_usd = amount / 10 ** places(code) * rate
    return round(in_usd * 10 ** places(SETTLEMENT_CURRENCY)), rate


def shown(amount: int, currency: str) -> str:
    """An amount as Stripe's messages write it: ``$0.50``, ``¥50``, ``15.00 czk``."""
    code = currency.lower()
    digits = places(code)
    number = f"{amount}" if digits == 0 else f"{amount / 10**digits:.{digits}f}"
    return f"{_SYMBOLS[code]}{number}" if code in _SYMBOLS else f"{number} {code}"


def check_amount(amount: int, currency: str, *, charge: bool) -> None:
    """Stripe's 400 for an amount it refuses in ``currency`` (``charge``: charged or captured, so held to
    the minimum charge amount; a refund is not)."""
    code = currency.lower()
    if code in THREE_DECIMAL and amount % 10:
        raise invalid(
            f"Amounts in {code} must be rounded to the nearest ten: the last digit must be 0.",
            code="invalid_charge_amount" if charge else None,
            param="amount",
        )
    if code in WHOLE_UNITS_WITH_TWO_DECIMALS and amount % 100:
        raise invalid(
            f"Amounts in {code} must be evenly divisible by 100: you can't charge fractions of {code.upper()}.",
            code="invalid_charge_amount" if charge else None,
            param="amount",
        )
    minimum = MINIMUM_CHARGE.get(code)
    if charge and minimum is not None and amount < minimum:
        raise invalid(f"Amount must be at least {shown(minimum, code)} {code}", code="amount_too_small", param="amount")


def as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
