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
