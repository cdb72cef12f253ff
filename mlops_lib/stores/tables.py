"""The plumbing every part of the store shares: keyed inserts and small typed queries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import IntegrityError

from mlops_lib.stores.database import engine_for, require_schema


class Tables:
    """Access to the store's tables at a SQLAlchemy URL (SQLite or PostgreSQL); no DDL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = engine_for(url)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction, committed on exit; the first one checks the store's schema."""
        require_schema(self.url, self.engine)
        with self.engine.begin() as conn:
            yield conn

    def _insert_once(self, table: str, values: dict[str, Any]) -> bool:
        """Insert a keyed row; False (and nothing written) when the key is taken."""
        try:
            with self._begin() as conn:
                conn.execute(*self._insert_sql(table, values))
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _insert_sql(table: str, values: dict[str, Any]) -> tuple[TextClause, dict[str, Any]]:
        cols = ", ".join(values)
        params = ", ".join(f":{c}" for c in values)
        return text(f"INSERT INTO {table} ({cols}) VALUES ({params})"), values

    def _exec(self, sql: str, **params: Any) -> None:
        with self._begin() as conn:
            conn.execute(text(sql), params)

    def _all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        require_schema(self.url, self.engine)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def _one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self._all(sql, **params)
        return rows[0] if rows else None
