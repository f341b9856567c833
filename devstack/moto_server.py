"""moto in server mode, with one request at a time.

moto's backends are not thread-safe: two concurrent TransactWriteItems can both pass their
condition checks (and moto deep-copies its tables to roll back while another thread writes them),
which would let the local stack break guarantees DynamoDB gives on AWS. A lock around each request
restores DynamoDB's atomicity; the cost is throughput, which a developer's machine does not need.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class SerialMotoServer:
    def __init__(self, host: str, port: int) -> None:
        self._app = DomainDispatcherApplication(create_backend_app)
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            host, port, self._serial_app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def _serial_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
