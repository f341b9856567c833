"""Runs a function's handler in-process, the way Lambda runs it in containers.

Each "container" is its own copy of the handler module, used by one invocation at a time, so
module-level state (a handler's resolver, say) is never shared by two concurrent requests.
Containers are created on demand, like Lambda scaling out, and reused warm. State a library keeps
per process rather than per module is made per thread (``isolate_event_handler_state``,
``isolate_powertools_state``).
"""

from __future__ import annotations

import contextvars
import copy
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from devstack.lambda_events import LocalLambdaContext
from devstack.template import FunctionSpec

# The function whose handler is running in this thread (benchmarks attribute AWS calls with it).
CURRENT_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_function", default=None)
# Every finished invocation: (function, seconds). Benchmarks read it; nothing else does.
INVOCATIONS: list[tuple[str, float]] = []


class EnvironmentConflict(RuntimeError):
    pass


ROUTER_STATE = ("current_event", "lambda_context")
METRICS_STATE = ("metric_set", "dimension_set", "dimension_sets", "metadata_set", "timestamp")


class _PerThreadAttribute:
    """A class attribute whose value belongs to the thread that set it."""

    def __init__(self, state: threading.local, name: str) -> None:
        self.state, self.name = state, name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return getattr(self.state, self.name)


class _RouterClassProxy:
    """Stands for Powertools' BaseRouter class where its module writes the request state."""

    def __init__(self, router: type, state: threading.local) -> None:
        object.__setattr__(self, "_router", router)
        object.__setattr__(self, "_state", state)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state if name in ROUTER_STATE else self._router, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._state if name in ROUTER_STATE else self._router, name, value)


def isolate_event_handler_state() -> None:
    """Powertools' Event Handler keeps the request being resolved (event, context) as class attributes
    of ``BaseRouter``: one per process. Right on Lambda, which never runs two requests in a process;
    wrong here, where one request could read another's body, headers or authorizer context (seen: an
    OTP verification that received a Stripe webhook's body). Here that state is kept per thread."""
    from aws_lambda_powertools.event_handler import api_gateway

    if isinstance(api_gateway.BaseRouter, _RouterClassProxy):
        return
    state = threading.local()
    router = api_gateway.BaseRouter
    for name in ROUTER_STATE:
        setattr(router, name, _PerThreadAttribute(state, name))  # reads, on the class or an instance
    api_gateway.BaseRouter = _RouterClassProxy(router, state)  # type: ignore[misc,assignment]  # its writes


class _PerThreadCopy:
    """An instance attribute of a library object, per thread: a thread starts from a copy of the value
    the object was given in the thread that built it, then keeps its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = threading.local()

    def _values(self) -> dict[int, Any]:
        values: dict[int, Any] = self.state.__dict__.setdefault("values", {})
        return values

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        values = self._values()
        if id(instance) not in values:
            values[id(instance)] = copy.copy(instance.__dict__[self.name])
        return values[id(instance)]

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__.setdefault(self.name, value)  # the base other threads copy
        self._values()[id(instance)] = value


def _per_thread(owner: type, names: Iterable[str]) -> None:
    for name in names:
        if not isinstance(owner.__dict__.get(name), _PerThreadCopy):
            setattr(owner, name, _PerThreadCopy(name))


def isolate_powertools_state() -> None:
    """Powertools keeps some of the request in progress on objects every thread shares: the Logger the
    keys it puts on every line (``inject_lambda_context``'s function name, request id and correlation
    id) in its formatter; Metrics the request's metrics, dimensions and metadata in its provider;
    Idempotency the Lambda context (whose remaining time bounds an in-progress record) in its config.
    Lambda runs one request per process; here concurrent requests would stamp each other's ids on
    their log lines, flush each other's metrics and time out on each other's deadline. Here that
    state is kept per thread (the front and the pollers run each request on its own thread)."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
    from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig

    _per_thread(LambdaPowertoolsFormatter, ["log_format"])
    _per_thread(AmazonCloudWatchEMFProvider, METRICS_STATE)
    _per_thread(IdempotencyConfig, ["lambda_context"])


def merged_environment(specs: Iterable[FunctionSpec], overrides: dict[str, str]) -> dict[str, str]:
    """The union of every function's environment. Handlers share one process here, so two functions
    giving one variable different values is refused rather than silently resolved."""
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for spec in specs:
        for key, value in spec.environment.items():
            if key in overrides:
                continue
            if key in merged and merged[key] != value:
                raise EnvironmentConflict(
                    f"{key} is {merged[key]!r} in {owners[key]} but {value!r} in {spec.logical_id}; "
                    "the in-process local stack needs one value per variable"
                )
            merged[key], owners[key] = value, spec.logical_id
    return merged | overrides


class FunctionRuntime:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._idle: list[ModuleType] = []
        self._count = 0
        self._lock = threading.Lock()
        if str(spec.code_dir) not in sys.path:
            sys.path.append(str(spec.code_dir))

    def _new_container(self) -> ModuleType:
        with self._lock:
            self._count += 1
            number = self._count
        if number == 1:
            return importlib.import_module(self.spec.module)
        path = self.spec.code_dir / f"{self.spec.module}.py"
        module_spec = importlib.util.spec_from_file_location(f"{self.spec.module}__container{number}", path)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            module = self._idle.pop() if self._idle else None
        if module is None:
            module = self._new_container()
        try:
            handler: Callable[[dict[str, Any], LocalLambdaContext], Any] = getattr(module, self.spec.attribute)
            context = LocalLambdaContext(
                function_name=self.spec.logical_id,
                timeout_seconds=self.spec.timeout,
                memory_limit_in_mb=self.spec.memory,
                region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            )
            token = CURRENT_FUNCTION.set(self.spec.logical_id)
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                INVOCATIONS.append((self.spec.logical_id, time.perf_counter() - started))
                CURRENT_FUNCTION.reset(token)
        finally:
            with self._lock:
                self._idle.append(module)
