"""Migration 0003_issue11: existing analyses get their filter columns from their insights."""

from __future__ import annotations

import asyncio
import json

from alembic import command
from tests.migration_support import USER_U1, alembic_config, empty_database, execute

__all__ = ["empty_database"]  # the fixture, shared


def test_backfill_then_down_and_up_again(empty_database: str) -> None:
    config = alembic_config(empty_database)
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
        execute(
            empty_database,
            USER_U1,
            *(
                (insert, {"id": f"a{i}", "insights": json.dumps(d)})
                for i, d in enumerate(documents)
            ),
        )
    )
    command.upgrade(config, "head")
    query = ("SELECT id, hook_type, score, has_offer FROM ad_analyses ORDER BY id", {})
    assert asyncio.run(execute(empty_database, query)) == [
        ("a0", "question", 70, True),
        ("a1", None, None, None),
        ("a2", None, None, False),
    ]
    command.downgrade(config, "0002_issue10")
    command.upgrade(config, "head")
    assert asyncio.run(execute(empty_database, query))[0] == ("a0", "question", 70, True)
