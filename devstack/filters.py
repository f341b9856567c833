"""Event filter patterns (EventBridge syntax, as Lambda's FilterCriteria use): the subset we use.

Supported: nested objects, lists of exact values, ``{"prefix": …}``, ``{"exists": bool}`` and
``{"anything-but": […]}``. DynamoDB stream patterns match the record as Lambda sees it.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def _value_matches(condition: Any, value: Any) -> bool:
    if isinstance(condition, dict):
        if "prefix" in condition:
            return isinstance(value, str) and value.startswith(condition["prefix"])
        if "exists" in condition:
            return (value is not _MISSING) == bool(condition["exists"])
        if "anything-but" in condition:
            excluded = condition["anything-but"]
            excluded = excluded if isinstance(excluded, list) else [excluded]
            return value is not _MISSING and value not in excluded
        return False
    return value is not _MISSING and value == condition


def matches(pattern: dict[str, Any], event: Any) -> bool:
    for key, condition in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(condition, dict):
            if value is _MISSING or not isinstance(value, dict) or not matches(condition, value):
                return False
        elif isinstance(condition, list):
            if not any(_value_matches(option, value) for option in condition):
                return False
        elif not _value_matches(condition, value):
            return False
    return True
