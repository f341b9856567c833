"""AWS's request limits that moto does not check, enforced on the local stack.

moto accepts a ``PutEvents`` of any size; EventBridge refuses a request whose entries add up to more
than its limit with ``ValidationException: Total size of the entries in the request is over the
limit.`` and publishes none of them, on every retry. The relay would then fail its stream batch until
the records expire, so the local stack refuses it too, before it reaches moto:

- ``events:PutEvents``: at most 10 entries, and the entries' total size, counted as EventBridge counts
  it (the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail`` and ``Resources``, 14 for a ``Time``),
  at most 256 KB. AWS's user guide gives 256 KB; the pinned botocore's API model says 1 MB. The local
  stack holds the smaller, so code that passes here passes under either.

- DynamoDB keys in reads and updates (``Key``, ``Keys``, ``ExclusiveStartKey``, transactions' keys):
  a key attribute's string or binary value may not be empty, a partition key's may not exceed 2048
  bytes, a sort key's 1024 (moto checks these on writes only; DynamoDB refuses the read with
  ``ValidationException``, which code that puts a client's text in a key would answer as a 500). Sort
  keys are the attributes the template declares ``RANGE`` in any table or index.

The size is computed here from AWS's documented rule, not with the relay's own ``entry_size``, so a
mistake in that one is not repeated by the check. Every call is checked, from a function or not
(AWS's limits do not depend on the caller), on every botocore session created after ``enforce_limits()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore import handlers
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from devstack.template import Template

PUT_EVENTS_MAX_ENTRIES = 10
PUT_EVENTS_MAX_BYTES = 256 * 1024


def _put_events_size(entries: list[dict[str, Any]]) -> int:
    total = 0
    for entry in entries:
        total += 14 if entry.get("Time") is not None else 0
        for name in ("Source", "DetailType", "Detail"):
            value = entry.get(name)
            total += len(value.encode("utf-8")) if isinstance(value, str) else 0
        total += sum(len(str(resource).encode("utf-8")) for resource in entry.get("Resources") or [])
    return total


PARTITION_KEY_MAX_BYTES = 2048
SORT_KEY_MAX_BYTES = 1024
# The attribute names declared RANGE in the template's tables and indexes (``enforce_limits``).
_sort_keys: set[str] = {"SK"}


def _keys_of(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The item keys a DynamoDB request names (not the items it puts: moto checks those)."""
    found: list[dict[str, Any]] = []
    for name in ("Key", "ExclusiveStartKey"):
        if isinstance(params.get(name), dict):
            found.append(params[name])
    if operation == "BatchGetItem":
        for request in (params.get("RequestItems") or {}).values():
            found.extend(request.get("Keys") or [])
    for item in params.get("TransactItems") or []:
        for action in ("Get", "Update", "Delete", "ConditionCheck"):
            if action in item and isinstance(item[action].get("Key"), dict):
                found.append(item[action]["Key"])
    return found


def _key_refusal(key: dict[str, Any]) -> str | None:
    for name, value in key.items():
        if not isinstance(value, dict):
            continue
        raw = value.get("S", value.get("B"))
        if raw is None:
            continue
        size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
        if size == 0:
            return (
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                f"contain an empty string value. Key: {name}"
            )
        if name in _sort_keys and size > SORT_KEY_MAX_BYTES:
            return (
                "One or more parameter values were invalid: Aggregated size of all range keys has exceeded "
                f"the size limit of {SORT_KEY_MAX_BYTES} bytes"
            )
        if size > PARTITION_KEY_MAX_BYTES:
            return (
                "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size "
                f"limit of {PARTITION_KEY_MAX_BYTES} bytes"
            )
    return None


def refusal(service: str, operation: str, params: dict[str, Any]) -> str | None:
    """Why AWS would refuse this request for its size, or None."""
    if service == "dynamodb":
        for key in _keys_of(operation, params):
            why = _key_refusal(key)
            if why is not None:
                return why
    if (service, operation) == ("events", "PutEvents"):
        entries = params.get("Entries") or []
        if len(entries) > PUT_EVENTS_MAX_ENTRIES:
            return f"1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to {PUT_EVENTS_MAX_ENTRIES}"  # noqa: E501
        if _put_events_size(entries) > PUT_EVENTS_MAX_BYTES:
            return "Total size of the entries in the request is over the limit."
    return None


def before_parameter_build(params: dict[str, Any], model: Any, **_: Any) -> None:
    service_model = model.service_model
    service = service_model.signing_name or service_model.endpoint_prefix
    why = refusal(service, model.name, params)
    if why is not None:
        raise ClientError(
            {
                "Error": {"Code": "ValidationException", "Message": why},
                "ResponseMetadata": {
                    "HTTPStatusCode": 400,
                    "RequestId": "local-limits",
                    "HTTPHeaders": {},
                    "HostId": "",
                    "RetryAttempts": 0,
                },
            },
            model.name,
        )


def enforce_limits(template: Template | None = None) -> None:
    """Checks every call's size from now on (every botocore session created after this); idempotent.
    ``template``: where the sort keys are declared (else ``SK`` only)."""
    if template is not None:
        for table in template.of_type("AWS::DynamoDB::Table").values():
            props = table["Properties"]
            schemas = [props.get("KeySchema") or []]
            schemas += [index.get("KeySchema") or [] for index in props.get("GlobalSecondaryIndexes") or []]
            schemas += [index.get("KeySchema") or [] for index in props.get("LocalSecondaryIndexes") or []]
            _sort_keys.update(k["AttributeName"] for schema in schemas for k in schema if k["KeyType"] == "RANGE")
    handler = ("before-parameter-build", before_parameter_build)
    if handler not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(handler)
