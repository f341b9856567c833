"""AWS's request limits that moto does not check, enforced on the local stack.

moto accepts a ``PutEvents`` of any size; EventBridge refuses a request whose entries add up to more
than its limit with ``ValidationException: Total size of the entries in the request is over the
limit.`` and publishes none of them, on every retry. The relay would then fail its stream batch until
the records expire, so the local stack refuses it too, before it reaches moto:

- ``events:PutEvents``: at most 10 entries, and the entries' total size, counted as EventBridge counts
  it (the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail`` and ``Resources``, 14 for a ``Time``),
  at most 256 KB. AWS's user guide gives 256 KB; the pinned botocore's API model says 1 MB. The local
  stack holds the smaller, so code that passes here passes under either.

The size is computed here from AWS's documented rule, not with the relay's own ``entry_size``, so a
mistake in that one is not repeated by the check. Every call is checked, from a function or not
(AWS's limits do not depend on the caller), on every botocore session created after ``enforce_limits()``.
"""

from __future__ import annotations

from typing import Any

from botocore import handlers
from botocore.exceptions import ClientError

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


def refusal(service: str, operation: str, params: dict[str, Any]) -> str | None:
    """Why AWS would refuse this request for its size, or None."""
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


def enforce_limits() -> None:
    """Checks every call's size from now on (every botocore session created after this); idempotent."""
    handler = ("before-parameter-build", before_parameter_build)
    if handler not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append(handler)
