"""zero reports (零报告): a village's clerk reports that a ledger has no rows for a month

Revision ID: 0008_zero
Revises: 0008_sugg
Create Date: 2026-12-02

``zero_report`` (village, ledger kind, "YYYY-MM", batch): filed as an import batch of that
ledger kind, so history, audit and undo treat it like an upload. The completeness board
(dashboard.queries.completeness) reads it beside the ledger rows; ``ix_batch_change_row`` finds
the batches that wrote a row (the board's "first covered", undo's later-batch check).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_zero'
down_revision = '0008_sugg'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('zero_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('length(month) = 7', name=op.f('ck_zero_report_month')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'],
                            name=op.f('fk_zero_report_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'],
                            name=op.f('fk_zero_report_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zero_report')),
    sa.UniqueConstraint('village_id', 'kind', 'month', name='uq_zero_report_village_kind_month'))
    op.create_index('ix_zero_report_month', 'zero_report', ['month', 'kind'])
    op.create_index('ix_batch_change_row', 'batch_change', ['table_name', 'row_id'])


def downgrade() -> None:
    op.drop_index('ix_batch_change_row', table_name='batch_change')
    op.drop_index('ix_zero_report_month', table_name='zero_report')
    op.drop_table('zero_report')
