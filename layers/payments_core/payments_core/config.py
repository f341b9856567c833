"""Configuration parsed from the environment, once per container.

A NamedTuple rather than a pydantic model: the authorizer and the outbox relay need nothing else
from pydantic, and importing it is ~80 ms of their cold start (benchmarks/cold_start.py); and rather
than a frozen dataclass, whose generated methods cost every function ~0.8 ms of init to create. The
few bounds are checked here; a bad value fails the function's init naming the variable.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import NamedTuple, Self


class Settings(NamedTuple):
    """Every setting a function may read, each from the environment variable of its name in capitals;
    each function's template entry sets what it needs. Numbers are bounded (``BOUNDS``)."""

    table_name: str = ""
    idempotency_table_name: str = ""
    jwt_issuer: str = "payments-api"
    jwt_audience: str = "payments-clients"
    jwt_ttl_seconds: int = 900
    otp_threshold_amount: int = 50_000
    stripe_api_base: str | None = None
    event_bus_name: str = "payments"
    email_sender: str = "no-reply@payments.example.com"
    app_version: str = "dev"
    aws_read_timeout_seconds: float = 5.0
    # The reconciler: how long an open item is left to the webhook and the client before it looks
    # (also the grace after a one-time code expires), and the daily report's bucket.
    reconcile_min_age_seconds: int = 600
    report_bucket: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Self:
        values: dict[str, object] = {}
        for name_in_code, default in ((name, cls._field_defaults[name]) for name in cls._fields):
            name = name_in_code.upper()
            if name not in environ:
                continue
            raw = environ[name]
            bounds = BOUNDS.get(name_in_code)
            if bounds is None:
                values[name_in_code] = raw
                continue
            kind = int if isinstance(default, int) else float
            try:
                number = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}") from None
            low, high, exclusive_low = bounds
            # Written as what a good value is, so that NaN (which compares false to everything) is refused.
            above = low is None or (number > low if exclusive_low else number >= low)
            if not (above and (high is None or number <= high)):
                limit = f"{'>' if exclusive_low else '>='} {low}" if low is not None else ""
                raise ValueError(f"{name} must be {limit}" + (f" and <= {high}" if high is not None else ""))
            values[name_in_code] = number
        return cls(**values)  # type: ignore[arg-type]


# The numeric settings' bounds: (lowest, highest, whether the lowest itself is refused); None is no
# bound. Every other setting is text.
BOUNDS: dict[str, tuple[float | None, float | None, bool]] = {
    "jwt_ttl_seconds": (60, 3600, False),
    "otp_threshold_amount": (1, None, False),
    "aws_read_timeout_seconds": (0, 60, True),
    "reconcile_min_age_seconds": (0, 86_400, False),
}


@functools.cache
def get_settings() -> Settings:
    return Settings.from_environ(os.environ)
