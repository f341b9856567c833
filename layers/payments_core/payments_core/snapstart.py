"""A function's one-time work, declared once: run before the snapshot with Lambda SnapStart.

Each handler module calls ``prepare(...)`` with what its first request would otherwise set up: the
AWS clients it calls, the SSM client its secrets come from, the SDKs it imports lazily. With
SnapStart (template parameter ``SnapStart=PublishedVersions``) Lambda runs that work when a version is
published, as a ``register_before_snapshot`` runtime hook, and every new container resumes from the
snapshot with it done. Without SnapStart nothing changes: the cached factories do the same work on
first use, so moto can still start before any client exists (house style).

What never goes into a snapshot: secret values (read after restore, on first use, from SSM, so a
rotated secret needs no new version), random state or ids (``secrets``/``uuid`` draw from the OS at
request time), open connections (none is opened before the snapshot: creating a boto3 client or the
Stripe SDK does not connect).

``warm_up()`` runs the registered work now: the cold-start benchmark and the tests use it to measure
and check the full one-time cost, which is what a container pays without SnapStart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import NamedTuple

try:  # part of Lambda's managed Python runtimes; a dev dependency locally
    from snapshot_restore_py import register_before_snapshot  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - only without the dev dependency

    def register_before_snapshot(func: Callable[..., object], *args: object, **kwargs: object) -> None:  # noqa: ARG001
        return None


class Preparation(NamedTuple):  # not a dataclass: every function creates this class in its init
    clients: tuple[str, ...] = ()
    secrets: bool = False
    imports: tuple[str, ...] = ()
    steps: tuple[Callable[[], object], ...] = ()

    def run(self) -> None:
        from payments_core import aws

        for service in self.clients:
            if service == "dynamodb":
                aws.dynamodb_client()
            else:
                aws.client(service)
        if self.secrets:
            aws.client("ssm")
        for module in self.imports:
            importlib.import_module(module)
        for step in self.steps:
            step()


_DECLARED: list[Preparation] = []


def prepare(
    *,
    clients: tuple[str, ...] = (),
    secrets: bool = False,
    imports: tuple[str, ...] = (),
    steps: tuple[Callable[[], object], ...] = (),
) -> None:
    """Declares this function's one-time work: the AWS ``clients`` it calls, whether it reads
    ``secrets`` (from SSM), the modules it ``imports`` on first use, and any other ``steps``."""
    preparation = Preparation(clients, secrets, imports, steps)
    _DECLARED.append(preparation)
    register_before_snapshot(preparation.run)


def declared() -> list[Preparation]:
    return list(_DECLARED)


def warm_up() -> None:
    """Runs the declared one-time work now, as the before-snapshot hook would."""
    for preparation in _DECLARED:
        preparation.run()
