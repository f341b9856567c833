"""Lambda's init phase with CPython's cyclic garbage collector paused: each handler's first import.

Importing a handler's libraries (boto3 and botocore's service models, pydantic, Powertools) builds a
few hundred thousand objects and frees almost none of them, yet the collector keeps running full
collections over all of them as they pile up: about a tenth of a cold start here (docs/decisions.md,
"The garbage collector is paused for the init phase"). So importing this module pauses the
collector, and ``init_done()``, the handler module's last statement, ends the pause:

- ``gc.freeze()`` moves everything init built (modules, models, the resolver) into the permanent
  generation: it lives as long as the container anyway, and later collections, on the request path
  too, no longer traverse it;
- ``gc.enable()`` turns collection back on for everything a request allocates.

A handler's import is the only code that runs with the collector off: it allocates no cycles worth
collecting, and a test (tests/unit/test_init_phase.py) imports every handler in a fresh interpreter
and checks that no collection ran during its import and that the collector is on once it is done.

The same first import defers ``asyncio`` (``lazy_imports.defer``): the Stripe SDK, Powertools' batch
processor and its AppSync resolvers import it at the top of a module for async code paths that no
function of ours runs (about 20 ms of a cold start); it loads if anything ever reads it.

The pause is taken once per interpreter, when this module is first imported: in a process that
imports several handlers (the test suite, the local stack) only the first import is paused, and
each ``init_done()`` just freezes what exists and keeps the collector on.
"""

from __future__ import annotations

import gc

gc.disable()

from payments_core.lazy_imports import defer  # noqa: E402 - after the pause: its import allocates too

defer("asyncio")


def init_done() -> None:
    """Ends the init phase: what it built is frozen out of collections, and collection resumes."""
    gc.freeze()
    gc.enable()
