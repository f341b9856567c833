"""The local stack itself: template-driven, every sample event runs, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.sample_events import event_file_name
from devstack.template import Template
from tests.conftest import ROOT
from tests.integration.conftest import RunningStack, start_stack, stop_stack, template_copy

pytestmark = pytest.mark.integration
TEMPLATE = Template(ROOT / "template.yaml")


def children_of(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        parent = frontier.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                child = int(stat.parent.name)
                if child not in found:
                    found.add(child)
                    frontier.add(child)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]


@pytest.mark.parametrize("logical_id", sorted(TEMPLATE.functions()))
def test_each_event_file_runs_through_its_handler(stack: RunningStack, logical_id: str) -> None:
    # Given the committed sample event and the running local stack
    event = ROOT / "events" / event_file_name(logical_id)
    env = {
        **os.environ,
        "DEV_MOTO_PORT": stack.moto_url.rsplit(":", 1)[1],
        "DEV_STRIPE_PORT": stack.stripe_url.rsplit(":", 1)[1],
    }
    # When `make invoke`'s module runs it
    done = subprocess.run(
        [sys.executable, "-m", "devstack.invoke", logical_id, str(event)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then the handler answers, and never with a server error
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout[done.stdout.index("{\n") :])
    if logical_id == TEMPLATE.authorizer_function():
        assert result["isAuthorized"] is True
    elif logical_id in {source.function_id for source in TEMPLATE.event_sources()}:
        assert result == {"batchItemFailures": []}  # the sample batch was processed whole
    elif logical_id == "ReconcilerFunction":  # `make invoke FN=ReconcilerFunction`: one pass now
        assert result["out_of_time"] is False, result
        assert "error" not in result["outcomes"], result
    elif logical_id == "DailyReportFunction":  # the sample's day (2026-01-01) had nothing: no mismatch
        assert result == {
            "day": "2026-01-01",
            "keys": ["daily/2026-01-01.json", "daily/2026-01-01.csv"],
            "mismatches": 0,
        }
    else:
        assert 200 <= result["statusCode"] < 500, result


def test_the_stack_serves_and_provisions_what_the_template_declares(tmp_path: Path) -> None:
    # Given a copy of the template with one more route, table and queue, and no $default route
    def add_resources(body: dict[str, Any]) -> None:
        del body["Resources"]["HealthFunction"]["Properties"]["Events"]["Unmatched"]
        body["Resources"]["HealthFunction"]["Properties"]["Events"]["Extra"] = {
            "Type": "HttpApi",
            "Properties": {
                "ApiId": "__bang__Ref HttpApi",
                "Method": "GET",
                "Path": "/extra-health",
                "Auth": {"Authorizer": "NONE"},
            },
        }
        body["Resources"]["ExtraTable"] = {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        }
        body["Resources"]["ExtraQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 7}}

    with template_copy(add_resources) as copy:
        running = start_stack(tmp_path / "dev.log", template=copy)
        try:
            # Then the route is served and the resources exist, with no change to the stack's code
            # (the health handler itself knows no such path, so it answers in its own envelope, which
            # shows the front routed it there; with no $default route, an undeclared path gets API
            # Gateway's own answer)
            served = requests.get(running.api_url + "/extra-health", timeout=10).json()
            assert served["error"]["code"] == "not_found"
            assert served["error"]["request_id"]
            undeclared = requests.get(running.api_url + "/not-declared", timeout=10).json()
            assert undeclared == {"message": "Not Found"}
            assert "ExtraTable" in running.client("dynamodb").list_tables()["TableNames"]
            url = running.client("sqs").get_queue_url(QueueName="ExtraQueue")["QueueUrl"]
            attributes = running.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            assert attributes["Attributes"]["VisibilityTimeout"] == "7"
        finally:
            stop_stack(running)


def test_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    running = start_stack(tmp_path / "dev.log")
    descendants = children_of(running.process.pid)
    assert descendants, "localstripe runs as a child process"
    assert requests.get(running.api_url + "/health", timeout=10).status_code == 200
    assert stop_stack(running) == 0
    left = [pid for pid in descendants | {running.process.pid} if alive(pid)]
    assert left == []
