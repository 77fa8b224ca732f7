"""the stock layer: disputes resolved per month and, at each month's end, open and overdue

Revision ID: 0007_agg_stock
Revises: 0004
Create Date: 2026-12-01

``agg_stock`` (see dashboard.aggregates) answers 在办积案 / 超期未化解 at a period's end and
本期办结 without reading every case ever reported. On a database with ledger rows the
aggregates are marked stale until rebuilt (the metrics read the raw rows meanwhile).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_agg_stock'
down_revision = '0006_auth'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agg_stock',
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('still_open', sa.BigInteger(), nullable=False),
    sa.Column('overdue', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'grid_id', 'village_id', name=op.f('pk_agg_stock')),
    sqlite_with_rowid=False)
    op.create_index('ix_agg_stock_village', 'agg_stock', ['village_id', 'month'])
    op.execute("UPDATE agg_state SET dirty = 1 WHERE EXISTS (SELECT 1 FROM dispute)")


def downgrade() -> None:
    op.drop_index('ix_agg_stock_village', table_name='agg_stock')
    op.drop_table('agg_stock')
