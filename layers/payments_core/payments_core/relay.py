"""The outbox relay: DynamoDB stream records of payment writes that carry events (``outbox``) ->
PutEvents on the payments bus, each event rendered from the payment as that write stored it.

Entries go out in batches of at most 10 entries and at most 256 KB (EventBridge's limits on one
``PutEvents``: 10 entries, and a total entry size, counted as ``entry_size`` counts it, that AWS's
guides put at 256 KB and the pinned API model at 1 MB; the smaller holds under both). A request over
either is refused whole, every time, so a few large events (long free text in many refunds) must not
share one. Every entry's result is checked and only the failed ones are sent again. If some still
fail, the first failed record's sequence number is reported as the batch item failure, so Lambda
retries the stream from there: nothing is dropped (a record after it may be published twice;
consumers de-duplicate by ``event_id``).
"""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

from payments_core.observability import logger
from payments_core.payments.outbox import EVENT_SOURCE, events_written, rendered_events

PUT_EVENTS_BATCH = 10
PUT_EVENTS_MAX_BYTES = 256 * 1024
ATTEMPTS = 4


class OutboxEntry(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    sequence_number: str
    entry: dict[str, Any]


def outbox_entries(records: list[dict[str, Any]], bus_name: str) -> list[OutboxEntry]:
    entries = []
    for record in records:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        written = events_written(record.get("dynamodb", {}).get("NewImage") or {})
        if written is None:
            continue
        document, outbox = written
        for detail_type, detail in rendered_events(document, outbox):
            entries.append(
                OutboxEntry(
                    sequence_number=record["dynamodb"]["SequenceNumber"],
                    entry={
                        "Source": EVENT_SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail, separators=(",", ":")),
                        "EventBusName": bus_name,
                    },
                )
            )
    return entries


def entry_size(entry: dict[str, Any]) -> int:
    """A ``PutEvents`` entry's size as EventBridge counts it: the UTF-8 bytes of its source, detail type,
    detail and resources, and 14 for a time."""
    size = 14 if "Time" in entry else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name, "")).encode())
    return size + sum(len(resource.encode()) for resource in entry.get("Resources", []))


def batches(entries: list[OutboxEntry]) -> list[list[OutboxEntry]]:
    """The entries in order, in batches of at most ``PUT_EVENTS_BATCH`` entries and ``PUT_EVENTS_MAX_BYTES``
    (an entry larger than that alone goes alone, and is refused: tests/unit/test_item_size.py keeps the
    largest payment's events far below it)."""
    found: list[list[OutboxEntry]] = []
    current: list[OutboxEntry] = []
    size = 0
    for item in entries:
        item_size = entry_size(item.entry)
        if current and (len(current) == PUT_EVENTS_BATCH or size + item_size > PUT_EVENTS_MAX_BYTES):
            found.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        found.append(current)
    return found


def publish(events_client: Any, entries: list[OutboxEntry], *, backoff: float = 0.1) -> list[OutboxEntry]:
    """Publishes every entry; returns those that still failed after retrying only the failed ones."""
    failed_for_good: list[OutboxEntry] = []
    for batch in batches(entries):
        pending = batch
        for attempt in range(ATTEMPTS):
            try:
                response = events_client.put_events(Entries=[item.entry for item in pending])
            except Exception as error:  # throttling or an outage: the whole call failed, retry it all
                logger.warning("PutEvents failed", extra={"error_type": type(error).__name__, "attempt": attempt})
                results: list[dict[str, Any]] = [{"ErrorCode": type(error).__name__}] * len(pending)
            else:
                results = response.get("Entries", [])
                if response.get("FailedEntryCount", 0) == 0:
                    pending = []
                    break
            pending = [item for item, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
            if not pending:
                break
            logger.warning("PutEvents entries failed", extra={"failed": len(pending), "attempt": attempt})
            time.sleep(backoff * 2**attempt)
        failed_for_good.extend(pending)
    return failed_for_good


def relay(records: list[dict[str, Any]], events_client: Any, bus_name: str) -> dict[str, Any]:
    entries = outbox_entries(records, bus_name)
    failed = publish(events_client, entries)
    if not failed:
        logger.info("outbox relayed", extra={"published": len(entries)})
        return {"batchItemFailures": []}
    first = min(failed, key=lambda item: int(item.sequence_number))
    logger.error("outbox relay incomplete", extra={"failed": len(failed), "retry_from": first.sequence_number})
    return {"batchItemFailures": [{"itemIdentifier": first.sequence_number}]}
