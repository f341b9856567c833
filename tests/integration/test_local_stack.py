"""The local stack itself: template-driven, every sample event runs, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.template import Template
from tests.conftest import ROOT
from tests.integration.conftest import start_stack, stop_stack, template_copy

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
