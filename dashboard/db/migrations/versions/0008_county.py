"""a user's scope can be a township: user_township

Revision ID: 0008_county
Revises: 0008_zero
Create Date: 2026-12-02

``user_township``: one row per township a leader or admin acts for (a township leader or
township administrator). A leader or admin without rows acts for the whole county; a clerk's
scope stays in ``user_scope`` (villages).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_county'
down_revision = '0008_zero'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_township",
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("township_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name="fk_user_township_user_id_app_user",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["township_id"], ["township.id"],
                                name="fk_user_township_township_id_township", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "township_id", name="pk_user_township"),
    )


def downgrade():
    op.drop_table("user_township")
