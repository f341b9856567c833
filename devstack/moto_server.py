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
        install_cheap_transaction_rollback()
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


def install_cheap_transaction_rollback() -> None:
    """Make moto's TransactWriteItems cost O(items in the transaction), not O(items in the table).

    moto backs up each table a transaction touches with a deep copy of the whole table (items,
    stream records) to roll back on failure: under sustained load that is quadratic, and the load
    benchmark slowed to a crawl and grew to gigabytes. With requests serialised (above), nothing else
    changes a table during a transaction, so keeping just the touched items and the stream's length
    rolls back the same way. Applied to the local stack's moto server only, never to tests' mock_aws.
    """
    import copy
    import types

    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(dynamodb_models, "_cheap_rollback", False):
        return

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[assignment,attr-defined]
    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        streams: dict[int, tuple[Table, int]] = {}
        for entry in transact_items:
            _, operation = next(iter(entry.items()))
            table = self.tables.get(operation.get("TableName"))
            if table is None:
                continue
            key = operation.get("Key") or operation.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            try:
                old = table.get_item(hash_key, range_key)
            except Exception:
                old = None
            saved.append((table, hash_key, range_key, copy.deepcopy(old)))
            if table.stream_shard is not None:
                streams[id(table)] = (table, len(table.stream_shard.items))
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, old in reversed(saved):
                if range_key is not None:
                    if old is None:
                        table.items.get(hash_key, {}).pop(range_key, None)
                    else:
                        table.items[hash_key][range_key] = old
                elif old is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = old
            for table, length in streams.values():
                if table.stream_shard is not None:
                    del table.stream_shard.items[length:]
            raise

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    dynamodb_models._cheap_rollback = True  # type: ignore[attr-defined]
