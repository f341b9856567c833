"""The strict Stripe's rules, without a server: parameters per the SDK's params TypedDicts, idempotency
keys, and the amounts Stripe refuses (devstack/strict_rules.py)."""

from __future__ import annotations

import pytest

from devstack.strict_rules import (
    ENDPOINTS,
    IDEMPOTENCY_TTL_SECONDS,
    IdempotencyKeys,
    StripeRefusal,
    check_amount,
    check_parameters,
    endpoint_params,
    split_key,
    top_shape,
    unknown_parameter,
)

# What our gateway sends (payments_core/payments/gateway.py), as the SDK form-encodes it.
OUR_CREATE = [
    "amount",
    "currency",
    "payment_method",
    "allowed_payment_method_types[0]",
    "capture_method",
    "confirm",
    "metadata[payment_id]",
    "metadata[user_id]",
    "description",
]


def refusal(call: object, *args: object, **kwargs: object) -> StripeRefusal:
    with pytest.raises(StripeRefusal) as raised:
        call(*args, **kwargs)  # type: ignore[operator]
    return raised.value


def test_every_mapped_endpoint_names_a_params_typeddict_of_the_installed_sdk() -> None:
    assert all(top_shape(name) is not None for _, _, name in ENDPOINTS)


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("POST", "/v1/payment_intents", "PaymentIntentCreateParams"),
        ("GET", "/v1/payment_intents/pi_1", "PaymentIntentRetrieveParams"),
        ("POST", "/v1/payment_intents/pi_1/capture", "PaymentIntentCaptureParams"),
        ("POST", "/v1/payment_intents/pi_1/cancel", "PaymentIntentCancelParams"),
        ("POST", "/v1/refunds", "RefundCreateParams"),
        ("GET", "/v1/refunds", "RefundListParams"),
        ("GET", "/v1/disputes/dp_1", "DisputeRetrieveParams"),
        ("GET", "/v1/nothing", None),
    ],
)
def test_endpoints_map_to_their_params(method: str, path: str, name: str | None) -> None:
    assert endpoint_params(method, path) == name


def test_what_our_gateway_sends_is_taken() -> None:
    check_parameters("POST", "/v1/payment_intents", OUR_CREATE)
    check_parameters("POST", "/v1/refunds", ["payment_intent", "amount", "reason", "metadata[refund_id]"])
    check_parameters("POST", "/v1/payment_intents/pi_1/capture", ["amount_to_capture"])
    check_parameters("GET", "/v1/refunds", ["payment_intent", "limit", "created[gte]", "expand[]"])
    check_parameters(
        "POST", "/v1/payment_methods", ["type", "card[number]", "card[exp_month]", "card[exp_year]", "card[cvc]"]
    )


@pytest.mark.parametrize(
    ("keys", "unknown"),
    [
        (["amount", "bogus"], "bogus"),
        (["automatic_payment_methods[enabled]", "automatic_payment_methods[foo]"], "automatic_payment_methods[foo]"),
        (["amount[x]"], "amount[x]"),
        (["amount_details[line_items][0][product_name]"], None),
        (["amount_details[line_items][0][bogus]"], "amount_details[line_items][0][bogus]"),
        (["idempotency_key"], "idempotency_key"),  # a request option, a header: never a form field
    ],
)
def test_a_parameter_the_typeddict_does_not_declare_is_unknown(keys: list[str], unknown: str | None) -> None:
    assert unknown_parameter("PaymentIntentCreateParams", keys) == unknown


def test_metadata_keys_are_free_form() -> None:
    assert unknown_parameter("PaymentIntentCreateParams", ["metadata[anything]", "metadata[a][b]"]) is None


def test_an_unknown_parameter_is_refused_as_stripe_refuses_it() -> None:
    error = refusal(check_parameters, "POST", "/v1/payment_intents", [*OUR_CREATE, "automatic_payment_methods[foo]"])
    assert error.status == 400
    assert error.body()["error"] | {"doc_url": None} == {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "param": "automatic_payment_methods[foo]",
        "message": "Received unknown parameter: automatic_payment_methods[foo]",
        "doc_url": None,
    }


@pytest.mark.parametrize(
    "path", ["/v1/payment_intents", "/v1/payment_intents/pi_1", "/v1/payment_intents/pi_1/confirm"]
)
def test_payment_method_types_is_no_longer_supported(path: str) -> None:
    error = refusal(check_parameters, "POST", path, ["payment_method_types[0]"])
    assert (error.status, error.code, error.param) == (
        400,
        "payment_method_types_no_longer_supported",
        "payment_method_types",
    )


def test_split_key() -> None:
    assert split_key("a") == ["a"]
    assert split_key("a[b][0][]") == ["a", "b", "0", ""]


# --- idempotency -------------------------------------------------------------------------------------


def test_the_same_key_and_parameters_replay_the_first_answer_for_24_hours() -> None:
    now = [1_000.0]
    keys = IdempotencyKeys(clock=lambda: now[0])
    assert keys.begin("k", "POST /v1/refunds", [("amount", "5"), ("payment_intent", "pi_1")]) is None
    keys.finish("k", 200, b"{}", "req_1")
    now[0] += IDEMPOTENCY_TTL_SECONDS - 1
    stored = keys.begin("k", "POST /v1/refunds", [("payment_intent", "pi_1"), ("amount", "5")])
    assert stored is not None
    assert stored.answer == (200, b"{}", "req_1")
    now[0] += 2  # a day later the key is new again
    assert keys.begin("k", "POST /v1/refunds", [("amount", "6")]) is None


def test_the_same_key_with_other_parameters_or_on_another_endpoint_is_an_idempotency_error() -> None:
    keys = IdempotencyKeys()
    keys.begin("k", "POST /v1/refunds", [("amount", "5")])
    keys.finish("k", 200, b"{}", "req_1")
    for endpoint, params in (("POST /v1/refunds", [("amount", "6")]), ("POST /v1/payment_intents", [("amount", "5")])):
        error = refusal(keys.begin, "k", endpoint, params)
        assert (error.status, error.type) == (400, "idempotency_error")
        assert "'k'" in error.message


def test_a_key_still_in_progress_is_409_and_an_abandoned_one_is_free() -> None:
    keys = IdempotencyKeys()
    keys.begin("k", "POST /v1/refunds", [])
    error = refusal(keys.begin, "k", "POST /v1/refunds", [])
    assert (error.status, error.code) == (409, "idempotency_key_in_use")
    keys.abandon("k")
    assert keys.begin("k", "POST /v1/refunds", []) is None


# --- amounts (https://docs.stripe.com/currencies) ----------------------------------------------------


@pytest.mark.parametrize(("amount", "currency"), [(49, "usd"), (29, "gbp"), (49, "jpy"), (17_499, "huf")])
def test_a_charge_under_the_minimum_is_amount_too_small(amount: int, currency: str) -> None:
    error = refusal(check_amount, amount, currency, charge=True)
    assert (error.status, error.code, error.param) == (400, "amount_too_small", "amount")


def test_a_refund_is_not_held_to_the_minimum() -> None:
    check_amount(1, "usd", charge=False)


@pytest.mark.parametrize(("amount", "currency"), [(550, "isk"), (550, "ugx"), (1255, "kwd")])
def test_fractions_stripe_cannot_move_are_refused(amount: int, currency: str) -> None:
    assert refusal(check_amount, amount, currency, charge=True).param == "amount"
    assert refusal(check_amount, amount, currency, charge=False).param == "amount"


@pytest.mark.parametrize(("amount", "currency"), [(17_545, "huf"), (1_045, "twd"), (500, "isk"), (1250, "kwd")])
def test_huf_and_twd_decimals_and_whole_isk_are_taken(amount: int, currency: str) -> None:
    check_amount(amount, currency, charge=True)


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/v1/payment_intents/pi_1/cancel", [("cancellation_reason", "abandoned")], None),
        ("/v1/payment_intents/pi_1/cancel", [("cancellation_reason", "failed")], "cancellation_reason"),
        ("/v1/refunds", [("reason", "requested_by_customer")], None),
        ("/v1/refunds", [("reason", "customer_asked")], "reason"),
        ("/v1/payment_intents", [("capture_method", "manual"), ("allowed_payment_method_types[0]", "card")], None),
        ("/v1/payment_intents", [("capture_method", "later")], "capture_method"),
        ("/v1/payment_intents", [("allowed_payment_method_types[0]", "cards")], "allowed_payment_method_types[0]"),
        ("/v1/payment_intents/pi_1", [("receipt_email", "a@example.com")], None),  # Literal['']|str: any string
        ("/v1/payment_intents", [("metadata[k]", "v" * 500)], None),
        ("/v1/payment_intents", [("metadata[k]", "v" * 501)], "metadata[k]"),
        ("/v1/payment_intents", [("metadata[" + "k" * 41 + "]", "v")], "metadata[" + "k" * 40 + "]"),
        ("/v1/payment_intents", [(f"metadata[k{n}]", "v") for n in range(51)], "metadata"),
    ],
)
def test_a_value_stripe_does_not_take_is_refused(path: str, params: list[tuple[str, str]], param: str | None) -> None:
    from devstack.strict_rules import check_values

    if param is None:
        check_values("POST", path, params)
    else:
        error = refusal(check_values, "POST", path, params)
        assert (error.status, error.param) == (400, param)


def test_every_value_our_gateway_sends_is_taken() -> None:
    from devstack.strict_rules import check_values

    check_values("POST", "/v1/payment_intents", [
        ("amount", "2500"), ("currency", "usd"), ("payment_method", "pm_card_visa"),
        ("allowed_payment_method_types[0]", "card"), ("capture_method", "automatic"), ("confirm", "true"),
        ("metadata[payment_id]", "pay_1"), ("metadata[user_id]", "usr_1"), ("description", "Order 1"),
    ])  # fmt: skip
    check_values("POST", "/v1/payment_intents/pi_1/cancel", [("cancellation_reason", "abandoned")])
    check_values("POST", "/v1/refunds", [("payment_intent", "pi_1"), ("amount", "100"), ("reason", "duplicate")])
