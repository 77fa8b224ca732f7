"""intake: removed rows counted per batch, the representative's level, remembered column mappings,
natural keys for keyless volunteer and visit rows

Revision ID: 0005_intake
Revises: 0004
Create Date: 2026-12-01

- ``import_batch.deleted``: rows of a village's stored ledger that a re-uploaded file no longer
  held and the clerk chose to remove (undo puts them back from ``batch_change``).
- ``rep_visit.rep_level``: 全国/省/市/县/镇 as written before the type (县人大代表), or NULL.
- ``upload_mapping``: a clerk's manual column mapping per village, kind and header signature.
- Keyless volunteer and visit rows had a hash of their whole content as record number
  (``AUTO-…``), so a corrected copy added a second row; they get the natural key the loader
  now gives such rows (``NK-…``: village + date + team + type, or village + representative +
  date + form), so the next corrected upload updates them.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_intake'
down_revision = '0004'
branch_labels = None
depends_on = None

KEYED = {"volunteer_activity": ("volunteers", "activity_no", ("held_on", "team", "category")),
         "rep_visit": ("visits", "record_no", ("rep_name", "visited_on", "form"))}


def upgrade() -> None:
    # plain ADD COLUMN (no batch rebuild: that would drop the aggregates' triggers on SQLite)
    op.add_column("import_batch", sa.Column("deleted", sa.Integer(), nullable=False,
                                            server_default="0"))
    op.add_column("rep_visit", sa.Column("rep_level", sa.String(length=10), nullable=True))
    op.create_table(
        "upload_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_mapping")),
        sa.UniqueConstraint("village_id", "kind", "signature", name="uq_upload_mapping_key"))
    _natural_keys(op.get_bind())


def _natural_keys(conn) -> None:
    import pandas as pd
    from loaders.validate import natural_keys  # the loader's own rule, so the keys meet
    for table, (kind, key, cols) in KEYED.items():
        rows = conn.execute(sa.text(
            f"SELECT id, village_id, {', '.join(cols)} FROM {table} "
            f"WHERE {key} LIKE 'AUTO-%' ORDER BY village_id, id")).all()
        if not rows:
            continue
        df = pd.DataFrame([tuple(r) for r in rows], columns=["id", "village_id", *cols])
        df["village_id"] = df["village_id"].astype("Int64")
        for c in cols:
            if c in ("held_on", "visited_on"):
                df[c] = pd.to_datetime(df[c])
            else:
                df[c] = df[c].astype(str)
        df["nk"] = natural_keys(df, kind).to_numpy()
        conn.execute(sa.text(f"UPDATE {table} SET {key} = :k WHERE id = :i"),
                     [{"k": k, "i": int(i)} for i, k in zip(df["id"], df["nk"])])


def downgrade() -> None:
    op.drop_table("upload_mapping")
    with op.batch_alter_table("rep_visit") as b:
        b.drop_column("rep_level")
    with op.batch_alter_table("import_batch") as b:
        b.drop_column("deleted")
