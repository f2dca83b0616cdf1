"""Operations: stage timings, indexes for the job metrics, notification settings and webhook log.

Revision ID: 0005_issue12
Revises: 0004_issue9
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_issue12"
down_revision = "0004_issue9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "notification_settings",
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_settings_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("job_id", sa.String(length=24), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_webhook_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_user_created", ["user_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "job_stage_timings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=24), nullable=False),
        sa.Column("stage", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["background_jobs.id"],
            name=op.f("fk_job_stage_timings_job_id_background_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_stage_timings")),
    )
    with op.batch_alter_table("job_stage_timings", schema=None) as batch_op:
        batch_op.create_index("ix_job_stage_timings_job_open", ["job_id", "ended_at"], unique=False)
        batch_op.create_index(
            "ix_job_stage_timings_started_stage",
            ["started_at", "stage", "duration_ms"],
            unique=False,
        )

    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_background_jobs_created_user", ["created_at", "user_id"], unique=False
        )
        batch_op.create_index(
            "ix_background_jobs_error_completed", ["error_code", "completed_at"], unique=False
        )
        batch_op.create_index(
            "ix_background_jobs_status_completed",
            ["status", "completed_at", "actual_duration_seconds", "result_count"],
            unique=False,
        )


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("background_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_background_jobs_status_completed")
        batch_op.drop_index("ix_background_jobs_error_completed")
        batch_op.drop_index("ix_background_jobs_created_user")

    with op.batch_alter_table("job_stage_timings", schema=None) as batch_op:
        batch_op.drop_index("ix_job_stage_timings_started_stage")
        batch_op.drop_index("ix_job_stage_timings_job_open")

    op.drop_table("job_stage_timings")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_user_created")

    op.drop_table("webhook_deliveries")
    op.drop_table("notification_settings")
