"""What a deploy would create, per samconfig.toml environment: parameters, data protection, least
privilege, limits, observability, and both stages' stacks created side by side in moto's CloudFormation."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.template import Template
from ops.dryrun import environments, expand, stack_name
from tests.conftest import ROOT

# moto warns once per resource of a type it does not model (listed in NOT_MODELLED_BY_MOTO below)
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto")

ENVIRONMENTS = environments()
DEV, PROD = ENVIRONMENTS["default"], ENVIRONMENTS["prod"]
TEMPLATE = Template(ROOT / "template.yaml")
DEFAULTS = TEMPLATE.parameters

# Parameters whose value must be chosen for each stage: prod may not inherit the template's default.
STAGE_SPECIFIC = {
    "StageName",
    "JwtSecretParameterName",
    "StripeSecretKeyParameterName",
    "StripeWebhookSecretsParameterName",
    "OtpPepperParameterName",
    "EmailSender",
    "LogRetentionDays",
    "StripeReservedConcurrency",
    "ConsumerMaximumConcurrency",
}

# Stripe's basic rate limit (operations per second, reads and writes together) and the fastest a call
# returns: one execution (calling Stripe one request at a time) makes at most 1 / 0.2 = 5 calls a second.
STRIPE_OPERATIONS_PER_SECOND_LIVE = 100
STRIPE_CALLS_PER_EXECUTION_PER_SECOND = 5

# Wildcard resources a function's role may hold, and why (docs/operations.md, Permissions).
WILDCARD_EXCEPTIONS: dict[str, tuple[str, str]] = {
    # action: (the only wildcard resource allowed, reason)
    "xray:PutTraceSegments": ("*", "X-Ray has no resource-level permissions"),
    "xray:PutTelemetryRecords": ("*", "X-Ray has no resource-level permissions"),
    "xray:GetSamplingRules": ("*", "X-Ray has no resource-level permissions (DetailedTracing's SDK)"),
    "xray:GetSamplingTargets": ("*", "X-Ray has no resource-level permissions (DetailedTracing's SDK)"),
    "cloudwatch:PutMetricData": ("*", "no resource-level permissions (none use it: metrics go out as EMF logs)"),
    "ses:SendEmail": (
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*",
        "SES authorizes the sender's and, in the sandbox, each recipient's identity; ses:FromAddress pins ours",
    ),
    "dynamodb:ListStreams": ("${AppTable.Arn}/stream/*", "our table's streams (the stream label is generated)"),
    "s3:PutObject": ("${ReconciliationReportsBucket.Arn}/daily/*", "the daily reports' prefix: one object per day"),
}
# Managed policies SAM attaches to the roles it writes: CloudWatch Logs (logs:CreateLogGroup,
# CreateLogStream, PutLogEvents on *) and X-Ray (Tracing: Active). No other managed policy may appear.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}

# Resource types moto's CloudFormation does not model (moto 5.2.5): it skips them (a warning each), so
# the stacks below are created without them, and every reference to a function's alias points at the
# function. They are checked elsewhere: the tests above, cfn-lint and checkov (make dryrun).
NOT_MODELLED_BY_MOTO = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::Lambda::Alias",
    "AWS::SNS::Subscription",
    "AWS::SQS::QueuePolicy",
}


@cache
def expanded(environment: str) -> dict[str, Any]:
    return expand(ENVIRONMENTS[environment])


def stage_template(environment: str) -> Template:
    return Template(ROOT / "template.yaml", parameters=ENVIRONMENTS[environment])


# --- configuration per stage -------------------------------------------------------------------------
def fallbacks(overrides: dict[str, str], defaults: dict[str, str], stage: str) -> list[str]:
    """What a stage's overrides leave to a dev default, or name wrongly (a typo is silently a default)."""
    found = [f"{name} is not a template parameter" for name in overrides if name not in defaults]
    found += [f"{name} falls back to {defaults[name]!r}" for name in sorted(STAGE_SPECIFIC - overrides.keys())]
    for name, value in overrides.items():
        if stage != "dev" and ("/dev/" in value or (name in STAGE_SPECIFIC and value == defaults.get(name))):
            found.append(f"{name}={value} is dev's")
        if name.endswith("ParameterName") and not value.startswith(f"/payments/{stage}/"):
            found.append(f"{name}={value} is not under /payments/{stage}/")
    if overrides.get("StageName") != stage:
        found.append(f"StageName is {overrides.get('StageName')!r}")
    if stage == "prod" and not (overrides.get("AlarmTopicArn") or overrides.get("AlarmEmail")):
        found.append("alarms notify nobody (neither AlarmTopicArn nor AlarmEmail)")
    return found


def test_prod_sets_every_stage_specific_parameter_and_none_falls_back_to_dev() -> None:
    assert fallbacks(PROD, DEFAULTS, "prod") == []
    assert fallbacks(DEV, DEFAULTS, "dev") == []
    # The check bites: prod without its Stripe key name would read dev's, and a typo is a default too
    broken = {k: v for k, v in PROD.items() if k != "StripeSecretKeyParameterName"} | {"EmailSendr": "x@y"}
    assert fallbacks(broken, DEFAULTS, "prod") == [
        "EmailSendr is not a template parameter",
        "StripeSecretKeyParameterName falls back to '/payments/dev/stripe-secret-key'",
    ]
    assert fallbacks(PROD | {"OtpPepperParameterName": "/payments/dev/otp-pepper"}, DEFAULTS, "prod") == [
        "OtpPepperParameterName=/payments/dev/otp-pepper is dev's",
        "OtpPepperParameterName=/payments/dev/otp-pepper is not under /payments/prod/",
    ]
    assert fallbacks(PROD | {"EmailSender": DEFAULTS["EmailSender"]}, DEFAULTS, "prod") == [
        f"EmailSender={DEFAULTS['EmailSender']} is dev's"
    ]


def test_the_two_stages_are_different_stacks_with_their_own_names() -> None:
    assert stack_name("default") != stack_name("prod")
    # Names that must be unique in an account and region derive from the stack; the rest are generated
    bus = TEMPLATE.properties("PaymentsBus")["Name"]
    assert bus == {"Ref": "AWS::StackName"}
    dashboard = TEMPLATE.properties("Dashboard")["DashboardName"]
    assert "${AWS::StackName}" in dashboard["Fn::Sub"]
    named = {"TableName", "QueueName", "FunctionName", "TopicName", "LogGroupName", "RoleName", "AlarmName"}
    for logical_id, resource in TEMPLATE.resources.items():
        assert not named & set(resource.get("Properties") or {}), f"{logical_id} has a fixed name"


# --- data protection ---------------------------------------------------------------------------------
def test_app_table_survives_stack_deletion_and_replacement_and_is_protected_in_prod() -> None:
    table = TEMPLATE.resources["AppTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    mapping, stage, key = props["DeletionProtectionEnabled"]["Fn::FindInMap"]
    assert stage == {"Ref": "StageName"}
    assert TEMPLATE.body["Mappings"][mapping]["prod"][key] is True


def test_tables_and_queues_declare_encryption_at_rest() -> None:
    for logical_id in TEMPLATE.of_type("AWS::DynamoDB::Table"):
        assert TEMPLATE.properties(logical_id)["SSESpecification"]["SSEEnabled"] is True, logical_id
    for logical_id in TEMPLATE.of_type("AWS::SQS::Queue"):
        props = TEMPLATE.properties(logical_id)
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, logical_id


# --- least privilege ---------------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_grants(resources: dict[str, Any]) -> list[str]:
    """Every wildcard a Lambda execution role grants beyond WILDCARD_EXCEPTIONS, and every managed policy
    beyond ALLOWED_MANAGED_POLICIES."""
    found = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        props = resource["Properties"]
        principals = [s["Principal"].get("Service") for s in props["AssumeRolePolicyDocument"]["Statement"]]
        if not any("lambda.amazonaws.com" in as_list(p) for p in principals):
            continue
        for arn in props.get("ManagedPolicyArns") or []:
            if arn not in ALLOWED_MANAGED_POLICIES:
                found.append(f"{logical_id}: managed policy {arn}")
        for policy in props.get("Policies") or []:
            for statement in as_list(policy["PolicyDocument"]["Statement"]):
                for resource_value in as_list(statement.get("Resource", [])):
                    text = resource_value.get("Fn::Sub") if isinstance(resource_value, dict) else resource_value
                    if not isinstance(text, str) or "*" not in text:
                        continue
                    for action in as_list(statement["Action"]):
                        allowed = WILDCARD_EXCEPTIONS.get(action, (None, ""))[0]
                        if text != allowed:
                            found.append(f"{logical_id}: {action} on {text}")
                        elif action.startswith("ses:") and "ses:FromAddress" not in json.dumps(statement):
                            found.append(f"{logical_id}: {action} on {text} without ses:FromAddress")
    return found


@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_no_function_role_grants_a_wildcard_beyond_the_documented_exceptions(environment: str) -> None:
    assert wildcard_grants(expanded(environment)["Resources"]) == []


def test_the_wildcard_check_catches_the_managed_policies_sam_would_attach_to_a_consumer() -> None:
    # Given the template as it was: the notifications consumer without its own role
    unscoped = expand(DEV, template=without_role("NotificationsConsumerFunction"))
    # Then SAM gives it SQS receive and delete on every queue, and the check says so
    assert any("AWSLambdaSQSQueueExecutionRole" in finding for finding in wildcard_grants(unscoped["Resources"]))


def without_role(function_id: str) -> Any:
    text = (ROOT / "template.yaml").read_text()
    changed = re.sub(rf"(\n  {function_id}:\n(?:    .*\n|\n)*?)      Role: !GetAtt \w+\.Arn\n", r"\1", text)
    assert changed != text
    path = ROOT / ".aws-sam" / f"template-without-{function_id}-role.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(changed)
    return path


def test_the_relay_reads_only_our_stream_and_each_consumer_only_its_own_queue() -> None:
    resources = expanded("default")["Resources"]

    def statements(function_id: str) -> list[dict[str, Any]]:
        role = resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        return [s for p in resources[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]

    for source in TEMPLATE.event_sources():
        granted = statements(source.function_id)
        if source.kind == "DynamoDB":
            reads = [s for s in granted if "dynamodb:GetRecords" in as_list(s["Action"])]
            assert [s["Resource"] for s in reads] == [{"Fn::GetAtt": [source.source, "StreamArn"]}]
        else:
            receives = [s for s in granted if "sqs:ReceiveMessage" in as_list(s["Action"])]
            assert [s["Resource"] for s in receives] == [{"Fn::GetAtt": [source.source, "Arn"]}]


# --- limits --------------------------------------------------------------------------------------------
STRIPE_CALLERS = {
    logical_id for logical_id, spec in TEMPLATE.functions().items() if "STRIPE_SECRET_KEY_PARAM" in spec.environment
}


def reserved_with(logical_id: str, concurrency: int) -> int:
    """A function's reserved concurrency when deployed with ``StripeReservedConcurrency=concurrency``."""
    declared = TEMPLATE.properties(logical_id)["ReservedConcurrentExecutions"]
    condition, when_reserved, otherwise = declared["Fn::If"]
    assert (condition, otherwise) == ("ReserveStripeConcurrency", {"Ref": "AWS::NoValue"}), logical_id
    if concurrency == 0:
        return 0
    return concurrency if when_reserved == {"Ref": "StripeReservedConcurrency"} else int(when_reserved)


def test_an_account_that_cannot_spare_concurrency_deploys_with_no_reservation_at_all() -> None:
    # A new account's quota (10) leaves nothing to reserve: AWS refuses any reservation that leaves the
    # account fewer than 100 unreserved executions. With StripeReservedConcurrency=0 no function reserves:
    # each reservation is under the condition that parameter being 0 turns off (the scheduled ones too).
    condition = TEMPLATE.body["Conditions"]["ReserveStripeConcurrency"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "StripeReservedConcurrency"}, 0]}]}
    reserving = [
        fn
        for fn in TEMPLATE.of_type("AWS::Serverless::Function")
        if "ReservedConcurrentExecutions" in TEMPLATE.properties(fn)
    ]
    assert {"ReconcilerFunction", "DailyReportFunction"} <= set(reserving)
    assert [reserved_with(fn, 0) for fn in reserving] == [0] * len(reserving)
    assert all(reserved_with(fn, 1) >= 1 for fn in reserving)


def test_stripe_callers_reserved_concurrency_stays_within_stripes_rate_limit() -> None:
    # Given the functions holding the Stripe key: those, and only those, reserve concurrency
    reserved = {
        logical_id
        for logical_id in TEMPLATE.of_type("AWS::Serverless::Function")
        if "ReservedConcurrentExecutions" in TEMPLATE.properties(logical_id)
    }
    assert reserved == STRIPE_CALLERS
    assert {"CreatePaymentFunction", "RefundPaymentFunction", "StripeWebhookFunction"} <= STRIPE_CALLERS
    # Then prod's peak stays within the live limit
    concurrency = int(PROD["StripeReservedConcurrency"])
    assert concurrency >= 1, "prod deployed without the reservation is not protected"
    # (the scheduled reconciler and daily report reserve one execution each: one pass at a time)
    executions = sum(reserved_with(fn, concurrency) for fn in STRIPE_CALLERS)
    assert executions * STRIPE_CALLS_PER_EXECUTION_PER_SECOND <= STRIPE_OPERATIONS_PER_SECOND_LIVE
    # And dev reserves the least it can (its peak, 6 x 5 = 30/s, can pass the sandbox's 25/s: a 429 is retried)
    assert int(DEV["StripeReservedConcurrency"]) == 1


def test_queue_consumers_have_a_maximum_concurrency() -> None:
    for source in TEMPLATE.event_sources():
        if source.kind == "SQS":
            assert source.properties["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ConsumerMaximumConcurrency"}}


def test_prod_shifts_traffic_gradually_and_rolls_back_on_each_functions_error_alarm() -> None:
    # Given both stages' deployments
    prod, dev = expanded("prod")["Resources"], expanded("default")["Resources"]
    groups = {k: r for k, r in prod.items() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"}
    # Then only prod deploys through CodeDeploy, every function by a canary
    assert not [r for r in dev.values() if r["Type"].startswith("AWS::CodeDeploy::")]
    assert {k.removesuffix("DeploymentGroup") for k in groups} == set(TEMPLATE.functions())
    for logical_id, group in groups.items():
        props = group["Properties"]
        assert props["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"] == "Canary10Percent5Minutes"
        alarm = logical_id.removesuffix("FunctionDeploymentGroup") + "ErrorsAlarm"
        assert props["AlarmConfiguration"] == {"Enabled": True, "Alarms": [{"Name": {"Ref": alarm}}]}
        assert props["AutoRollbackConfiguration"]["Enabled"] is True
    # And prod snapshots (SnapStart) the published versions those aliases serve
    assert PROD["SnapStart"] == "PublishedVersions"
    snapped = [k for k, r in prod.items() if r["Type"] == "AWS::Lambda::Function" and "SnapStart" in r["Properties"]]
    assert snapped
    for logical_id in snapped:
        assert prod[logical_id]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
        assert prod[f"{logical_id}Aliaslive"]["Type"] == "AWS::Lambda::Alias"


# --- observability -------------------------------------------------------------------------------------
def alarms_on(metric: str) -> dict[str, dict[str, Any]]:
    found = {}
    for alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        if props.get("MetricName") == metric:
            value = props["Dimensions"][0]["Value"]
            found[str(value["Fn::GetAtt"][0] if "Fn::GetAtt" in value else value["Ref"])] = props
        for query in props.get("Metrics") or []:
            stat = query.get("MetricStat")
            if stat and stat["Metric"]["MetricName"] == metric:
                found[str(stat["Metric"]["Dimensions"][0]["Value"]["Ref"])] = props
    return found


def test_every_function_logs_to_its_own_log_group_kept_for_the_retention_parameter() -> None:
    for logical_id in TEMPLATE.of_type("AWS::Serverless::Function"):
        group = TEMPLATE.properties(logical_id)["LoggingConfig"]["LogGroup"]["Ref"]
        assert TEMPLATE.resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert TEMPLATE.properties(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    groups = [TEMPLATE.properties(f)["LoggingConfig"]["LogGroup"]["Ref"] for f in TEMPLATE.functions()]
    assert len(set(groups)) == len(groups)


def test_the_api_writes_json_access_logs_with_what_an_investigation_needs() -> None:
    settings = TEMPLATE.properties("HttpApi")["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(settings["Format"])
    for field in ("requestId", "routeKey", "status", "latencyMs", "integrationError"):
        assert field in line


def test_the_alarms_an_on_call_engineer_needs_exist_and_notify() -> None:
    functions = set(TEMPLATE.functions())
    assert set(alarms_on("Errors")) == functions
    assert set(alarms_on("Throttles")) == functions
    assert set(alarms_on("5xx")) == {"HttpApi"}
    assert alarms_on("Latency")["HttpApi"]["ExtendedStatistic"] == "p99"
    assert (
        set(alarms_on("ReadThrottleEvents"))
        == set(alarms_on("WriteThrottleEvents"))
        == set(TEMPLATE.of_type("AWS::DynamoDB::Table"))
    )
    assert set(alarms_on("IteratorAge")) == {s.function_id for s in TEMPLATE.event_sources() if s.kind == "DynamoDB"}
    assert set(alarms_on("ApproximateAgeOfOldestMessage")) == {
        s.source for s in TEMPLATE.event_sources() if s.kind == "SQS"
    }
    notify = [{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}]
    for logical_id, alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == notify, logical_id
    # The stack's own topic exists exactly when no topic is given
    assert TEMPLATE.resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"
    assert stage_template("prod").condition("SubscribeAlarmEmail")
    assert not stage_template("default").condition("HasAlarmTopic")


def test_the_dashboard_shows_business_and_technical_metrics() -> None:
    body = TEMPLATE.properties("Dashboard")["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    titles = " | ".join(w["properties"]["title"] for w in widgets)
    for expected in ("Payments per minute by outcome", "refunds", "Webhook lag", "Cold starts", "errors"):
        assert expected in titles
    # Every ${...} in it is a resource, a parameter or a pseudo parameter of the template
    for name in re.findall(r"\$\{([^}.]+)", body):
        assert name in TEMPLATE.resources or name in DEFAULTS or name.startswith("AWS::"), name


# --- the dry-run: both stages created side by side in moto's CloudFormation ------------------------------
def for_moto(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with each reference to a function's alias pointed at the function (moto skips the types
    it does not model, the alias among them, but an event source mapping needs a function), and each
    reference to an event bus replaced by the bus's name (moto's EventBus gives no value to Ref)."""
    resources = body["Resources"]
    replaced = {
        # An alias's Ref is its ARN: the function's ARN stands in for it (a schedule's target needs one).
        k: {"Fn::GetAtt": [r["Properties"]["FunctionName"]["Ref"], "Arn"]}
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Alias"
    } | {k: r["Properties"]["Name"] for k, r in resources.items() if r["Type"] == "AWS::Events::EventBus"}
    text = json.dumps(body)
    for logical_id, value in replaced.items():
        text = text.replace(json.dumps({"Ref": logical_id}), json.dumps(value))
    copy: dict[str, Any] = json.loads(text)
    return copy


def test_moto_models_every_type_but_the_listed_ones() -> None:
    from moto.cloudformation.parsing import get_model_map

    types = {r["Type"] for env in ENVIRONMENTS for r in expanded(env)["Resources"].values()}
    assert {t for t in types if t not in get_model_map()} == NOT_MODELLED_BY_MOTO


@mock_aws
def test_dev_and_prod_stacks_create_side_by_side() -> None:
    # Given the code bucket SAM would upload to
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bucket")
    for key in ("function.zip", "layer.zip"):
        s3.put_object(Bucket="bucket", Key=key, Body=code.getvalue())

    # When each stage's stack is created in one account and region
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    created: dict[str, dict[str, str]] = {}
    for environment, parameters in ENVIRONMENTS.items():
        body = for_moto(expanded(environment))
        name = stack_name(environment)
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(body),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
        created[environment] = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries if s["ResourceType"]}
        skipped = [s for s in summaries if not s["ResourceType"]]  # moto lists each type it skips as a blank

        # Then every modelled resource whose condition holds in that stage exists
        stage = stage_template(environment)
        in_stage = {k for k, r in body["Resources"].items() if "Condition" not in r or stage.condition(r["Condition"])}
        expected = {k for k in in_stage if body["Resources"][k]["Type"] not in NOT_MODELLED_BY_MOTO}
        assert set(created[environment]) == expected
        # (one blank per resource of a type it does not model, whatever the resource's condition)
        assert len(skipped) == sum(r["Type"] in NOT_MODELLED_BY_MOTO for r in body["Resources"].values())
        counts = Counter(body["Resources"][k]["Type"] for k in expected)
        assert counts["AWS::Lambda::Function"] == len(TEMPLATE.functions())
        assert counts["AWS::Logs::LogGroup"] == len(TEMPLATE.functions()) + 1

    # And the two stacks share no name: two tables each, two buses, their own queues and log groups
    dev, prod = created["default"], created["prod"]
    # (moto records no physical id for a bus or a version: the buses are listed below)
    named = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup"}
    named |= {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::SNS::Topic", "AWS::CloudWatch::Dashboard"}
    body = expanded("prod")["Resources"]
    compared = [k for k in set(dev) & set(prod) if body[k]["Type"] in named]
    assert len(compared) > 50
    for logical_id in compared:
        assert dev[logical_id] != prod[logical_id], logical_id
    buses = {b["Name"] for b in boto3.client("events", region_name="us-east-1").list_event_buses()["EventBuses"]}
    assert {"payments-dev", "payments-prod"} <= buses
    assert "AlarmEmailSubscription" not in dev  # dev notifies its topic's subscribers only

    # And prod's settings took: the Stripe callers' reservation, the log retention
    lambda_ = boto3.client("lambda", region_name="us-east-1")
    for logical_id in STRIPE_CALLERS:
        reserved = lambda_.get_function_concurrency(FunctionName=prod[logical_id])
        assert reserved["ReservedConcurrentExecutions"] == reserved_with(
            logical_id, int(PROD["StripeReservedConcurrency"])
        )
    logs = boto3.client("logs", region_name="us-east-1")
    group = logs.describe_log_groups(logGroupNamePrefix=prod["CreatePaymentLogGroup"])["logGroups"][0]
    assert group["retentionInDays"] == int(PROD["LogRetentionDays"])


def test_every_alarm_names_the_section_of_docs_operations_that_says_what_to_do() -> None:
    headings = set(re.findall(r"^### (.+)$", (ROOT / "docs/operations.md").read_text(), re.M))
    for logical_id, alarm in TEMPLATE.of_type("AWS::CloudWatch::Alarm").items():
        section = re.search(r"docs/operations\.md, ([^.;)]+)", alarm["Properties"]["AlarmDescription"])
        assert section, logical_id
        assert section.group(1) in headings, (logical_id, section.group(1))
