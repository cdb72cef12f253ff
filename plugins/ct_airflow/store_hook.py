"""Read-only queries on the project store: sync for poke mode, async for the triggerer.

The triggerer runs every trigger on one event loop, so it must not wait on a blocking driver:
the async path swaps the store URL's driver for aiosqlite / asyncpg.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from airflow.sdk import BaseHook
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from mlops_lib.stores.store import engine_for

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite", "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg", "postgresql+psycopg2": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """The same database through an async driver; URLs already async are returned as given."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        return url
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


class StoreHook(BaseHook):
    """Runs SELECTs against the store at `store_url` (default: CT_STORE_URL via Settings).

    Sync queries use the process's engine for the URL (`engine_for`: one connection pool,
    reused by every poke). Async ones use an engine scoped to `async_engine()`: an async
    engine's connections belong to one event loop, so a trigger run twice is harmless.
    """

    def __init__(self, *, store_url: str | None = None) -> None:
        super().__init__()
        self.store_url = store_url or _default_store_url()

    def get_conn(self) -> Engine:
        """The sync SQLAlchemy engine (BaseHook's contract); shared: never dispose it."""
        return engine_for(self.store_url)

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        with self.get_conn().connect() as conn:
            return [dict(r) for r in conn.execute(text(sql), dict(params)).mappings()]

    @asynccontextmanager
    async def async_engine(self) -> AsyncIterator[AsyncEngine]:
        """An async engine for one trigger run, disposed (connections closed) on exit."""
        engine = create_async_engine(async_url(self.store_url), pool_pre_ping=True)
        try:
            yield engine
        finally:
            await engine.dispose()

    @staticmethod
    async def fetch_all_async(engine: AsyncEngine, sql: str,
                              params: Mapping[str, Any]) -> list[dict[str, Any]]:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), dict(params))
            return [dict(r) for r in result.mappings()]


def _default_store_url() -> str:
    from mlops_lib.settings import Settings

    return Settings.from_env().store_url
