"""The README's walkthrough, run verbatim against the local stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", readme, re.S)
    assert block, "README has a walkthrough block"
    return block.group(1)


def test_the_readme_walkthrough_works_verbatim(stack: RunningStack) -> None:
    env = {**os.environ, "API": stack.api_url, "EMAIL": f"ada-{uuid.uuid4().hex[:8]}@example.com"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", walkthrough()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    health, user, payment, refund, listing, large, ledger = lines
    assert health["status"] == "ok"
    assert user["email"] == env["EMAIL"]
    assert payment["status"] == "succeeded"
    assert refund["status"] == "succeeded"
    assert refund["amount"] == 500
    assert listing["items"][0]["status"] == "partially_refunded"
    assert large["status"] == "succeeded"
    assert large["amount"] == 75000
    assert "items" in ledger
