"""Fast history: a `result_summary` column beside `results`, backfilled in SQL.

Revision ID: 0004_issue9
Revises: 0003_issue11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_issue9"
down_revision = "0003_issue11"
branch_labels = None
depends_on = None

# Counts of results by their string `status`, as jobs/schemas.summarise_results writes them;
# done by the database so a table of millions of jobs is not read back through Python.
_BACKFILL = {
    "postgresql": """
        UPDATE background_jobs SET result_summary = COALESCE((
            SELECT json_object_agg(s.k, s.n) FROM (
                SELECT e->>'status' AS k, count(*) AS n
                FROM json_array_elements(background_jobs.results) AS e
                WHERE json_typeof(e) = 'object' AND json_typeof(e->'status') = 'string'
                GROUP BY 1
            ) AS s
        ), '{}'::json)
        WHERE results IS NOT NULL AND json_typeof(results) = 'array'
    """,
    "sqlite": """
        UPDATE background_jobs SET result_summary = (
            SELECT json_group_object(s.k, s.n) FROM (
                SELECT json_extract(e.value, '$.status') AS k, count(*) AS n
                FROM json_each(background_jobs.results) AS e
                WHERE e.type = 'object' AND json_type(e.value, '$.status') = 'text'
                GROUP BY 1
            ) AS s
        )
        WHERE results IS NOT NULL AND json_type(results) = 'array'
    """,
}


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_summary", sa.JSON(), nullable=True))
    op.execute(_BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.drop_column("result_summary")
