"""The cold-start benchmark's FastAPI peer stands for our API: every route of the template, with the
same request models. It is read as source (FastAPI is installed only in the benchmark's environment)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from pydantic import BaseModel

from devstack.template import Template
from payments_core.auth.models import SigninRequest, SignupRequest
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.otp_request import VerifyCodeRequest
from payments_core.payments.reference_models import PaymentOut, RefundOut
from payments_core.payments.refund_request import RefundRequest
from tests.conftest import ROOT

PEERS = {name: ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text()) for name in ("peer_fastapi", "peer_lean")}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
MODELS: list[type[BaseModel]] = [
    SignupRequest, SigninRequest, CreatePaymentRequest, CaptureRequest, RefundRequest, VerifyCodeRequest,
    PaymentOut, RefundOut,
]  # fmt: skip


def peer_routes(peer: ast.Module) -> set[tuple[str, str]]:
    routes = set()
    for node in ast.walk(peer):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Attribute)
                    and decorator.func.attr in HTTP_METHODS
                ):
                    path = decorator.args[0]
                    assert isinstance(path, ast.Constant)
                    routes.add((decorator.func.attr.upper(), str(path.value)))
    return routes


def peer_model_fields(peer: ast.Module) -> dict[str, set[str]]:
    fields: dict[str, set[str]] = {}
    for node in ast.walk(peer):
        if isinstance(node, ast.ClassDef):
            names = {item.target for item in node.body if isinstance(item, ast.AnnAssign)}
            fields[node.name] = {name.id for name in names if isinstance(name, ast.Name)} - {"model_config"}
    return fields


@pytest.mark.parametrize("peer", PEERS)
def test_the_peer_holds_every_route_of_the_template(peer: str) -> None:
    template = Template(ROOT / "template.yaml")
    assert peer_routes(PEERS[peer]) == {(route.method, route.path) for route in template.http_routes()}


def test_the_warm_bench_measures_every_route_of_the_template() -> None:
    from benchmarks.warm import ROUTES

    template = Template(ROOT / "template.yaml")
    assert set(ROUTES) == {f"{route.method} {route.path}" for route in template.http_routes()}


@pytest.mark.parametrize("peer", PEERS)
def test_the_peer_validates_the_same_request_fields_and_answers_the_same_shapes(peer: str) -> None:
    fields = peer_model_fields(PEERS[peer])
    for model in MODELS:
        assert fields[model.__name__] == set(model.model_fields), model.__name__


def test_make_bench_can_import_every_stage_outside_pytest() -> None:
    """`python -m benchmarks` runs without pytest's `pythonpath`: the stack helpers it borrows from the
    integration suite must still import (a module-level layer import there once failed the run at its
    fourth stage, after twenty minutes of cold starts)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import benchmarks.__main__; from tests.integration.conftest import start_stack, stop_stack, free_port"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
