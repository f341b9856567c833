"""The local stack runs concurrent requests in one process; Lambda never does. What a library keeps
per process must not leak from one request to another there."""

from __future__ import annotations

import threading
from typing import Any

from devstack.lambda_events import LocalLambdaContext, http_event
from devstack.runtime import isolate_event_handler_state


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
