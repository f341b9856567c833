"""Time and ids, injectable so tests can move the clock without sleeping."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def epoch_seconds() -> int:
    return int(time.time())


def epoch_micros() -> int:
    """Now, to the microsecond: to tell which of two reads of the provider came first."""
    return time.time_ns() // 1000


def now() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(stamp: str) -> datetime:
    """An ISO 8601 time as ``iso`` writes it (``...Z``)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def new_id(prefix: str) -> str:
    """Time-ordered opaque id: 12 hex digits of milliseconds, then 64 random bits."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"
