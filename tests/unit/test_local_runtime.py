"""The local stack runs concurrent requests in one process; Lambda never does. What a library keeps
per process must not leak from one request to another there."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest

from devstack.lambda_events import LocalLambdaContext, http_event
from devstack.runtime import isolate_event_handler_state, isolate_powertools_state


def test_concurrent_requests_each_see_their_own_event() -> None:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    # Given two resolvers (two functions' handlers) whose routes are inside resolve() at the same time
    isolate_event_handler_state()
    both_inside = threading.Barrier(2, timeout=10)
    seen: dict[str, str] = {}

    def resolver(path: str) -> APIGatewayHttpResolver:
        app = APIGatewayHttpResolver()

        @app.post(path)
        def route() -> dict[str, str]:
            both_inside.wait()  # the other request's resolve() has set its event by now
            seen[path] = str(app.current_event.body)
            return {}

        return app

    first, second = resolver("/first"), resolver("/second")

    def call(app: APIGatewayHttpResolver, path: str) -> None:
        context: Any = LocalLambdaContext(function_name=path)
        app.resolve(http_event("POST", path, body=f"body of {path}"), context)

    # When both resolve concurrently
    threads = [
        threading.Thread(target=call, args=(first, "/first")),
        threading.Thread(target=call, args=(second, "/second")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each read its own request's body
    assert seen == {"/first": "body of /first", "/second": "body of /second"}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def test_concurrent_requests_log_their_own_request_ids() -> None:
    from aws_lambda_powertools.logging import Logger

    # Given one shared Logger (as payments_core's), handlers of two functions logging at the same time
    isolate_powertools_state()
    lines = _Lines()
    logger = Logger(service="payments-test-isolation", logger_handler=lines)
    both_in = threading.Barrier(2, timeout=10)

    def handler(event: dict[str, Any], context: Any) -> None:
        both_in.wait()  # the other request has appended its keys by now
        logger.info("handling")

    decorated = logger.inject_lambda_context(correlation_id_path="requestContext.requestId")(handler)

    def call(name: str) -> None:
        decorated({"requestContext": {"requestId": f"request of {name}"}}, LocalLambdaContext(function_name=name))

    # When both run concurrently
    threads = [threading.Thread(target=call, args=(name,)) for name in ("FirstFunction", "SecondFunction")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every line carries its own request's function name and correlation id, and the service
    # name the Logger was built with
    assert sorted((line["function_name"], line["correlation_id"]) for line in lines.lines) == [
        ("FirstFunction", "request of FirstFunction"),
        ("SecondFunction", "request of SecondFunction"),
    ]
    assert {line["service"] for line in lines.lines} == {"payments-test-isolation"}


def test_concurrent_requests_publish_their_own_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    from aws_lambda_powertools.metrics import Metrics, MetricUnit

    # Given one shared Metrics (as payments_core's), handlers of two functions adding metrics at once
    isolate_powertools_state()
    metrics = Metrics(namespace="IsolationTest", service="payments-test-isolation")
    both_added = threading.Barrier(2, timeout=10)

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.add_metric(name=event["metric"], unit=MetricUnit.Count, value=1)
        both_added.wait()  # the other request has added its metric by now

    # When both run concurrently and each flushes at its end
    threads = [
        threading.Thread(target=handler, args=({"metric": name}, LocalLambdaContext(function_name=name)))
        for name in ("FirstMetric", "SecondMetric")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each request published exactly its own metric, once
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    published = sorted(name for blob in blobs for name in blob if name.endswith("Metric"))
    assert published == ["FirstMetric", "SecondMetric"]
    assert len(blobs) == 2


def test_concurrent_requests_bound_idempotency_by_their_own_deadline() -> None:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    # Given one shared idempotency config (as a handler module's), two requests registering their
    # Lambda context at the same time
    isolate_powertools_state()
    config = IdempotencyConfig(event_key_jmespath="id")
    both_registered = threading.Barrier(2, timeout=10)
    seen: dict[str, str] = {}

    def request(name: str) -> None:
        context: Any = LocalLambdaContext(function_name=name)
        config.register_lambda_context(context)
        both_registered.wait()
        assert config.lambda_context is not None
        seen[name] = config.lambda_context.function_name

    # When both run concurrently
    threads = [threading.Thread(target=request, args=(name,)) for name in ("FirstFunction", "SecondFunction")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each sees its own context (its own remaining time)
    assert seen == {"FirstFunction": "FirstFunction", "SecondFunction": "SecondFunction"}


def test_a_stripe_test_key_runs_the_stack_on_stripes_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from devstack.stack import STRIPE_TEST_MODE_URL, LocalStack, StackConfig

    # Given a test-mode key, the functions call Stripe itself with it and no local Stripe is started
    monkeypatch.setenv("DEV_STRIPE_SECRET_KEY", "sk_test_abc")
    stack = LocalStack(StackConfig.from_environment())
    assert stack.config.with_stripe is False
    overrides = stack._local_overrides()
    assert (overrides["STRIPE_SECRET_KEY"], overrides["STRIPE_API_BASE"]) == ("sk_test_abc", STRIPE_TEST_MODE_URL)
    # And a live key is refused: the local stack never moves real money
    monkeypatch.setenv("DEV_STRIPE_SECRET_KEY", "sk_live_abc")
    with pytest.raises(SystemExit):
        StackConfig.from_environment()
