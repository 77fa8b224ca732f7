"""failed-login back-off per source and account instead of a per-account hard lock

Revision ID: 0006_auth
Revises: 0004
Create Date: 2026-12-01

``auth_throttle``: failure counts and back-off per (source, username) and per source, which
replace the per-account hard lock (``app_user.failed_logins``/``locked_until`` stay, unused,
so a downgrade needs nothing back).
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_auth'
down_revision = '0005_intake'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "auth_throttle",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_failure_at", sa.DateTime, nullable=False),
        sa.Column("blocked_until", sa.DateTime),
    )


def downgrade():
    op.drop_table("auth_throttle")
