"""An HTTP front that plays API Gateway (HTTP API, payload 2.0) for every route in template.yaml.

A small WSGI app rather than SAM CLI's own emulator: ``samcli.local.apigw`` is built around its
container runtime (LocalApigwService takes a LambdaRuntime that starts images), so driving it
in-process would mean re-implementing that runtime's contract against SAM CLI internals that
change between releases. The mapping here is a page of code, tested against the payload 2.0 format.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from devstack.console import Console
from devstack.lambda_events import authorizer_event, http_event
from devstack.runtime import FunctionRuntime
from devstack.template import DEFAULT_ROUTE, HttpRoute

LocalRoute = Callable[[Request], Response]


def _werkzeug_path(path: str) -> str:
    path = re.sub(r"\{([A-Za-z0-9_]+)\+\}", r"<path:\1>", path)
    return re.sub(r"\{([A-Za-z0-9_]+)\}", r"<\1>", path)


def _gateway_message(status: int, message: str) -> Response:
    """API Gateway's own answers (not the application's envelope), as AWS sends them."""
    return Response(json.dumps({"message": message}), status=status, content_type="application/json")


def comma_joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated query parameters as payload 2.0 gives them: one key, values joined by commas
    (``?limit=5&limit=6`` is ``"5,6"``, which a handler must refuse, not the last value alone)."""
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


class ApiGatewayFront:
    def __init__(
        self,
        routes: Iterable[HttpRoute],
        runtimes: dict[str, FunctionRuntime],
        authorizer: FunctionRuntime | None,
        local_routes: dict[str, LocalRoute] | None = None,
        access_log: bool = False,
        default_route: HttpRoute | None = None,
        console: Console | None = None,
    ) -> None:
        self.access_log = access_log
        self.console = console or Console(json_logs=True, colour=False)
        self.runtimes = runtimes
        self.authorizer = authorizer
        self.local_routes = local_routes or {}
        self.default_route = default_route
        rules = [
            Rule(_werkzeug_path(route.path), endpoint=route, methods=None if route.method == "ANY" else [route.method])
            for route in routes
        ]
        self.url_map = Map(rules, strict_slashes=False, merge_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        response, function = self._dispatch(request)
        if self.access_log:
            elapsed = (time.perf_counter() - started) * 1000
            self.console.request(request.method, request.path, response.status_code, elapsed, function)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        return self._dispatch(request)[0]

    def _dispatch(self, request: Request) -> tuple[Response, str]:
        """The response, and who gave it: a function's logical id, "gateway" or "local"."""
        local = self._local_route(request.path) if request.method == "GET" else None
        if local is not None:
            return local(request), "local"
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            route, params = adapter.match(method=request.method)
        except (NotFound, MethodNotAllowed):
            if self.default_route is None:
                return _gateway_message(404, "Not Found"), "gateway"
            route, params = self.default_route, {}  # API Gateway's $default route: no route matched
        except HTTPException as error:
            return _gateway_message(error.code or 400, error.name), "gateway"
        assert isinstance(route, HttpRoute)
        event = http_event(
            request.method,
            request.path,
            route_key=route.path if route.path == DEFAULT_ROUTE else f"{route.method} {route.path}",
            headers=dict(request.headers.items()),
            body=request.get_data() or None,
            query=comma_joined(parse_qsl(request.query_string.decode(), keep_blank_values=True)) or None,
            raw_query=request.query_string.decode(),
            path_parameters={key: str(value) for key, value in params.items()} or None,
            source_ip=request.remote_addr or "127.0.0.1",
        )
        if not route.public and self.authorizer is not None:
            identity = event["headers"].get("authorization")
            if not identity:
                return _gateway_message(401, "Unauthorized"), "gateway"  # identity source missing: no authorizer call
            verdict = self.authorizer.invoke(authorizer_event(event, [identity]))
            if not verdict.get("isAuthorized"):
                return _gateway_message(403, "Forbidden"), "gateway"
            event["requestContext"]["authorizer"] = {"lambda": verdict.get("context") or {}}
        try:
            result = self.runtimes[route.function_id].invoke(event)
        except Exception:  # a crashed handler is API Gateway's 500, as on AWS
            import traceback

            traceback.print_exc()
            return _gateway_message(500, "Internal Server Error"), route.function_id
        return self._to_response(result), route.function_id

    def _local_route(self, path: str) -> LocalRoute | None:
        """A local-only route: an exact path, or a prefix ending in "/" (static assets)."""
        if path in self.local_routes:
            return self.local_routes[path]
        for prefix, route in self.local_routes.items():
            if prefix.endswith("/") and path.startswith(prefix):
                return route
        return None

    @staticmethod
    def _to_response(result: Any) -> Response:
        if not (isinstance(result, dict) and "statusCode" in result):
            return Response(json.dumps(result), status=200, content_type="application/json")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        response = Response(data, status=int(result["statusCode"]))
        response.headers.clear()
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for key, values in (result.get("multiValueHeaders") or {}).items():
            for value in values:
                response.headers.add(key, str(value))
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", cookie)
        if "content-type" not in {key.lower() for key in response.headers.keys()}:  # noqa: SIM118
            response.headers["Content-Type"] = "application/json"
        return response
