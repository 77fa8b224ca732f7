"""the dispute month layer as SQLite WITHOUT ROWID tables

Revision ID: 0010_agg_without_rowid
Revises: 0009_batch_township
Create Date: 2026-12-02

``agg_dispute_month`` and ``agg_dispute_days`` are read and written by their primary key only:
stored in it (as ``agg_stock`` is), a row is one b-tree entry instead of a table row plus an
index entry. The full rebuild after a 1,000,000-row load writes ~740,000 rows into each and the
period layer reads them back 85 times over (the SQLite ingest floor of issue 15). The rows are
copied over, so fresh aggregates stay fresh. PostgreSQL has no rowid: nothing to do there.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_agg_without_rowid'
down_revision = '0009_batch_township'
branch_labels = None
depends_on = None

KEYS = {
    "agg_dispute_month": ("rep_month", "village_id", "grid_id", "res_month", "level", "tail"),
    "agg_dispute_days": ("rep_month", "village_id", "grid_id", "res_month", "days"),
}


def _columns(table):
    out = [sa.Column(c, sa.Integer(), nullable=False) for c in KEYS[table] if c != "level"]
    if table == "agg_dispute_month":
        out.insert(4, sa.Column("level", sa.String(length=10), nullable=False))
    return out + [sa.Column("n", sa.Integer(), nullable=False)]


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, keys in KEYS.items():
        new = f"{table}_new"
        op.create_table(new, *_columns(table),
                        sa.PrimaryKeyConstraint(*keys, name=f"pk_{table}"),
                        sqlite_with_rowid=with_rowid)
        cols = ", ".join((*keys, "n"))
        op.execute(f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {table}")
        op.drop_index(f"ix_{table}_village", table_name=table)
        op.drop_table(table)
        op.rename_table(new, table)
        op.create_index(f"ix_{table}_village", table, ["village_id", "rep_month"])


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
