"""Migration 0004_issue9: existing jobs get their result_summary from their results."""

from __future__ import annotations

import asyncio
import json

from alembic import command

from tests.migration_support import USER_U1, alembic_config, empty_database, execute

__all__ = ["empty_database"]  # the fixture, shared


def test_backfill_counts_results_by_status(empty_database: str) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, "0003_issue11")
    insert = (
        "INSERT INTO background_jobs (id, user_id, job_type, status, progress, parameters,"
        " results, created_at, updated_at, attempts, max_attempts, priority) VALUES (:id, 'u1',"
        " 'ad_analysis', 'completed', 100, '{}', :results, '2026-01-01T00:00:00+00:00',"
        " '2026-01-01T00:00:00+00:00', 1, 3, 0)"
    )
    results = {
        "j0": [{"status": "analyzed"}, {"status": "analyzed"}, {"status": "failed"}, {"x": 1}],
        "j1": [],
        "j2": None,
        "j3": [{"status": 3}, "note", 7],
    }
    asyncio.run(
        execute(
            empty_database,
            USER_U1,
            *(
                (insert, {"id": job_id, "results": None if r is None else json.dumps(r)})
                for job_id, r in results.items()
            ),
        )
    )
    command.upgrade(config, "head")
    rows = asyncio.run(
        execute(empty_database, ("SELECT id, result_summary FROM background_jobs ORDER BY id", {}))
    )
    summaries = {job_id: (json.loads(s) if isinstance(s, str) else s) for job_id, s in rows}
    assert summaries == {"j0": {"analyzed": 2, "failed": 1}, "j1": {}, "j2": None, "j3": {}}
    command.downgrade(config, "0003_issue11")
    command.upgrade(config, "head")
