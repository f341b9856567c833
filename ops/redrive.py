"""Inspect and redrive a dead-letter queue: `make redrive QUEUE=LedgerDLQ [PEEK=1]`.

Moves every message of the DLQ back to the queue that dead-letters into it (found with
ListDeadLetterSourceQueues), then deletes it from the DLQ. With --peek it only shows them.
Locally it talks to `make dev`'s moto; with --aws it uses your AWS credentials and region.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import boto3


def sqs_client(use_aws: bool) -> Any:
    if use_aws:
        return boto3.client("sqs")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{os.environ.get('DEV_MOTO_PORT', '5000')}"
    return boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
    )


def queue_url(sqs: Any, name_or_url: str) -> str:
    if name_or_url.startswith("http"):
        return name_or_url
    return str(sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"])


def peek(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    return [{"id": m["MessageId"], "body": m["Body"][:300]} for m in messages]


def redrive(sqs: Any, dlq_url: str, target_url: str | None = None) -> int:
    if target_url is None:
        sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
        if len(sources) != 1:
            raise Failure(f"{len(sources)} queues dead-letter into this one; say which with --to")
        target_url = str(sources[0])
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return moved
        entries = [
            {
                "Id": str(i),
                "MessageBody": m["Body"],
                **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {}),
            }
            for i, m in enumerate(messages)
        ]
        sent = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
        ok = {entry["Id"] for entry in sent.get("Successful", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages) if str(i) in ok]
        if done:
            sqs.delete_message_batch(QueueUrl=dlq_url, Entries=done)
        moved += len(done)
        if len(done) < len(messages):
            raise Failure(f"moved {moved}; {len(messages) - len(done)} could not be sent and stay in the DLQ")


def messages(count: int) -> str:
    return f"{count} message" + ("" if count == 1 else "s")


def queue_names(sqs: Any) -> list[str]:
    return sorted(url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", []))


def run(args: argparse.Namespace) -> str:
    """What was done, in one line (or the messages peeked at, after their count)."""
    sqs = sqs_client(args.aws)
    dlq = queue_url(sqs, args.queue)
    name = dlq.rsplit("/", 1)[-1]
    if args.peek:
        found = peek(sqs, dlq)
        lines = [f"{messages(len(found))} in {name}" + (" (showing at most 10)" if len(found) == 10 else "")]
        return "\n".join(lines + [f"{message['id']}: {message['body']}" for message in found])
    target = queue_url(sqs, args.to) if args.to else None
    if target is None:
        sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq).get("queueUrls", [])
        if len(sources) != 1:
            raise Failure(f"{len(sources)} queues dead-letter into {name}; say which with --to")
        target = str(sources[0])
    moved = redrive(sqs, dlq, target)
    return f"moved {messages(moved)} from {name} back to {target.rsplit('/', 1)[-1]}"


class Failure(Exception):
    pass


def main(argv: list[str]) -> int:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    parser = argparse.ArgumentParser(prog="make redrive", description=__doc__)
    parser.add_argument("queue", nargs="?", help="the DLQ's name or URL (QUEUE=)")
    parser.add_argument("--peek", action="store_true", help="only show up to 10 messages")
    parser.add_argument("--to", help="the queue to move them to (default: the DLQ's only source queue)")
    parser.add_argument("--aws", action="store_true", help="use AWS, not the local stack")
    args = parser.parse_args(argv)
    if not args.queue:
        print("usage: make redrive QUEUE=<DLQ name or URL> [PEEK=1] [AWS=1]", file=sys.stderr)
        return 2
    try:
        print(run(args))
        return 0
    except Failure as failure:
        print(f"make redrive: {failure}", file=sys.stderr)
    except EndpointConnectionError:
        where = "AWS" if args.aws else "the local stack (is `make dev` running? DEV_MOTO_PORT?)"
        print(f"make redrive: cannot reach {where}", file=sys.stderr)
    except NoCredentialsError:
        print("make redrive: no AWS credentials (AWS=1 uses your AWS profile and region)", file=sys.stderr)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:
            known = ", ".join(n for n in queue_names(sqs_client(args.aws)) if "DLQ" in n)
            print(f"make redrive: no queue named {args.queue}" + (f"; dead-letter queues: {known}" if known else ""),
                  file=sys.stderr)  # fmt: skip
        else:
            print(f"make redrive: {code or error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
