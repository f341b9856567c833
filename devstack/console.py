"""What `make dev` prints: one line per request, email, bus event and queue delivery.

By default the handlers' Powertools JSON lines are not printed: a warning or an error becomes one
line naming its function; `DEV_LOG=json` prints every handler line as Powertools writes it instead.
Colour when stdout is a terminal (and NO_COLOR is unset).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from datetime import datetime
from typing import Any

RESET, DIM = "\033[0m", "\033[2m"
RED, GREEN, YELLOW, MAGENTA, CYAN = "\033[31m", "\033[32m", "\033[33m", "\033[35m", "\033[36m"


def one_line(text: str, limit: int = 160) -> str:
    flat = " | ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Console:
    def __init__(self, json_logs: bool | None = None, colour: bool | None = None) -> None:
        self.json_logs = os.environ.get("DEV_LOG", "").lower() == "json" if json_logs is None else json_logs
        if colour is None:
            colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self._lock = threading.Lock()

    def _paint(self, text: str, colour: str) -> str:
        return f"{colour}{text}{RESET}" if self.colour else text

    def print(self, tag: str, text: str, colour: str = CYAN) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        line = f"{self._paint(stamp, DIM)} {self._paint(tag, colour)} {text}"
        with self._lock:
            print(line, flush=True)

    def request(self, method: str, path: str, status: int, ms: float, function: str) -> None:
        from payments_core.card_numbers import holds_card_number

        # A path is client text too: a card number pasted into it (a payment id; "4242/4242/..." too)
        # is not printed, its digits hidden.
        if holds_card_number(path):
            path = re.sub(r"\d", "#", path)
        colour = GREEN if status < 400 else YELLOW if status < 500 else RED
        text = f"{method} {path} -> {self._paint(str(status), colour)} ({ms:.0f} ms) {self._paint(function, DIM)}"
        stamp = datetime.now().strftime("%H:%M:%S")
        with self._lock:
            print(f"{self._paint(stamp, DIM)} {text}", flush=True)

    def email(self, to: str, subject: str, body: str) -> None:
        # Not a log line: the developer's view of the outbox of mail (codes included, on purpose).
        self.print("[email]", f"to {to}: {subject} — {one_line(body)}", MAGENTA)

    def bus(self, detail_type: str, about: str) -> None:
        self.print("[bus]", f"{detail_type} {about}".rstrip())

    def delivery(self, queue: str, function: str, messages: int, failed: int, ms: float) -> None:
        outcome = self._paint("ok", GREEN) if not failed else self._paint(f"{failed} failed", RED)
        noun = "message" if messages == 1 else "messages"
        self.print("[sqs]", f"{queue} -> {function}: {messages} {noun} {outcome} ({ms:.0f} ms)")

    def problem(self, text: str) -> None:
        self.print("[error]", one_line(text, 300), RED)

    def quiet_handler_logs(self, service_logger: logging.Logger) -> None:
        """Unless DEV_LOG=json: a handler's INFO lines are dropped, a warning or error is one line."""
        if self.json_logs:
            return
        service_logger.addFilter(_SummaryFilter(self))


class _SummaryFilter(logging.Filter):
    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            from devstack.runtime import CURRENT_FUNCTION

            function = CURRENT_FUNCTION.get() or "-"
            detail = getattr(record, "error_code", None) or getattr(record, "error_type", None)
            message = record.getMessage() + (f" ({detail})" if detail else "")
            tag, colour = ("[warn]", YELLOW) if record.levelno == logging.WARNING else ("[error]", RED)
            self.console.print(tag, f"{function}: {one_line(message, 300)}", colour)
        return False


def service_logger() -> logging.Logger:
    """The stdlib logger behind the handlers' Powertools Logger (payments_core.observability)."""
    from payments_core.observability import logger

    inner: Any = getattr(logger, "_logger", None)
    return inner if isinstance(inner, logging.Logger) else logging.getLogger(logger.service)
