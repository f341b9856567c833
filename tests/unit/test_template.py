"""What the template promises about failure handling, read from template.yaml itself."""

from __future__ import annotations

from typing import Any

from devstack.template import Template
from tests.conftest import ROOT

TEMPLATE = Template(ROOT / "template.yaml")
QUEUES = TEMPLATE.of_type("AWS::SQS::Queue")
ALARMED = {
    alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
    for alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values()
    if alarm["Properties"].get("Namespace") == "AWS/SQS"  # queue depth alarms (not the metric alarms)
}


def dlq_of(queue_id: str) -> str | None:
    redrive = TEMPLATE.properties(queue_id).get("RedrivePolicy")
    return str(redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]) if redrive else None


def test_every_consumer_queue_has_a_dlq_after_five_receives_with_an_alarm() -> None:
    consumed = {source.source for source in TEMPLATE.event_sources() if source.kind == "SQS"}
    assert consumed == {"LedgerQueue", "NotificationsQueue"}
    for queue_id in consumed:
        dlq = dlq_of(queue_id)
        assert dlq in QUEUES, queue_id
        assert TEMPLATE.properties(queue_id)["RedrivePolicy"]["maxReceiveCount"] == 5
        assert dlq in ALARMED, f"{dlq} has no depth alarm"


def test_every_queue_that_is_a_dlq_has_an_alarm() -> None:
    dlqs = {dlq_of(q) for q in QUEUES} - {None}
    targets: set[str] = set()
    for rule in TEMPLATE.of_type("AWS::Events::Rule").values():
        for target in rule["Properties"]["Targets"]:
            targets.add(target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0])
    relay = TEMPLATE.properties("OutboxRelayFunction")["Events"]["Outbox"]["Properties"]
    on_failure = relay["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert (dlqs | targets | {on_failure}) <= ALARMED


def test_every_rule_target_has_a_dlq_and_a_retry_policy() -> None:
    rules = TEMPLATE.of_type("AWS::Events::Rule")
    assert rules
    for rule_id, rule in rules.items():
        for target in rule["Properties"]["Targets"]:
            assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] in QUEUES, rule_id
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0, rule_id


def test_visibility_timeout_is_at_least_six_times_the_consumer_timeout() -> None:
    functions = TEMPLATE.functions()
    for source in TEMPLATE.event_sources():
        if source.kind == "SQS":
            visibility = int(TEMPLATE.properties(source.source)["VisibilityTimeout"])
            assert visibility >= 6 * functions[source.function_id].timeout, source


def test_consumers_report_partial_batch_failures_and_the_relay_bisects() -> None:
    for source in TEMPLATE.event_sources():
        assert source.report_batch_item_failures, source
    relay: dict[str, Any] = TEMPLATE.properties("OutboxRelayFunction")["Events"]["Outbox"]["Properties"]
    assert relay["BisectBatchOnFunctionError"] is True
    assert "OnFailure" in relay["DestinationConfig"]


def transformed(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation SAM would deploy (the SAM translator, offline; code locations faked)."""
    import os

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    document = yaml_parse((ROOT / "template.yaml").read_text())
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(document, parameters or {}, NoManagedPolicies())
    return result


def test_api_gateway_may_invoke_every_function_it_calls_the_authorizer_included() -> None:
    # Given the deployed resources
    resources = transformed()["Resources"]
    api = next(r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    body = api["Properties"]["Body"]
    called = {
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"].split("${")[-1].split("}")[0]
        for path in body["paths"].values()
        for operation in path.values()
    }
    for scheme in body["components"]["securitySchemes"].values():
        called.add(scheme["x-amazon-apigateway-authorizer"]["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"]["Ref"])

    # Then each has a permission for API Gateway (without one, an HTTP API answers 500)
    permitted = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    }
    assert "AuthorizerFunctionAliaslive" in called
    assert called - permitted == set()


def test_snapstart_serves_the_request_path_and_only_it() -> None:
    # Given the functions API Gateway waits on: every route's and the authorizer's
    on_request_path = {route.function_id for route in TEMPLATE.http_routes()} | {TEMPLATE.authorizer_function()}

    # Then those, and only those, take SnapStart from the template parameter
    with_snapstart = {
        logical_id
        for logical_id in TEMPLATE.of_type("AWS::Serverless::Function")
        if TEMPLATE.properties(logical_id).get("SnapStart") == {"ApplyOn": {"Ref": "SnapStart"}}
    }
    assert with_snapstart == on_request_path

    # And with SnapStart on, the API calls the published alias (a snapshot serves versions, never $LATEST)
    resources = transformed({"SnapStart": "PublishedVersions"})["Resources"]
    api = next(r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    uris = [
        operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path in api["Properties"]["Body"]["paths"].values()
        for operation in path.values()
    ]
    assert uris
    assert all("Aliaslive" in uri for uri in uris)
