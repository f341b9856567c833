"""What the template promises about failure handling, read from template.yaml itself."""

from __future__ import annotations

import json
from typing import Any

from devstack.template import Template
from ops.dryrun import expand
from tests.conftest import ROOT

TEMPLATE = Template(ROOT / "template.yaml")
QUEUES = TEMPLATE.of_type("AWS::SQS::Queue")


def alarmed(metric_name: str) -> set[str]:
    """Logical ids of the resources with an alarm on ``metric_name`` (dimension by !Ref or !GetAtt)."""
    found = set()
    for alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") == metric_name:
            value = props["Dimensions"][0]["Value"]
            found.add(str(value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"]))
    return found


ALARMED = alarmed("ApproximateNumberOfMessagesVisible")


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
    return expand(parameters)


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


def test_pydantic_plugins_are_off_and_no_layer_package_provides_one() -> None:
    # Every function runs with pydantic's plugin lookup off (a scan of every installed package's entry
    # points when the first model is built), which changes nothing only while no package of the layer
    # is a pydantic plugin.
    import importlib.metadata
    import re

    assert all(spec.environment.get("PYDANTIC_DISABLE_PLUGINS") == "__all__" for spec in TEMPLATE.functions().values())
    requirements = (ROOT / "layers" / "payments_core" / "requirements.txt").read_text().splitlines()
    layer = {re.split(r"[\[=<>]", line)[0].lower() for line in requirements if line and not line.startswith("#")}
    plugins = {ep.dist.name.lower() for ep in importlib.metadata.entry_points(group="pydantic") if ep.dist}
    assert layer
    assert plugins & layer == set()


def test_every_alarm_on_our_own_metrics_watches_the_namespace_and_service_the_functions_write() -> None:
    import re

    # Given the namespace and service every function's Powertools Metrics writes to (its environment)
    resources = expand()["Resources"]
    written = {
        (json.dumps(env["POWERTOOLS_METRICS_NAMESPACE"]), env["POWERTOOLS_SERVICE_NAME"])
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
        for env in [resource["Properties"]["Environment"]["Variables"]]
    }
    assert len(written) == 1
    emitted = {
        name
        for path in [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
        for name in re.findall(r'add_metric\(\s*name="(\w+)"', path.read_text())
    }
    watched = []  # (alarm, namespace, metric name, dimensions) of every metric an alarm reads
    for alarm_id, alarm in resources.items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = alarm["Properties"]
        metrics = (
            [props]
            if "Namespace" in props
            else [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
        )
        for metric in metrics:
            watched.append((alarm_id, metric["Namespace"], metric["MetricName"], metric.get("Dimensions", [])))
    ours = [w for w in watched if "AWS/" not in json.dumps(w[1])]
    assert len(ours) >= 4  # the reconciliation, reconciler and webhook-deferral alarms
    for alarm_id, namespace, name, dimensions in ours:
        # Then each of their alarms reads a metric one of them writes, where they write it (an alarm on
        # another namespace never receives a data point and, missing data being fine, never fires)
        service = {d["Name"]: d["Value"] for d in dimensions}.get("service")
        assert (json.dumps(namespace), service) in written, alarm_id
        assert name in emitted, alarm_id
