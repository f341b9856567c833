"""Every route fuzzed from the OpenAPI document (schemathesis): no 5xx, every response as documented.

CI runs a bounded number of examples per operation; `make fuzz` runs the full one (>= 1,000 cases).
It gets a stack of its own, so fuzzed paths in its access log do not reach the session's log scan.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import new_user, start_stack, stop_stack

pytestmark = pytest.mark.integration
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance," + (
    "response_headers_conformance"
)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    examples = os.environ.get("FUZZ_EXAMPLES", "8")
    stack = start_stack(tmp_path / "fuzz.log")
    try:
        token = new_user(stack.api_url).token
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{stack.api_url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                examples,
                "--header",
                f"Authorization: Bearer {token}",
                "--seed",
                os.environ.get("FUZZ_SEED", "20261122"),
                "--no-color",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    finally:
        stop_stack(stack)
    summary = done.stdout[-3000:]
    print(summary)
    assert done.returncode == 0, summary
    generated = re.search(r"(\d+) generated", done.stdout)
    assert generated, summary
    assert int(generated.group(1)) >= 100, summary
