"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('disabled', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role IN ('leader', 'clerk', 'admin')", name=op.f('ck_app_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('ok', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('data_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('changed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_version'))
    )
    op.create_table('import_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), server_default='system', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('rows_read', sa.Integer(), server_default='0', nullable=False),
    sa.Column('inserted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated', sa.Integer(), server_default='0', nullable=False),
    sa.Column('unchanged', sa.Integer(), server_default='0', nullable=False),
    sa.Column('state', sa.String(length=10), server_default='applied', nullable=False),
    sa.CheckConstraint("kind IN ('villages', 'grids', 'disputes', 'volunteers', 'visits', 'demo')", name=op.f('ck_import_batch_kind')),
    sa.CheckConstraint("state IN ('applied', 'undone')", name=op.f('ck_import_batch_state')),
    sa.CheckConstraint('rows_read >= 0 AND inserted >= 0 AND updated >= 0 AND unchanged >= 0', name=op.f('ck_import_batch_counts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batch'))
    )
    op.create_table('township',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('is_demo', sa.Boolean(), server_default=sa.text('(false)'), nullable=False),
    sa.Column('geometry', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_township')),
    sa.UniqueConstraint('code', name=op.f('uq_township_code'))
    )
    op.create_table('batch_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('table_name', sa.String(length=40), nullable=False),
    sa.Column('row_id', sa.Integer(), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_batch_change_batch_id_import_batch'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch_change'))
    )
    with op.batch_alter_table('batch_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_change_batch_id'), ['batch_id'], unique=False)

    op.create_table('village',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=True),
    sa.Column('kind', sa.String(length=10), server_default='village', nullable=False),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('population', sa.Integer(), server_default='0', nullable=False),
    sa.Column('party_members', sa.Integer(), server_default='0', nullable=False),
    sa.Column('geometry', sa.Text(), nullable=True),
    sa.Column('minx', sa.Float(), nullable=True),
    sa.Column('miny', sa.Float(), nullable=True),
    sa.Column('maxx', sa.Float(), nullable=True),
    sa.Column('maxy', sa.Float(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('village', 'community')", name=op.f('ck_village_kind')),
    sa.CheckConstraint('code IS NULL OR length(code) = 12', name=op.f('ck_village_code_len')),
    sa.CheckConstraint('households >= 0 AND population >= 0 AND party_members >= 0', name=op.f('ck_village_counts')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_village_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['township_id'], ['township.id'], name=op.f('fk_village_township_id_township')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_village')),
    sa.UniqueConstraint('code', name=op.f('uq_village_code')),
    sa.UniqueConstraint('township_id', 'name', name='uq_village_township_name')
    )
    op.create_table('grid',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('leader', sa.String(length=50), nullable=True),
    sa.Column('workers', sa.Integer(), server_default='0', nullable=False),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('geometry', sa.Text(), nullable=True),
    sa.Column('minx', sa.Float(), nullable=True),
    sa.Column('miny', sa.Float(), nullable=True),
    sa.Column('maxx', sa.Float(), nullable=True),
    sa.Column('maxy', sa.Float(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('workers >= 0 AND households >= 0', name=op.f('ck_grid_counts')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_grid_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_grid_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid')),
    sa.UniqueConstraint('code', name=op.f('uq_grid_code')),
    sa.UniqueConstraint('village_id', 'name', name='uq_grid_village_name')
    )
    op.create_table('rep_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_no', sa.String(length=64), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('rep_name', sa.String(length=50), nullable=False),
    sa.Column('rep_type', sa.String(length=10), nullable=False),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('form', sa.String(length=10), nullable=False),
    sa.Column('voters', sa.Integer(), server_default='0', nullable=False),
    sa.Column('suggestions', sa.Integer(), server_default='0', nullable=False),
    sa.Column('resolved', sa.Integer(), server_default='0', nullable=False),
    sa.Column('referred', sa.Integer(), server_default='0', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("form IN ('home', 'station', 'forum')", name=op.f('ck_rep_visit_form')),
    sa.CheckConstraint("rep_type IN ('party', 'npc', 'cppcc')", name=op.f('ck_rep_visit_rep_type')),
    sa.CheckConstraint('resolved + referred <= suggestions', name=op.f('ck_rep_visit_outcomes')),
    sa.CheckConstraint('voters >= 0 AND suggestions >= 0 AND resolved >= 0 AND referred >= 0', name=op.f('ck_rep_visit_counts')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_rep_visit_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_rep_visit_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rep_visit')),
    sa.UniqueConstraint('village_id', 'record_no', name='uq_visit_village_no')
    )
    with op.batch_alter_table('rep_visit', schema=None) as batch_op:
        batch_op.create_index('ix_visit_village_date', ['village_id', 'visited_on'], unique=False)

    op.create_table('user_scope',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_scope_user_id_app_user'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_user_scope_village_id_village'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'village_id', name=op.f('pk_user_scope'))
    )
    op.create_table('dispute',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_no', sa.String(length=64), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('reported_on', sa.Date(), nullable=False),
    sa.Column('parties', sa.Integer(), server_default='2', nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('level', sa.String(length=10), nullable=True),
    sa.Column('mediator', sa.String(length=50), nullable=True),
    sa.Column('source', sa.String(length=50), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(status = 'resolved' AND resolved_on IS NOT NULL AND level IS NOT NULL) OR (status <> 'resolved' AND resolved_on IS NULL)", name=op.f('ck_dispute_resolved')),
    sa.CheckConstraint("level IS NULL OR level IN ('grid', 'village', 'township', 'county')", name=op.f('ck_dispute_level')),
    sa.CheckConstraint("status IN ('received', 'in_progress', 'resolved')", name=op.f('ck_dispute_status')),
    sa.CheckConstraint('parties >= 0', name=op.f('ck_dispute_parties')),
    sa.CheckConstraint('resolved_on IS NULL OR resolved_on >= reported_on', name=op.f('ck_dispute_dates')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_dispute_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_dispute_grid_id_grid')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_dispute_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute')),
    sa.UniqueConstraint('village_id', 'case_no', name='uq_dispute_village_case')
    )
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.create_index('ix_dispute_reported', ['reported_on'], unique=False)
        batch_op.create_index('ix_dispute_village_reported', ['village_id', 'reported_on'], unique=False)

    op.create_table('volunteer_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_no', sa.String(length=64), nullable=False),
    sa.Column('village_id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=True),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('team', sa.String(length=100), nullable=False),
    sa.Column('category', sa.String(length=50), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    sa.Column('hours', sa.Float(), nullable=False),
    sa.Column('points', sa.Integer(), server_default='0', nullable=False),
    sa.Column('beneficiaries', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('participants >= 0 AND hours >= 0 AND points >= 0 AND (beneficiaries IS NULL OR beneficiaries >= 0)', name=op.f('ck_volunteer_activity_counts')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batch.id'], name=op.f('fk_volunteer_activity_batch_id_import_batch')),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_volunteer_activity_grid_id_grid')),
    sa.ForeignKeyConstraint(['village_id'], ['village.id'], name=op.f('fk_volunteer_activity_village_id_village')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteer_activity')),
    sa.UniqueConstraint('village_id', 'activity_no', name='uq_volunteer_village_no')
    )
    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.create_index('ix_volunteer_village_held', ['village_id', 'held_on'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('volunteer_activity', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteer_village_held')

    op.drop_table('volunteer_activity')
    with op.batch_alter_table('dispute', schema=None) as batch_op:
        batch_op.drop_index('ix_dispute_village_reported')
        batch_op.drop_index('ix_dispute_reported')

    op.drop_table('dispute')
    op.drop_table('user_scope')
    with op.batch_alter_table('rep_visit', schema=None) as batch_op:
        batch_op.drop_index('ix_visit_village_date')

    op.drop_table('rep_visit')
    op.drop_table('grid')
    op.drop_table('village')
    with op.batch_alter_table('batch_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_change_batch_id'))

    op.drop_table('batch_change')
    op.drop_table('township')
    op.drop_table('import_batch')
    op.drop_table('data_version')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('app_user')

