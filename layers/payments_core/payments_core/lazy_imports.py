"""Import mechanics for the init phase: modules that a library imports and a function never uses.

Two cases cost a cold start measurably (``-X importtime``, docs/benchmarks.md):

- ``asyncio`` (about 20 ms): the Stripe SDK's HTTP module, Powertools' AppSync resolvers and its batch
  processor import it at the top of a module and use it only in their async code paths, which no
  function of ours runs. ``defer("asyncio")`` puts a module made from asyncio's spec in
  ``sys.modules``, its code not run yet: every ``import asyncio`` gets that one module object, and its
  code runs on the first read of one of its names. Once run it *is* asyncio, so nothing can tell the
  difference but the time.
- a package whose ``__init__`` imports every sibling to export their names: Powertools'
  ``event_handler`` imports every resolver (AppSync's brings ``asyncio``, Bedrock's, VPC Lattice's...)
  when a function only needs ``APIGatewayHttpResolver``. ``package_without_init(name)`` puts the
  package in ``sys.modules`` without running its ``__init__``: its submodules import as usual, and a
  name read from the package is imported from the submodule its ``__init__`` imports it from (as
  that ``__init__``'s source says); any other name runs the real ``__init__`` then.

Either is a no-op when the module is already imported (the test suite, the local stack).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import threading
from types import ModuleType


class _Deferred(ModuleType):
    """A module whose code has not run yet: it runs, in this same object, on the first read of an
    attribute the module's spec did not set (``__spec__``, ``__name__``, ``__path__``... are there
    already, so an ``import`` statement finding it in ``sys.modules`` does not load it, as it would
    the standard library's ``importlib.util.LazyLoader``, which loads on any attribute read)."""

    def __getattr__(self, attribute: str) -> object:
        spec = self.__spec__
        assert spec is not None
        assert spec.loader is not None
        with _LOCK:
            if isinstance(self, _Deferred) and not _LOADING.get(spec.name):
                _LOADING[spec.name] = True
                try:
                    spec.loader.exec_module(self)
                    self.__class__ = ModuleType  # type: ignore[assignment]
                finally:
                    del _LOADING[spec.name]
            elif _LOADING.get(spec.name):  # read while its own code runs: not there yet
                raise AttributeError(f"module {spec.name!r} has no attribute {attribute!r}")
        return ModuleType.__getattribute__(self, attribute)


_LOCK = threading.RLock()
_LOADING: dict[str, bool] = {}


def defer(name: str) -> ModuleType:
    """``name`` in ``sys.modules`` as a module whose code runs on the first read of one of its names."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module
    return module


def is_loaded(name: str) -> bool:
    """Whether ``name``'s code has run (a deferred module that nothing has read yet has not)."""
    module = sys.modules.get(name)
    return module is not None and not isinstance(module, _Deferred)


def _exports(name: str, source: str) -> dict[str, tuple[str, str]]:
    """What a package's ``__init__`` imports at its top level from where: name -> (module, name there)."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            module = f"{name}.{node.module}" if node.level == 1 else node.module
            if node.level in (0, 1):
                found.update({alias.asname or alias.name: (module, alias.name) for alias in node.names})
    return found


def package_without_init(name: str) -> ModuleType:
    """Package ``name`` in ``sys.modules`` with its ``__init__`` not run: a name read from it is a
    submodule, or is imported from where its ``__init__`` imports it (read from the ``__init__``'s
    source when first needed); any other name runs the real ``__init__`` then."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(name)
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader
    exports: dict[str, tuple[str, str]] = {}

    def __getattr__(attribute: str) -> object:  # PEP 562
        if not attribute.startswith("__") and importlib.util.find_spec(f"{name}.{attribute}") is not None:
            return importlib.import_module(f"{name}.{attribute}")
        if not exports:
            exports.update(_exports(name, loader.get_source(name) or ""))  # type: ignore[attr-defined]
        if attribute in exports:
            module, there = exports[attribute]
            source = importlib.import_module(module)
            value = getattr(source, there) if hasattr(source, there) else importlib.import_module(f"{module}.{there}")
            setattr(package, attribute, value)
            return value
        del package.__dict__["__getattr__"]
        loader.exec_module(package)  # the real __init__, in the same module object
        try:
            return package.__dict__[attribute]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}") from None

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, package)
    return package
