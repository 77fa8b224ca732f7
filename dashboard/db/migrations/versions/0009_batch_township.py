"""an import batch names the township its file was placed in: import_batch.township_id

Revision ID: 0009_batch_township
Revises: 0008_county
Create Date: 2026-12-02

A file that covers several villages (a township's whole ledger, a villages registry) has no
village on its batch; without its township a township administrator could not see or undo
their own township's uploads. No foreign key, as for village_id: batches outlive the place.
Existing batches take their village's township, and in a database of one township, that one.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_batch_township'
down_revision = '0008_county'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_batch", sa.Column("township_id", sa.Integer(), nullable=True))
    op.create_index("ix_import_batch_township_id", "import_batch", ["township_id"])
    op.execute("UPDATE import_batch SET township_id = (SELECT v.township_id FROM village v "
               "WHERE v.id = import_batch.village_id) WHERE village_id IS NOT NULL")
    op.execute("UPDATE import_batch SET township_id = (SELECT min(id) FROM township) "
               "WHERE township_id IS NULL AND (SELECT count(*) FROM township) = 1")


def downgrade() -> None:
    op.drop_index("ix_import_batch_township_id", table_name="import_batch")
    op.drop_column("import_batch", "township_id")
