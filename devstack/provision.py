"""Creates in moto every resource of template.yaml that the local stack plays: tables (keys, TTL,
streams), event buses, queues (redrive policies, DLQs first), rules with their targets."""

from __future__ import annotations

import json
from typing import Any

import boto3

from devstack.template import Template


def _client(service: str, endpoint: str | None, region: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=region)  # type: ignore[call-overload]


def create_table(dynamodb: Any, template: Template, logical_id: str) -> None:
    props = template.properties(logical_id)
    request: dict[str, Any] = {
        "TableName": template.physical_name(logical_id),
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if index_kind in props:
            request[index_kind] = props[index_kind]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


def create_tables(template: Template, dynamodb: Any) -> None:
    for logical_id in template.of_type("AWS::DynamoDB::Table"):
        create_table(dynamodb, template, logical_id)


def _queue_order(template: Template) -> list[str]:
    """Queues ordered so a dead-letter queue exists before the queue that redrives to it."""
    queues = template.of_type("AWS::SQS::Queue")
    ordered: list[str] = []

    def visit(logical_id: str) -> None:
        if logical_id in ordered:
            return
        redrive = template.properties(logical_id).get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn")
        if isinstance(target, dict) and "Fn::GetAtt" in target:
            visit(str(target["Fn::GetAtt"][0]))
        ordered.append(logical_id)

    for logical_id in queues:
        visit(logical_id)
    return ordered


def create_queues(template: Template, sqs: Any, endpoint: str | None) -> None:
    for logical_id in _queue_order(template):
        props = template.resolve(template.properties(logical_id), endpoint)
        attributes = {
            key: json.dumps(value) if isinstance(value, dict | bool) else str(value)  # booleans as "true"
            for key, value in props.items()
            if key not in ("QueueName", "Tags")
        }
        sqs.create_queue(QueueName=template.physical_name(logical_id), Attributes=attributes)


def create_buses_and_rules(template: Template, events: Any, endpoint: str | None) -> None:
    for logical_id in template.of_type("AWS::Events::EventBus"):
        events.create_event_bus(Name=template.physical_name(logical_id))
    for logical_id in template.of_type("AWS::Events::Rule"):
        props = template.resolve(template.properties(logical_id), endpoint)
        bus = props.get("EventBusName", "default")
        events.put_rule(
            Name=template.physical_name(logical_id),
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
        )
        targets = [
            {key: value for key, value in target.items() if key in ("Id", "Arn", "InputPath", "RetryPolicy")}
            | ({"DeadLetterConfig": target["DeadLetterConfig"]} if "DeadLetterConfig" in target else {})
            for target in props.get("Targets") or []
        ]
        if targets:
            events.put_targets(Rule=template.physical_name(logical_id), EventBusName=bus, Targets=targets)


def verify_email_senders(template: Template, ses: Any) -> None:
    """moto's SES refuses unverified senders: verify the domain of every EMAIL_SENDER in the template."""
    domains = {
        spec.environment["EMAIL_SENDER"].rsplit("@", 1)[-1]
        for spec in template.functions().values()
        if "EMAIL_SENDER" in spec.environment
    }
    for domain in sorted(domains):
        ses.verify_domain_identity(Domain=domain)


def create_buckets(template: Template, s3: Any) -> None:
    for logical_id in template.of_type("AWS::S3::Bucket"):
        s3.create_bucket(Bucket=template.physical_name(logical_id))


def provision(template: Template, endpoint: str | None, *, tables: bool = True) -> None:
    region = template.region
    if tables:
        create_tables(template, _client("dynamodb", endpoint, region))
    create_queues(template, _client("sqs", endpoint, region), endpoint)
    create_buses_and_rules(template, _client("events", endpoint, region), endpoint)
    verify_email_senders(template, _client("ses", endpoint, region))
    create_buckets(template, _client("s3", endpoint, region))
