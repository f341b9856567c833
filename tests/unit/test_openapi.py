"""The OpenAPI document: generated from the handlers' own routes and models, matching the template."""

from __future__ import annotations

from pydantic import BaseModel

from devstack.openapi import document, handler_routes
from devstack.template import Template
from tests.conftest import ROOT

TEMPLATE = Template(ROOT / "template.yaml")


def template_routes() -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in TEMPLATE.http_routes()}


def test_the_handlers_serve_exactly_the_templates_routes() -> None:
    assert sorted(handler_routes(TEMPLATE)) == sorted(template_routes())


def test_the_document_lists_exactly_the_templates_routes() -> None:
    spec = document(TEMPLATE)
    listed = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert listed == template_routes()
    assert spec["openapi"] == "3.1.0"


def test_protected_routes_require_the_bearer_token_and_public_ones_do_not() -> None:
    spec = document(TEMPLATE)
    public = {(route.method, route.path) for route in TEMPLATE.http_routes() if route.public}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            assert (operation.get("security") == []) == ((method.upper(), path) in public), (method, path)
            if (method.upper(), path) not in public:
                assert "401" in operation["responses"]


def test_request_schemas_are_the_handlers_models() -> None:
    spec = document(TEMPLATE)
    create = spec["paths"]["/payments"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreatePaymentRequest"
    }
    schema = spec["components"]["schemas"]["CreatePaymentRequest"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["amount"]["type"] == "integer"
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in create["parameters"])


def test_the_documented_metadata_bounds_keys_and_values_and_names_the_providers_rules() -> None:
    metadata = document(TEMPLATE)["components"]["schemas"]["CreatePaymentRequest"]["properties"]["metadata"]
    # Our own bounds are in the schema; the provider's narrower rules (Stripe's) are named in its words
    assert metadata["propertyNames"]["maxLength"] == 100
    assert metadata["additionalProperties"]["maxLength"] == 500
    assert "Stripe: keys of at most 40 characters without square brackets" in metadata["description"]


def test_email_fields_are_documented_as_email_addresses() -> None:
    schemas = document(TEMPLATE)["components"]["schemas"]
    for name in ("SignupRequest", "SigninRequest"):
        assert schemas[name]["properties"]["email"]["format"] == "email", name


def test_every_request_body_has_an_example_its_own_model_accepts() -> None:
    from payments_core.auth.models import SigninRequest, SignupRequest
    from payments_core.payments.capture_request import CaptureRequest
    from payments_core.payments.create_request import CreatePaymentRequest
    from payments_core.payments.otp_request import VerifyCodeRequest
    from payments_core.payments.refund_request import RefundRequest

    requests: list[type[BaseModel]] = [
        SignupRequest, SigninRequest, CreatePaymentRequest, CaptureRequest, RefundRequest, VerifyCodeRequest,
    ]  # fmt: skip
    models = {model.__name__: model for model in requests}
    spec = document(TEMPLATE)
    schemas = [
        operation["requestBody"]["content"].get("application/json", {}).get("schema", {})
        for item in spec["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    ]
    bodies = {schema["$ref"].rsplit("/", 1)[-1] for schema in schemas if "$ref" in schema}
    assert bodies == set(models)
    for name in bodies:
        examples = spec["components"]["schemas"][name]["examples"]
        assert examples, name
        for example in examples:
            models[name].model_validate(example)


def test_every_operation_has_its_tag_and_a_stable_operation_id() -> None:
    # Generated clients name their modules after tags and their functions after operationIds: renaming
    # one breaks every client, so the names are pinned here.
    spec = document(TEMPLATE)
    named = {
        (method.upper(), path): (operation["tags"], operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    assert named == {
        ("GET", "/health"): (["health"], "get_health"),
        ("POST", "/auth/signup"): (["auth"], "sign_up"),
        ("POST", "/auth/signin"): (["auth"], "sign_in"),
        ("POST", "/payments"): (["payments"], "create_payment"),
        ("GET", "/payments"): (["payments"], "list_payments"),
        ("GET", "/payments/{payment_id}"): (["payments"], "get_payment"),
        ("POST", "/payments/{payment_id}/capture"): (["payments"], "capture_payment"),
        ("POST", "/payments/{payment_id}/cancel"): (["payments"], "cancel_payment"),
        ("POST", "/payments/{payment_id}/refunds"): (["refunds"], "create_refund"),
        ("POST", "/payments/{payment_id}/otp"): (["otp"], "send_otp"),
        ("POST", "/payments/{payment_id}/otp/verify"): (["otp"], "verify_otp"),
        ("POST", "/webhooks/stripe"): (["webhooks"], "receive_stripe_event"),
        ("GET", "/transactions"): (["transactions"], "list_transactions"),
    }
    assert [tag["name"] for tag in spec["tags"]] == [
        "auth", "payments", "refunds", "otp", "transactions", "webhooks", "health",
    ]  # fmt: skip


# pydantic's names for constraints it could not express in JSON Schema, which clients then ignore
NOT_JSON_SCHEMA = {"ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of", "strict", "max_digits"}


def test_every_bound_is_written_in_json_schemas_own_words() -> None:
    spec = document(TEMPLATE)
    found: list[str] = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            if "type" in node or "anyOf" in node:
                found.extend(f"{where}: {key}" for key in NOT_JSON_SCHEMA & set(node))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{where}/{n}")

    walk(spec, "")
    assert found == []
    # and an amount's bounds are the ones generated clients and fuzzers read
    amount = spec["components"]["schemas"]["CreatePaymentRequest"]["properties"]["amount"]
    assert (amount["minimum"], amount["maximum"]) == (1, 99_999_999)
