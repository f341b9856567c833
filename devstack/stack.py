"""The local stack in one object: moto server, localstripe, the API front and the pollers.

Used by `make dev` (devstack/__main__.py) and by the end-to-end tests' session fixture.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from devstack import swagger_ui
from devstack.aws_limits import enforce_limits
from devstack.console import Console, service_logger
from devstack.front import ApiGatewayFront
from devstack.iam import enforce as enforce_iam
from devstack.pollers import Poller, build_pollers
from devstack.provision import provision
from devstack.runtime import (
    FunctionRuntime,
    isolate_event_handler_state,
    isolate_powertools_state,
    merged_environment,
)
from devstack.template import ACCOUNT_ID, Template

ROOT = Path(__file__).resolve().parent.parent


STRIPE_TEST_MODE_URL = "https://api.stripe.com"


@dataclass
class StackConfig:
    template_path: Path = ROOT / "template.yaml"
    host: str = "127.0.0.1"
    api_port: int = 3000
    moto_port: int = 5000
    stripe_port: int = 8420
    region: str = "us-east-1"
    with_stripe: bool = True
    # The strict Stripe (devstack/strict_stripe.py) answers on stripe_port, localstripe behind it on a free
    # port; DEV_STRICT_STRIPE=0 puts localstripe itself on stripe_port.
    strict_stripe: bool = True
    # DEV_STRIPE_SECRET_KEY=sk_test_...: the functions call Stripe's test mode itself (no local Stripe is
    # started); Stripe's own webhooks reach the stack through `stripe listen --forward-to`.
    stripe_test_key: str | None = None
    echo_emails: bool = True
    access_log: bool = True
    extra_environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> StackConfig:
        return cls(
            template_path=Path(os.environ.get("DEV_TEMPLATE", str(ROOT / "template.yaml"))),
            host=os.environ.get("DEV_HOST", "127.0.0.1"),
            api_port=int(os.environ.get("DEV_API_PORT", "3000")),
            moto_port=int(os.environ.get("DEV_MOTO_PORT", "5000")),
            stripe_port=int(os.environ.get("DEV_STRIPE_PORT", "8420")),
            strict_stripe=os.environ.get("DEV_STRICT_STRIPE", "1") != "0",
            **_stripe_test_mode(os.environ.get("DEV_STRIPE_SECRET_KEY", "")),
        )


def _stripe_test_mode(key: str) -> dict[str, Any]:
    if not key:
        return {}
    if not key.startswith("sk_test_"):
        raise SystemExit(
            "DEV_STRIPE_SECRET_KEY must be a test-mode key (sk_test_...): the local stack never moves real money"
        )
    return {"stripe_test_key": key, "with_stripe": False}


def _die_with_parent() -> None:
    """Linux: localstripe gets SIGTERM when the stack's process dies, however it dies (even SIGKILL)."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.template = Template(self.config.template_path, region=self.config.region)
        self.moto_endpoint = f"http://{self.config.host}:{self.config.moto_port}"
        self.api_url = f"http://{self.config.host}:{self.config.api_port}"
        self.stripe_url = (
            STRIPE_TEST_MODE_URL
            if self.config.stripe_test_key
            else f"http://{self.config.host}:{self.config.stripe_port}"
        )
        self.localstripe_url = self.stripe_url  # behind the strict Stripe once started, on its own port
        self.strict_stripe: Any = None
        # Fresh each start unless given (the end-to-end tests sign their own events with it).
        self.webhook_secret = os.environ.get("DEV_STRIPE_WEBHOOK_SECRET") or "whsec_" + secrets.token_hex(24)
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.pollers: list[Poller] = []
        self._moto: Any = None
        self._stripe: subprocess.Popen[bytes] | None = None
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._emails_echoed = 0
        self._email_times: dict[int, str] = {}  # moto keeps no send time: when this stack first saw each
        self._stopping = threading.Event()
        self.console = Console()

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LocalStack:
        import logging

        from devstack.moto_server import SerialMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-call lines; the front logs its own
        warnings.filterwarnings("ignore", "No application metrics to publish")  # metrics are off locally

        self._moto = SerialMotoServer(self.config.host, self.config.moto_port)
        self._moto.start()
        os.environ.update(self._aws_environment())
        provision(self.template, self.moto_endpoint)
        if self.config.with_stripe:
            self._start_stripe()
        self.template.put_layers_on_path()
        specs = self.template.functions(self.moto_endpoint)
        # Before any payments_core import: its Powertools Logger and Metrics read the environment once.
        os.environ.update(merged_environment(specs.values(), self._local_overrides()))
        isolate_powertools_state()  # before the Logger is built, so its base keys are the shared ones
        # Lambda never runs two requests in one process; this stack does, and two threads resolving the
        # same lazy import at once can get a partly initialised module. Resolved once, up front.
        from payments_core.payments.providers.stripe.sdk import load_stripe_sdk

        load_stripe_sdk()
        self.console.quiet_handler_logs(service_logger())
        isolate_event_handler_state()
        enforce_iam(self.template)  # each function's AWS calls checked against its policies, as AWS does
        enforce_limits(self.template)  # and against AWS's request limits that moto does not check (aws_limits)
        self.runtimes = {logical_id: FunctionRuntime(spec) for logical_id, spec in specs.items()}
        authorizer_id = self.template.authorizer_function()
        front = ApiGatewayFront(
            self.template.http_routes(),
            self.runtimes,
            self.runtimes[authorizer_id] if authorizer_id else None,
            local_routes={
                "/_local/emails": self._emails_route,
                "/_local/stripe-webhook-secret": self._webhook_secret_route,
                "/openapi.json": self._openapi_route,
                "/docs": swagger_ui.page,
                "/docs/": swagger_ui.asset,
            },
            access_log=self.config.access_log,
            default_route=self.template.default_route(),
            console=self.console,
        )
        self._server = make_server(self.config.host, self.config.api_port, front, threaded=True)
        self._spawn(self._server.serve_forever, "api-front")
        console = self.console if self.config.access_log else None  # benchmarks run the stack silent
        self.pollers = build_pollers(self.template, self.runtimes, self.moto_endpoint, console)
        for poller in self.pollers:
            poller.start()
        if self.config.echo_emails:
            self._spawn(self._echo_emails, "email-echo")
        return self

    def stop(self) -> None:
        self._stopping.set()
        for poller in self.pollers:
            poller.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.strict_stripe is not None:
            self.strict_stripe.stop()
        if self._stripe is not None and self._stripe.poll() is None:
            self._stripe.terminate()
            try:
                self._stripe.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._stripe.kill()
        for poller in self.pollers:
            poller.join(timeout=5)
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- environment --------------------------------------------------------------------------
    def _aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.moto_endpoint,  # every boto3 client in the process talks to moto
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
        }

    def _local_overrides(self) -> dict[str, str]:
        """Values that differ locally: secrets (fresh each start, never in the template) and endpoints."""
        return {
            "JWT_SECRET": secrets.token_urlsafe(48),
            "OTP_PEPPER": secrets.token_urlsafe(48),
            "STRIPE_SECRET_KEY": self.config.stripe_test_key or "sk_test_local_" + secrets.token_hex(8),
            "STRIPE_WEBHOOK_SECRETS": self.webhook_secret,
            "STRIPE_API_BASE": self.stripe_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "AWS_READ_TIMEOUT_SECONDS": "30",
            **self.config.extra_environment,
        }

    # --- localstripe --------------------------------------------------------------------------
    def _start_stripe(self) -> None:
        launcher = Path(__file__).with_name("localstripe_server.py")  # localstripe, with reasons and descriptions
        port = _free_port(self.config.host) if self.config.strict_stripe else self.config.stripe_port
        self.localstripe_url = f"http://{self.config.host}:{port}"
        self._stripe = subprocess.Popen(
            [sys.executable, str(launcher), "--port", str(port), "--from-scratch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        _wait_until_up(f"{self.localstripe_url}/v1/balance")
        if self.config.strict_stripe:
            from devstack.strict_stripe import StrictStripe

            self.strict_stripe = StrictStripe(self.localstripe_url, self.config.host, self.config.stripe_port).start()
        response = requests.post(
            f"{self.stripe_url}/_config/webhooks/local",
            data={"url": f"{self.api_url}/webhooks/stripe", "secret": self.webhook_secret},
            timeout=5,
        )
        response.raise_for_status()

    # --- emails (SES is moto's; its backend keeps what was sent) -------------------------------
    def sent_emails(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        backend = ses_backends[ACCOUNT_ID][self.config.region]
        items = []
        for index, message in enumerate(backend.sent_messages):
            destinations = getattr(message, "destinations", {}) or {}
            sent_at = self._email_times.setdefault(index, datetime.now(UTC).isoformat(timespec="milliseconds"))
            items.append(
                {
                    "to": ", ".join(destinations.get("ToAddresses", [])),
                    "subject": getattr(message, "subject", ""),
                    "body": getattr(message, "body", getattr(message, "raw_data", "")),
                    "sent_at": sent_at.replace("+00:00", "Z"),
                }
            )
        return items

    def _emails_route(self, _: Request) -> Response:
        import json

        return Response(
            json.dumps({"items": list(reversed(self.sent_emails()))}, default=str), content_type="application/json"
        )

    def _webhook_secret_route(self, _: Request) -> Response:
        """For local tools (make webhook-send) to sign events as Stripe would for this stack."""
        return Response(self.webhook_secret, content_type="text/plain")

    def _openapi_route(self, _: Request) -> Response:
        import json

        from devstack.openapi import document

        return Response(json.dumps(document(self.template)), content_type="application/json")

    def _echo_emails(self) -> None:
        while not self._stopping.wait(0.3):
            emails = self.sent_emails()
            for email in emails[self._emails_echoed :]:
                self.console.email(email["to"], email["subject"], str(email["body"]))
            self._emails_echoed = len(emails)
