"""The import mechanics of the init phase (payments_core.lazy_imports), each in a fresh interpreter:
a deferred module is the real one once read, and a package imported without its __init__ still
exports every name its __init__ does."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT


def fresh(code: str) -> Any:
    """Runs ``code`` in a fresh interpreter on the layer's source; returns what it prints last (JSON)."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "layers" / "payments_core")},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_deferred_module_runs_when_first_read_and_is_then_the_module_itself() -> None:
    result = fresh(
        """
import json, sys
from payments_core.lazy_imports import defer, is_loaded
deferred = defer("asyncio")
import asyncio  # what a library's `import asyncio` gets
imported = is_loaded("asyncio")
async def answer():
    await asyncio.sleep(0)
    return 42
value = asyncio.run(answer())
from asyncio import gather  # the real module's names
print(json.dumps({
    "loaded_by_import": imported,
    "loaded_after_use": is_loaded("asyncio"),
    "same_object": deferred is asyncio is sys.modules["asyncio"],
    "value": value,
    "gather": gather.__module__,
}))
"""
    )
    assert result == {
        "loaded_by_import": False,
        "loaded_after_use": True,
        "same_object": True,
        "value": 42,
        "gather": "asyncio.tasks",
    }


def test_the_http_api_resolver_is_the_real_one_and_the_other_resolvers_are_not_imported() -> None:
    result = fresh(
        """
import json, sys
from payments_core.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler import api_gateway
EH, DC = "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes"
unused = [f"{EH}.appsync", f"{EH}.bedrock_agent", f"{EH}.vpc_lattice"]
unused += [f"{DC}.code_pipeline_job_event", f"{DC}.s3_event"]
before = [name for name in unused if name in sys.modules]
real = (APIGatewayHttpResolver is api_gateway.APIGatewayHttpResolver, Response is api_gateway.Response)
# a name only the package's __init__ exports still resolves, to the real class
from aws_lambda_powertools.event_handler import AppSyncResolver
from aws_lambda_powertools.event_handler.appsync import AppSyncResolver as Real
# a module that imports names from the data classes package while that package is half there
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.data_classes import SQSEvent as Exported, S3Event
import aws_lambda_powertools.event_handler as package
print(json.dumps({
    "before": before,
    "real": real,
    "content_types": content_types.APPLICATION_JSON,
    "appsync": AppSyncResolver is Real,
    "sqs": SQSEvent is Exported,
    "s3": S3Event.__module__,
    "all": sorted(package.__all__) == sorted(set(package.__all__)) and "AppSyncResolver" in package.__all__,
}))
"""
    )
    assert result == {
        "before": [],
        "real": [True, True],
        "content_types": "application/json",
        "appsync": True,
        "sqs": True,
        "s3": "aws_lambda_powertools.utilities.data_classes.s3_event",
        "all": True,
    }


def test_a_request_through_the_http_api_resolver_loads_no_deferred_module() -> None:
    # Given the health function imported in a fresh interpreter (its init defers asyncio)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            """
import json, sys
import health_handler
from payments_core.lazy_imports import is_loaded
from devstack.lambda_events import LocalLambdaContext
event = json.loads(open(sys.argv[1]).read())
# When it answers a request
answer = health_handler.lambda_handler(event, LocalLambdaContext(function_name="health"))
print(json.dumps({"status": answer["statusCode"], "asyncio": is_loaded("asyncio")}))
""",
            str(ROOT / "events" / "health.json"),
        ],
        cwd=ROOT / "functions" / "health",
        env={
            "PYTHONPATH": f"{ROOT / 'layers' / 'payments_core'}:{ROOT}",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    # Then the request did not load asyncio either: its cost stays off the request path
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"status": 200, "asyncio": False}
