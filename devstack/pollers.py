"""Pollers that play Lambda's event source mappings: DynamoDB stream -> function, SQS -> function.

SQS: a batch of up to ``BatchSize`` messages; with ``ReportBatchItemFailures`` only the reported
messages stay on the queue (the rest are deleted); if the handler raises, none are deleted. A kept
message reappears after the queue's visibility timeout and moto's redrive policy moves it to the DLQ
after ``maxReceiveCount`` receives, as on AWS.

DynamoDB stream: records in order per shard; on a reported failure the batch is retried from the
first failed record, up to ``MaximumRetryAttempts``; then the records go to the ``OnFailure``
destination queue (if any) and the shard moves on.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from devstack.console import Console
from devstack.filters import matches
from devstack.runtime import FunctionRuntime
from devstack.template import EventSource, Template


class Poller(threading.Thread):
    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self.errors = 0
        self.console: Console | None = None  # the stack's, to say what was delivered

    def stop(self) -> None:
        self.stopping.set()


class SqsPoller(Poller):
    def __init__(self, template: Template, source: EventSource, runtime: FunctionRuntime, endpoint: str) -> None:
        super().__init__(f"sqs:{source.source}->{source.function_id}")
        self.source = source
        self.runtime = runtime
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=template.region)
        self.queue_url = template.queue_url(source.source, endpoint)
        self.queue_arn = template.arn(source.source)
        self.region = template.region

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                # No long polling: the local moto server takes one request at a time, so a waiting
                # receive would hold up every other AWS call.
                if not self.poll_once(wait_seconds=0):
                    self.stopping.wait(0.2)
            except Exception as error:  # keep polling, as the service does; say what happened
                self.errors += 1
                print(f"[{self.name}] poll failed: {type(error).__name__}: {error}", flush=True)
                time.sleep(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive-invoke-delete round; returns how many messages were received."""
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": message.get("MessageAttributes", {}),
                    "md5OfBody": message.get("MD5OfBody", ""),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                }
                for message in received
            ]
        }
        started = time.perf_counter()
        try:
            result = self.runtime.invoke(event)
        except Exception as error:
            print(f"[{self.name}] handler raised {type(error).__name__}; the batch stays on the queue", flush=True)
            return len(received)
        failed: set[str] = set()
        if self.source.report_batch_item_failures and isinstance(result, dict):
            failed = {str(item.get("itemIdentifier")) for item in result.get("batchItemFailures") or []}
        if self.console is not None:
            elapsed = (time.perf_counter() - started) * 1000
            self.console.delivery(self.source.source, self.source.function_id, len(received), len(failed), elapsed)
        done = [message for message in received if message["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(done[start : start + 10])
                ],
            )
        return len(received)


class StreamPoller(Poller):
    def __init__(self, template: Template, source: EventSource, runtime: FunctionRuntime, endpoint: str) -> None:
        super().__init__(f"stream:{source.source}->{source.function_id}")
        self.source = source
        self.runtime = runtime
        self.template = template
        self.endpoint = endpoint
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=template.region)
        self.streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name=template.region)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=template.region)
        table = dynamodb.describe_table(TableName=template.physical_name(source.source))["Table"]
        self.stream_arn = table["LatestStreamArn"]
        self.filters = [
            json.loads(item["Pattern"]) for item in (source.properties.get("FilterCriteria") or {}).get("Filters", [])
        ]
        self.max_retries = int(source.properties.get("MaximumRetryAttempts", 3))
        on_failure = ((source.properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.on_failure_url = (
            template.queue_url(on_failure["Fn::GetAtt"][0], endpoint)
            if isinstance(on_failure, dict) and "Fn::GetAtt" in on_failure
            else None
        )
        self.iterators: dict[str, str] = {}

    def _refresh_shards(self) -> None:
        shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if not self.poll_once():
                    self.stopping.wait(0.2)
            except Exception as error:
                self.errors += 1
                print(f"[{self.name}] poll failed: {type(error).__name__}: {error}", flush=True)
                time.sleep(0.5)

    def poll_once(self) -> int:
        self._refresh_shards()
        seen = 0
        for shard_id, iterator in list(self.iterators.items()):
            response = self.streams.get_records(ShardIterator=iterator, Limit=self.source.batch_size)
            self.iterators[shard_id] = response.get("NextShardIterator") or iterator
            records = [
                {**record, "eventSource": "aws:dynamodb", "eventSourceARN": self.stream_arn, "awsRegion": "us-east-1"}
                for record in response.get("Records", [])
            ]
            seen += len(records)
            records = [
                record for record in records if not self.filters or any(matches(p, record) for p in self.filters)
            ]
            if records:
                self._deliver(records)
        return seen

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        for attempt in range(self.max_retries + 1):
            if self.stopping.is_set():
                return  # the records stay in the stream; nothing is lost locally on a restart
            try:
                result = self.runtime.invoke({"Records": records})
                failed = [str(item.get("itemIdentifier")) for item in (result or {}).get("batchItemFailures") or []]
            except Exception as error:
                print(f"[{self.name}] handler raised {type(error).__name__} (attempt {attempt + 1})", flush=True)
                failed = [records[0]["dynamodb"]["SequenceNumber"]]
            first = min(failed, key=int) if failed else None
            self._announce([r for r in records if first is None or int(r["dynamodb"]["SequenceNumber"]) < int(first)])
            if first is None:
                return
            records = [record for record in records if int(record["dynamodb"]["SequenceNumber"]) >= int(first)]
            self.stopping.wait(min(0.05 * 2**attempt, 1.0))
        print(f"[{self.name}] giving up on {len(records)} record(s) after {self.max_retries} retries", flush=True)
        if self.on_failure_url:
            self.sqs.send_message(
                QueueUrl=self.on_failure_url,
                MessageBody=json.dumps({"streamArn": self.stream_arn, "records": records}, default=str),
            )

    def _announce(self, records: list[dict[str, Any]]) -> None:
        """One console line per event a payment write carried (its ``outbox``), which the relay published."""
        if self.console is None:
            return
        from payments_core.relay import outbox_entries

        for published in outbox_entries(records, ""):
            detail = json.loads(published.entry["Detail"])
            ids = [(detail.get("payment") or {}).get("payment_id"), (detail.get("refund") or {}).get("refund_id")]
            self.console.bus(published.entry["DetailType"], " ".join(str(i) for i in ids if i))


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_DAILY_CRON = re.compile(r"^cron\((\d+) (\d+) \* \* \? \*\)$")


def seconds_until_next(expression: str, now: datetime) -> float:
    """Seconds until ``expression`` next fires after ``now``: ``rate(N unit)``, or a daily
    ``cron(M H * * ? *)`` in UTC; any other cron fires once a day from now (said at start)."""
    rate = _RATE.match(expression)
    if rate:
        unit = rate.group(2).rstrip("s")
        return int(rate.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]
    daily = _DAILY_CRON.match(expression)
    if daily:
        fire = now.replace(hour=int(daily.group(2)), minute=int(daily.group(1)), second=0, microsecond=0)
        if fire <= now:
            fire += timedelta(days=1)
        return (fire - now).total_seconds()
    return 86400.0


class SchedulePoller(Poller):
    """Plays an EventBridge schedule: invokes the function with a ``Scheduled Event`` each time the
    expression fires, or every ``DEV_SCHEDULE_SECONDS`` when that is set (0 turns schedules off)."""

    def __init__(self, function_id: str, expression: str, runtime: FunctionRuntime, region: str) -> None:
        super().__init__(f"schedule:{expression}->{function_id}")
        self.function_id = function_id
        self.expression = expression
        self.runtime = runtime
        self.region = region
        knob = os.environ.get("DEV_SCHEDULE_SECONDS", "").strip()
        self.every = float(knob) if knob else None
        self.runs = 0

    def event(self) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [f"arn:aws:events:{self.region}:123456789012:rule/{self.function_id}-schedule"],
            "detail": {},
        }

    def run(self) -> None:
        if self.every == 0:
            return
        while True:
            wait = self.every if self.every is not None else seconds_until_next(self.expression, datetime.now(UTC))
            if self.stopping.wait(wait):
                return
            try:
                result = self.runtime.invoke(self.event())
                self.runs += 1
                print(f"[{self.name}] ran: {json.dumps(result, default=str)[:300]}", flush=True)
            except Exception as error:  # EventBridge would retry; the next firing is soon enough here
                self.errors += 1
                print(f"[{self.name}] handler raised {type(error).__name__}: {error}", flush=True)


def build_pollers(
    template: Template, runtimes: dict[str, FunctionRuntime], endpoint: str, console: Console | None = None
) -> list[Poller]:
    pollers: list[Poller] = []
    for source in template.event_sources():
        runtime = runtimes[source.function_id]
        if source.kind == "SQS":
            pollers.append(SqsPoller(template, source, runtime, endpoint))
        else:
            pollers.append(StreamPoller(template, source, runtime, endpoint))
    for function_id, expression in template.schedules():
        pollers.append(SchedulePoller(function_id, expression, runtimes[function_id], template.region))
    for poller in pollers:
        poller.console = console
    return pollers
