"""The clients and databases one runtime's adapters share: its own module, so the wiring of the outputs and of the
runtime both use it without importing each other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gcevents.adapters.sqlite.database import SqliteDatabase


class Resources:
    """One boto3 client per service and one SQLite database per path, shared by the adapters of one runtime
    (clients stay `Any`: boto3 is untyped here)."""

    def __init__(self, clients: dict[str, Any] | None = None, *, max_pool_connections: int = 32) -> None:
        self.clients: dict[str, Any] = clients if clients is not None else {}
        self.databases: dict[str, SqliteDatabase] = {}
        self.max_pool_connections = max_pool_connections

    def client(self, service: str) -> Any:
        if service not in self.clients:
            from gcevents.adapters.aws import make_client

            self.clients[service] = make_client(service, max_pool_connections=self.max_pool_connections)
        return self.clients[service]

    def database(self, path: str) -> SqliteDatabase:
        if path not in self.databases:
            from gcevents.adapters.sqlite.database import SqliteDatabase

            self.databases[path] = SqliteDatabase(path)
        return self.databases[path]
