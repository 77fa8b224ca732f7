"""pre-aggregated figures per village, grid and month (county scale)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Creates the month layer (agg_dispute_month, agg_dispute_days, agg_volunteer_month,
agg_visit_month), the period layer (agg_period) and agg_state with the triggers that
mark the aggregates dirty on any ledger write. On a database that already has ledger
rows the aggregates start dirty: until `python -m dashboard aggregates` rebuilds them,
the metrics read the raw rows, so an upgraded database shows the same figures as before.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

FLOAT_SUMS = ("volunteer_hours",)
SUMS = ("disputes_total", "disputes_resolved", "resolved_at_grid", "resolved_in_village",
        "overdue_open", "volunteer_activities", "volunteer_participants", "volunteer_hours",
        "volunteer_points", "rep_visits", "voters_contacted", "suggestions_collected",
        "issues_resolved", "issues_referred")
LEDGERS = ("dispute", "volunteer_activity", "rep_visit")


def _triggers(dialect: str) -> list[str]:
    # a copy of dashboard.aggregates.trigger_ddl at this revision (migrations never import app code)
    out = []
    if dialect == "sqlite":
        for t in LEDGERS:
            for ev in ("INSERT", "UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER agg_dirty_{t}_{ev.lower()} AFTER {ev} ON {t} "
                    f"WHEN (SELECT dirty FROM agg_state WHERE id = 1) = 0 "
                    f"BEGIN UPDATE agg_state SET dirty = 1 WHERE id = 1; END")
        return out
    out.append("""CREATE OR REPLACE FUNCTION agg_mark_dirty() RETURNS trigger AS $$
BEGIN
  UPDATE agg_state SET dirty = 1 WHERE id = 1 AND dirty = 0;
  RETURN NULL;
END $$ LANGUAGE plpgsql""")
    for t in LEDGERS:
        out.append(f"CREATE TRIGGER agg_dirty_{t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION agg_mark_dirty()")
    return out


def upgrade() -> None:
    op.create_table('agg_dispute_month',
    sa.Column('rep_month', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('res_month', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('tail', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('rep_month', 'village_id', 'grid_id', 'res_month', 'level', 'tail',
                            name=op.f('pk_agg_dispute_month')))
    op.create_index('ix_agg_dispute_month_village', 'agg_dispute_month', ['village_id', 'rep_month'])
    op.create_table('agg_dispute_days',
    sa.Column('rep_month', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('res_month', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('rep_month', 'village_id', 'grid_id', 'res_month', 'days',
                            name=op.f('pk_agg_dispute_days')))
    op.create_index('ix_agg_dispute_days_village', 'agg_dispute_days', ['village_id', 'rep_month'])
    op.create_table('agg_volunteer_month',
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('activities', sa.Integer(), nullable=False),
    sa.Column('participants', sa.BigInteger(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'village_id', 'grid_id', name=op.f('pk_agg_volunteer_month')))
    op.create_index('ix_agg_volunteer_month_village', 'agg_volunteer_month', ['village_id', 'month'])
    op.create_table('agg_visit_month',
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('voters', sa.BigInteger(), nullable=False),
    sa.Column('suggestions', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.BigInteger(), nullable=False),
    sa.Column('referred', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'village_id', name=op.f('pk_agg_visit_month')))
    op.create_index('ix_agg_visit_month_village', 'agg_visit_month', ['village_id', 'month'])
    op.create_table('agg_period',
    sa.Column('ps', sa.Integer(), nullable=False),
    sa.Column('pe', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    *[sa.Column(k, sa.Float() if k in FLOAT_SUMS else sa.BigInteger(), nullable=False) for k in SUMS],
    sa.Column('hist', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('ps', 'pe', 'grid_id', 'village_id', name=op.f('pk_agg_period')))
    op.create_index('ix_agg_period_village', 'agg_period', ['village_id', 'ps'])
    op.create_table('agg_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dirty', sa.Integer(), server_default='1', nullable=False),
    sa.Column('refreshed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agg_state')))
    # empty ledgers: the (empty) aggregates are exact; rows already there: stale until rebuilt
    op.execute("INSERT INTO agg_state (id, dirty) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM dispute) "
               "OR EXISTS (SELECT 1 FROM volunteer_activity) OR EXISTS (SELECT 1 FROM rep_visit) "
               "THEN 1 ELSE 0 END")
    for stmt in _triggers(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for t in LEDGERS:
            for ev in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS agg_dirty_{t}_{ev}")
    else:
        for t in LEDGERS:
            op.execute(f"DROP TRIGGER IF EXISTS agg_dirty_{t} ON {t}")
        op.execute("DROP FUNCTION IF EXISTS agg_mark_dirty()")
    op.drop_table('agg_state')
    for t in ('agg_period', 'agg_visit_month', 'agg_volunteer_month', 'agg_dispute_days',
              'agg_dispute_month'):
        op.drop_index(f'ix_{t}_village', table_name=t)
        op.drop_table(t)
