"""Analyst views: filterable insight columns, ad performance, checked account details.

Revision ID: 0003_issue11
Revises: 0002_issue10
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from adanalysis.ads.models import filter_fields

revision = "0003_issue11"
down_revision = "0002_issue10"
branch_labels = None
depends_on = None

# Rows read per round trip while the filter columns are backfilled.
BACKFILL_BATCH = 500
_INDEXES = {
    "ix_ad_analyses_user_score": ["user_id", "score", "id"],
    "ix_ad_analyses_user_hook_type": ["user_id", "hook_type", "created_at", "id"],
    "ix_ad_analyses_user_job": ["user_id", "job_id", "created_at", "id"],
    "ix_ad_analyses_user_account": ["user_id", "account_id", "created_at", "id"],
}


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("ad_analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hook_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("has_offer", sa.Boolean(), nullable=True))
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    _backfill_filter_fields()

    with op.batch_alter_table("facebook_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("account_currency", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("account_status", sa.String(length=32), nullable=True))

    op.create_table(
        "ad_performance",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("ad_id", sa.String(length=64), nullable=False),
        sa.Column("ad_name", sa.Text(), nullable=False),
        sa.Column("effective_status", sa.String(length=32), nullable=True),
        sa.Column("video_id", sa.String(length=64), nullable=True),
        sa.Column("video_ids", sa.JSON(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("date_start", sa.String(length=10), nullable=True),
        sa.Column("date_stop", sa.String(length=10), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("spend", sa.Float(), nullable=True),
        sa.Column("impressions", sa.Integer(), nullable=True),
        sa.Column("clicks", sa.Integer(), nullable=True),
        sa.Column("ctr", sa.Float(), nullable=True),
        sa.Column("video_3s_plays", sa.Integer(), nullable=True),
        sa.Column("thruplays", sa.Integer(), nullable=True),
        sa.Column("hook_rate", sa.Float(), nullable=True),
        sa.Column("hold_rate", sa.Float(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ad_performance_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_performance")),
        sa.UniqueConstraint("user_id", "ad_id", "period", name="uq_ad_performance_user_ad_period"),
    )
    with op.batch_alter_table("ad_performance", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ad_performance_user_period_video", ["user_id", "period", "video_id"], unique=False
        )
        batch_op.create_index(
            "ix_ad_performance_user_period_spend",
            ["user_id", "period", "spend", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_ad_performance_user_period_hook",
            ["user_id", "period", "hook_rate", "id"],
            unique=False,
        )


def _backfill_filter_fields() -> None:
    """Copy hook type, score and offer out of each existing analysis's insights JSON."""
    bind = op.get_bind()
    table = sa.table(
        "ad_analyses",
        sa.column("id", sa.String),
        sa.column("insights", sa.JSON),
        sa.column("hook_type", sa.String),
        sa.column("score", sa.Integer),
        sa.column("has_offer", sa.Boolean),
    )
    last = ""
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.insights)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        updates: list[dict[str, Any]] = []
        for row_id, insights in rows:
            hook_type, score, has_offer = filter_fields(insights)
            updates.append({"rid": row_id, "h": hook_type, "s": score, "o": has_offer})
        bind.execute(
            table.update()
            .where(table.c.id == sa.bindparam("rid"))
            .values(
                hook_type=sa.bindparam("h"), score=sa.bindparam("s"), has_offer=sa.bindparam("o")
            ),
            updates,
        )
        last = rows[-1][0]


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("ad_performance", schema=None) as batch_op:
        batch_op.drop_index("ix_ad_performance_user_period_hook")
        batch_op.drop_index("ix_ad_performance_user_period_spend")
        batch_op.drop_index("ix_ad_performance_user_period_video")
    op.drop_table("ad_performance")
    with op.batch_alter_table("facebook_credentials", schema=None) as batch_op:
        batch_op.drop_column("account_status")
        batch_op.drop_column("account_currency")
        batch_op.drop_column("account_name")
    with op.batch_alter_table("ad_analyses", schema=None) as batch_op:
        for name in _INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("has_offer")
        batch_op.drop_column("score")
        batch_op.drop_column("hook_type")
