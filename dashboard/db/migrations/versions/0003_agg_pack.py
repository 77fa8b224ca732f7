"""one packed row per calendar period for all villages; a token for the registry's static facts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

``agg_pack`` holds, per calendar month, quarter and year, every village's base sums and
median days in one binary row (see dashboard.aggregates), so the metrics of a whole county
are one row to read, whatever the number of villages. ``agg_state.static_token`` is a
random value that triggers on ``village`` and ``grid`` replace on every write, so a process
may cache households, population, grids and workers for exactly as long as the token holds.
On a database that already has ledger rows the aggregates are marked stale (no packs yet):
the metrics read the raw rows until ``python -m dashboard aggregates`` rebuilds them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

STATIC = ("village", "grid")


def _triggers(dialect: str) -> list[str]:
    # a copy of dashboard.aggregates.static_trigger_ddl at this revision
    if dialect == "sqlite":
        return [f"CREATE TRIGGER agg_static_{t}_{ev.lower()} AFTER {ev} ON {t} "
                f"BEGIN UPDATE agg_state SET static_token = lower(hex(randomblob(8))) WHERE id = 1; END"
                for t in STATIC for ev in ("INSERT", "UPDATE", "DELETE")]
    out = ["""CREATE OR REPLACE FUNCTION agg_static_changed() RETURNS trigger AS $$
BEGIN
  UPDATE agg_state SET static_token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql"""]
    for t in STATIC:
        out.append(f"CREATE TRIGGER agg_static_{t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION agg_static_changed()")
    return out


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table('agg_pack',
    sa.Column('ps', sa.Integer(), nullable=False),
    sa.Column('pe', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('town_median', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('ps', 'pe', name=op.f('pk_agg_pack')))
    with op.batch_alter_table('agg_state') as b:
        b.add_column(sa.Column('static_token', sa.String(length=32), nullable=True))
    token = "lower(hex(randomblob(8)))" if dialect == "sqlite" else \
        "md5(random()::text || clock_timestamp()::text)"
    op.execute(f"UPDATE agg_state SET static_token = {token}")
    # packs do not exist yet: aggregates of a database with rows are stale until rebuilt
    op.execute("UPDATE agg_state SET dirty = 1 WHERE EXISTS (SELECT 1 FROM dispute) "
               "OR EXISTS (SELECT 1 FROM volunteer_activity) OR EXISTS (SELECT 1 FROM rep_visit)")
    for stmt in _triggers(dialect):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in STATIC:
            for ev in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS agg_static_{t}_{ev}")
    else:
        for t in STATIC:
            op.execute(f"DROP TRIGGER IF EXISTS agg_static_{t} ON {t}")
        op.execute("DROP FUNCTION IF EXISTS agg_static_changed()")
    with op.batch_alter_table('agg_state') as b:
        b.drop_column('static_token')
    op.drop_table('agg_pack')
