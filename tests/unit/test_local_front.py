"""The local front builds API Gateway's payload 2.0 events as AWS does."""

from __future__ import annotations

from typing import Any, cast

from werkzeug.test import Client

from devstack.front import ApiGatewayFront
from devstack.runtime import FunctionRuntime
from devstack.template import HttpRoute


def test_repeated_query_parameters_reach_the_handler_joined_by_commas() -> None:
    # Given the local front and a function that records the event it gets
    seen: list[dict[str, Any]] = []

    class Recorder:
        def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
            seen.append(event)
            return {"statusCode": 200, "body": "{}"}

    route = HttpRoute(method="GET", path="/payments", function_id="Fn", public=True)
    front = ApiGatewayFront([route], {"Fn": cast(FunctionRuntime, Recorder())}, authorizer=None)
    # When a client repeats a query parameter
    response = Client(front).get("/payments?limit=5&limit=6&cursor=")
    # Then the handler sees both values joined by a comma, as API Gateway's payload 2.0 gives them
    # (so GET /payments refuses the limit, rather than taking the last one as the local stack did)
    assert response.status_code == 200
    assert seen[0]["queryStringParameters"] == {"limit": "5,6", "cursor": ""}
