"""Helpers for the tests of data migrations: an empty database, alembic, raw statements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import text

import adanalysis.cli
from adanalysis.db import create_engine
from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_admin

# The owner of the rows a migration test inserts.
USER_U1 = (
    "INSERT INTO users (id, email, password_hash, is_active, is_admin, is_premium,"
    " created_at) VALUES ('u1', 'a@example.com', 'x', true, false, false,"
    " '2026-01-01T00:00:00+00:00')",
    {},
)


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet, on this pass's backend."""
    if BACKEND == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        return
    name = f"adanalysis_migration_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def alembic_config(url: str) -> Config:
    """Alembic on the project's migrations, for the database at url."""
    config = Config()
    config.set_main_option(
        "script_location", str(Path(adanalysis.cli.__file__).parent / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url)
    return config


async def execute(url: str, *statements: tuple[str, dict[str, object]]) -> list[tuple[object, ...]]:
    """Run statements in one transaction; the rows of the last one that returns rows."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple[object, ...]] = []
            for sql, params in statements:
                result = await conn.execute(text(sql), params)
                if result.returns_rows:
                    rows = [tuple(r) for r in result.all()]
            return rows
    finally:
        await engine.dispose()
