"""suggestions referred to departments: the 意见建议办理台账 ledger

Revision ID: 0008_sugg
Revises: 0007_agg_stock
Create Date: 2026-12-02

- ``suggestion``: one row per suggestion a representative collected (建议编号, village,
  representative, collection date, category, how it was handled, the department it was
  referred to, referral and reply dates, the representative's satisfaction).
- ``import_batch.kind`` also accepts ``suggestions``. The CHECK is widened in place: on SQLite
  by rewriting the table's stored definition (the documented procedure for changing a CHECK
  constraint; a rebuild of import_batch would cascade-delete batch_change with foreign keys
  on), on PostgreSQL by replacing the constraint. Whatever other kinds a sibling revision
  added to the list are kept.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0008_sugg'
down_revision = '0007_agg_stock'
branch_labels = None
depends_on = None

KIND = "suggestions"
CK = "ck_import_batch_kind"


def _kinds_sqlite(conn) -> tuple[str, list[str]]:
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'import_batch'").scalar()
    m = re.search(r"kind IN \(([^)]*)\)", sql)
    return sql, [v.strip().strip("'") for v in m.group(1).split(",")]


def _kinds_pg(conn) -> list[str]:
    text = conn.execute(sa.text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :n"), {"n": CK}).scalar()
    return re.findall(r"'([^']+)'", text or "")


def _set_kinds(conn, kinds: list[str]) -> None:
    inside = ", ".join(f"'{k}'" for k in kinds)
    if conn.dialect.name == "sqlite":
        sql, _ = _kinds_sqlite(conn)
        new = re.sub(r"kind IN \([^)]*\)", f"kind IN ({inside})", sql, count=1)
        version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
        conn.exec_driver_sql("PRAGMA writable_schema = ON")
        conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'import_batch'",
                             (new,))
        conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    else:
        op.drop_constraint(op.f(CK), "import_batch", type_="check")
        op.create_check_constraint(op.f(CK), "import_batch", f"kind IN ({inside})")


def _kinds(conn) -> list[str]:
    return _kinds_sqlite(conn)[1] if conn.dialect.name == "sqlite" else _kinds_pg(conn)


def upgrade() -> None:
    op.create_table(
        "suggestion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sugg_no", sa.String(length=64), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("rep_name", sa.String(length=50), nullable=False),
        sa.Column("collected_on", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("handling", sa.String(length=12), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("referred_on", sa.Date(), nullable=True),
        sa.Column("replied_on", sa.Date(), nullable=True),
        sa.Column("satisfaction", sa.String(length=12), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("handling IN ('on_the_spot', 'referred', 'in_progress')",
                           name=op.f("ck_suggestion_handling")),
        sa.CheckConstraint("satisfaction IS NULL OR satisfaction IN ('satisfied', 'basic', 'dissatisfied')",
                           name=op.f("ck_suggestion_satisfaction")),
        sa.CheckConstraint(
            "(handling = 'referred' AND department IS NOT NULL AND referred_on IS NOT NULL)"
            " OR (handling <> 'referred' AND referred_on IS NULL AND replied_on IS NULL)",
            name=op.f("ck_suggestion_referral")),
        sa.CheckConstraint("referred_on IS NULL OR referred_on >= collected_on",
                           name=op.f("ck_suggestion_referred_date")),
        sa.CheckConstraint("replied_on IS NULL OR replied_on >= referred_on",
                           name=op.f("ck_suggestion_replied_date")),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batch.id"],
                                name=op.f("fk_suggestion_batch_id_import_batch")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"],
                                name=op.f("fk_suggestion_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion")),
        sa.UniqueConstraint("village_id", "sugg_no", name="uq_suggestion_village_no"),
    )
    op.create_index("ix_suggestion_village_collected", "suggestion", ["village_id", "collected_on"])
    op.create_index("ix_suggestion_referred", "suggestion", ["referred_on"])
    conn = op.get_bind()
    kinds = _kinds(conn)
    if KIND not in kinds:
        at = kinds.index("demo") if "demo" in kinds else len(kinds)
        _set_kinds(conn, kinds[:at] + [KIND] + kinds[at:])


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_index("ix_suggestion_referred", table_name="suggestion")
    op.drop_index("ix_suggestion_village_collected", table_name="suggestion")
    op.drop_table("suggestion")
    conn.execute(sa.text("DELETE FROM batch_change WHERE table_name = 'suggestion'"))
    conn.execute(sa.text("DELETE FROM import_batch WHERE kind = :k"), {"k": KIND})
    _set_kinds(conn, [k for k in _kinds(conn) if k != KIND])
