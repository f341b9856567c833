"""Configuration parsed from the environment, once per container.

A frozen dataclass rather than a pydantic model: the authorizer and the outbox relay need nothing
else from pydantic, and importing it is ~80 ms of their cold start (benchmarks/cold_start.py). The
few bounds are checked here; a bad value fails the function's init naming the variable.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


def _bounds(low: float | None = None, high: float | None = None, *, exclusive_low: bool = False) -> dict[str, object]:
    return {"low": low, "high": high, "exclusive_low": exclusive_low}


@dataclass(frozen=True)
class Settings:
    """Every setting a function may read, each from the environment variable of its name in capitals;
    each function's template entry sets what it needs."""

    table_name: str = ""
    idempotency_table_name: str = ""
    jwt_issuer: str = "payments-api"
    jwt_audience: str = "payments-clients"
    jwt_ttl_seconds: int = field(default=900, metadata=_bounds(60, 3600))
    otp_threshold_amount: int = field(default=50_000, metadata=_bounds(1))
    stripe_api_base: str | None = None
    event_bus_name: str = "payments"
    email_sender: str = "no-reply@payments.example.com"
    app_version: str = "dev"
    aws_read_timeout_seconds: float = field(default=5.0, metadata=_bounds(0, 60, exclusive_low=True))
    # The reconciler: how long an open item is left to the webhook and the client before it looks
    # (also the grace after a one-time code expires), and the daily report's bucket.
    reconcile_min_age_seconds: int = field(default=600, metadata=_bounds(0, 86_400))
    report_bucket: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, object] = {}
        for spec in fields(cls):
            name = spec.name.upper()
            if name not in environ:
                continue
            raw = environ[name]
            if not spec.metadata:
                values[spec.name] = raw
                continue
            kind = int if isinstance(spec.default, int) else float
            try:
                number = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}") from None
            low, high = spec.metadata["low"], spec.metadata["high"]
            # Written as what a good value is, so that NaN (which compares false to everything) is refused.
            above = low is None or (number > low if spec.metadata["exclusive_low"] else number >= low)
            if not (above and (high is None or number <= high)):
                limit = f"{'>' if spec.metadata['exclusive_low'] else '>='} {low}" if low is not None else ""
                raise ValueError(f"{name} must be {limit}" + (f" and <= {high}" if high is not None else ""))
            values[spec.name] = number
        return cls(**values)  # type: ignore[arg-type]


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
