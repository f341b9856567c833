"""Collects the routes the handlers themselves register and builds the OpenAPI document from them."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from devstack.template import Template


def handler_routes(template: Template) -> list[tuple[str, str]]:
    """(method, path) of every route registered on a handler module's Powertools resolver."""
    template.put_layers_on_path()
    found: list[tuple[str, str]] = []
    for spec in template.functions().values():
        if str(spec.code_dir) not in sys.path:
            sys.path.append(str(spec.code_dir))
        module = importlib.import_module(spec.module)
        app = getattr(module, "app", None)
        if app is None:
            continue
        for route in app._static_routes + app._dynamic_routes:
            found.append((route.method, route.openapi_path))
    return found


def document(template: Template) -> dict[str, Any]:
    routes = handler_routes(template)  # puts the layer on sys.path too
    from payments_core import __version__
    from payments_core.openapi import build_document

    return build_document(routes, __version__)
