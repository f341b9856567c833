"""The payments domain's rooms import no HTTP and no provider SDK: read from the source itself."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "layers" / "payments_core" / "payments_core"
DOMAIN = [
    path
    for path in sorted((PACKAGE / "payments").rglob("*.py"))
    if "providers" not in path.relative_to(PACKAGE / "payments").parts
] + [
    PACKAGE / name
    for name in (
        "errors.py",
        "idempotency_keys.py",
        "keys.py",
        "ledger.py",
        "ledger_repository.py",
        "reconciler.py",
        "reconciliation_report.py",
        "auth/accounts.py",
        "auth/repository.py",
    )
]
FORBIDDEN = ("stripe", "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.idempotency")
EDGE = ("payments_core.api", "payments_core.idempotency", "payments_core.payment_outcomes")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_domain_module_imports_a_provider_sdk_event_handler_idempotency_or_the_api_edge() -> None:
    assert len(DOMAIN) > 10
    for path in DOMAIN:
        for name in imports_of(path):
            assert not name.startswith(FORBIDDEN), (path.name, name)
            assert name not in EDGE, (path.name, name)
            assert ".providers." not in name or path.name == "wiring.py", (path.name, name)


def test_no_domain_module_names_an_http_status() -> None:
    # a status assigned or returned, HTTPStatus, or an error built with a status first (the old ApiError(409, ...))
    status = re.compile(r"\b(?:status(?:_code)?\"?\s*[=:]\s*[1-5]\d\d|HTTPStatus|\w+\(\s*[1-5]\d\d,\s*\")")
    for path in DOMAIN:
        assert not status.search(path.read_text()), path.name
