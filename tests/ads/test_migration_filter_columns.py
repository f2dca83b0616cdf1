"""Migration 0003_issue11: existing analyses get their filter columns from their insights."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_admin

import adanalysis.cli
from adanalysis.db import create_engine


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


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(Path(adanalysis.cli.__file__).parent / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url)
    return config


async def _execute(
    url: str, *statements: tuple[str, dict[str, object]]
) -> list[tuple[object, ...]]:
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


def test_backfill_then_down_and_up_again(empty_database: str) -> None:
    config = _alembic(empty_database)
    command.upgrade(config, "0002_issue10")
    insert = (
        "INSERT INTO ad_analyses (id, user_id, account_id, video_id, ad_ids, ad_names, transcript,"
        " segments, insights, transcriber, transcription_model, analyzer, analysis_model,"
        " created_at) VALUES (:id, 'u1', 'act_1', :id, '[]', '[]', '', '[]', :insights, 'local',"
        " 'base', 'heuristic', 'rules', '2026-01-01T00:00:00+00:00')"
    )
    documents = [
        {"hook": {"type": "question"}, "score": 70, "offer": "10% off"},
        {},
        {"hook": {"type": None}, "score": None, "offer": "  "},
    ]
    asyncio.run(
        _execute(
            empty_database,
            (
                "INSERT INTO users (id, email, password_hash, is_active, is_admin, is_premium,"
                " created_at) VALUES ('u1', 'a@example.com', 'x', true, false, false,"
                " '2026-01-01T00:00:00+00:00')",
                {},
            ),
            *(
                (insert, {"id": f"a{i}", "insights": json.dumps(d)})
                for i, d in enumerate(documents)
            ),
        )
    )
    command.upgrade(config, "head")
    query = ("SELECT id, hook_type, score, has_offer FROM ad_analyses ORDER BY id", {})
    assert asyncio.run(_execute(empty_database, query)) == [
        ("a0", "question", 70, True),
        ("a1", None, None, None),
        ("a2", None, None, False),
    ]
    command.downgrade(config, "0002_issue10")
    command.upgrade(config, "head")
    assert asyncio.run(_execute(empty_database, query))[0] == ("a0", "question", 70, True)
