"""The database schema (SQLAlchemy Core).

Core tables rather than ORM classes: imports and aggregates work on whole
columns, never on per-row objects. Geometry is GeoJSON text plus bounding-box
columns, so SQLite and PostgreSQL (with or without PostGIS) hold the same data.
Enumerations are stored as short English codes; labels come from the catalogue.
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

VILLAGE_KINDS = ("village", "community")
DISPUTE_STATUSES = ("received", "in_progress", "resolved")
LEVELS = ("grid", "village", "township", "county")
REP_TYPES = ("party", "npc", "cppcc")
VISIT_FORMS = ("home", "station", "forum")
REP_LEVELS = ("national", "province", "city", "county", "township")
ROLES = ("leader", "clerk", "admin")
HANDLINGS = ("on_the_spot", "referred", "in_progress")
SATISFACTIONS = ("satisfied", "basic", "dissatisfied")
BATCH_KINDS = ("villages", "grids", "disputes", "volunteers", "visits", "suggestions", "demo")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


def _bbox() -> list[sa.Column]:
    return [sa.Column(n, sa.Float) for n in ("minx", "miny", "maxx", "maxy")]


township = sa.Table(
    "township", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(12), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("geometry", sa.Text),
)

import_batch = sa.Table(
    "import_batch", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("village_id", sa.Integer),  # no FK: batches outlive a village's rename/removal
    # the township the file was placed in (a file of several villages has no village_id)
    sa.Column("township_id", sa.Integer, index=True),
    sa.Column("username", sa.String(64), nullable=False, server_default="system"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False, server_default="0"),
    sa.Column("inserted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(10), nullable=False, server_default="applied"),
    # rows of the village's stored ledger the file no longer held, removed at the clerk's choice
    sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(_in("kind", BATCH_KINDS), name="kind"),
    sa.CheckConstraint(_in("state", ("applied", "undone")), name="state"),
    sa.CheckConstraint("rows_read >= 0 AND inserted >= 0 AND updated >= 0 AND unchanged >= 0",
                       name="counts"),
)

# What each batch changed, so that undo restores exactly the rows it touched:
# before IS NULL means the batch inserted the row; otherwise it holds the row's
# previous values as JSON.
batch_change = sa.Table(
    "batch_change", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("table_name", sa.String(40), nullable=False),
    sa.Column("row_id", sa.Integer, nullable=False),
    sa.Column("before", sa.Text),
    # the batches that wrote a row (the completeness board's first cover, undo's later-batch check)
    sa.Index("ix_batch_change_row", "table_name", "row_id"),
)

village = sa.Table(
    "village", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("township_id", sa.Integer, sa.ForeignKey("township.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("code", sa.String(12), unique=True),
    sa.Column("kind", sa.String(10), nullable=False, server_default="village"),
    sa.Column("households", sa.Integer, nullable=False, server_default="0"),
    sa.Column("population", sa.Integer, nullable=False, server_default="0"),
    sa.Column("party_members", sa.Integer, nullable=False, server_default="0"),
    sa.Column("geometry", sa.Text),
    *_bbox(),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("township_id", "name", name="uq_village_township_name"),
    sa.CheckConstraint(_in("kind", VILLAGE_KINDS), name="kind"),
    sa.CheckConstraint("households >= 0 AND population >= 0 AND party_members >= 0",
                       name="counts"),
    sa.CheckConstraint("code IS NULL OR length(code) = 12", name="code_len"),
)

grid = sa.Table(
    "grid", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("code", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("leader", sa.String(50)),
    sa.Column("workers", sa.Integer, nullable=False, server_default="0"),
    sa.Column("households", sa.Integer, nullable=False, server_default="0"),
    sa.Column("geometry", sa.Text),
    *_bbox(),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("village_id", "name", name="uq_grid_village_name"),
    sa.CheckConstraint("workers >= 0 AND households >= 0", name="counts"),
)

dispute = sa.Table(
    "dispute", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_no", sa.String(64), nullable=False),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id")),
    sa.Column("category", sa.String(50), nullable=False),
    sa.Column("reported_on", sa.Date, nullable=False),
    sa.Column("parties", sa.Integer, nullable=False, server_default="2"),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("resolved_on", sa.Date),
    sa.Column("level", sa.String(10)),
    sa.Column("mediator", sa.String(50)),
    sa.Column("source", sa.String(50)),
    sa.Column("note", sa.Text),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("village_id", "case_no", name="uq_dispute_village_case"),
    sa.CheckConstraint(_in("status", DISPUTE_STATUSES), name="status"),
    sa.CheckConstraint("level IS NULL OR " + _in("level", LEVELS), name="level"),
    sa.CheckConstraint("parties >= 0", name="parties"),
    sa.CheckConstraint("resolved_on IS NULL OR resolved_on >= reported_on", name="dates"),
    sa.CheckConstraint(
        "(status = 'resolved' AND resolved_on IS NOT NULL AND level IS NOT NULL)"
        " OR (status <> 'resolved' AND resolved_on IS NULL)", name="resolved"),
    sa.Index("ix_dispute_village_reported", "village_id", "reported_on"),
    sa.Index("ix_dispute_reported", "reported_on"),
)

volunteer_activity = sa.Table(
    "volunteer_activity", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("activity_no", sa.String(64), nullable=False),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id")),
    sa.Column("held_on", sa.Date, nullable=False),
    sa.Column("team", sa.String(100), nullable=False),
    sa.Column("category", sa.String(50), nullable=False),
    sa.Column("participants", sa.Integer, nullable=False),
    sa.Column("hours", sa.Float, nullable=False),
    sa.Column("points", sa.Integer, nullable=False, server_default="0"),
    sa.Column("beneficiaries", sa.Integer),
    sa.Column("note", sa.Text),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("village_id", "activity_no", name="uq_volunteer_village_no"),
    sa.CheckConstraint("participants >= 0 AND hours >= 0 AND points >= 0"
                       " AND (beneficiaries IS NULL OR beneficiaries >= 0)", name="counts"),
    sa.Index("ix_volunteer_village_held", "village_id", "held_on"),
)

rep_visit = sa.Table(
    "rep_visit", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("record_no", sa.String(64), nullable=False),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("rep_name", sa.String(50), nullable=False),
    sa.Column("rep_type", sa.String(10), nullable=False),
    # the body's level a clerk writes in front of the type (县人大代表): REP_LEVELS, or NULL
    sa.Column("rep_level", sa.String(10)),
    sa.Column("visited_on", sa.Date, nullable=False),
    sa.Column("form", sa.String(10), nullable=False),
    sa.Column("voters", sa.Integer, nullable=False, server_default="0"),
    sa.Column("suggestions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("resolved", sa.Integer, nullable=False, server_default="0"),
    sa.Column("referred", sa.Integer, nullable=False, server_default="0"),
    sa.Column("note", sa.Text),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("village_id", "record_no", name="uq_visit_village_no"),
    sa.CheckConstraint(_in("rep_type", REP_TYPES), name="rep_type"),
    sa.CheckConstraint(_in("form", VISIT_FORMS), name="form"),
    sa.CheckConstraint("voters >= 0 AND suggestions >= 0 AND resolved >= 0 AND referred >= 0",
                       name="counts"),
    sa.CheckConstraint("resolved + referred <= suggestions", name="outcomes"),
    sa.Index("ix_visit_village_date", "village_id", "visited_on"),
)

# 意见建议办理台账: one row per suggestion a representative collected, and what became of it
# (solved on the spot, referred to a department that answers, or being handled).
suggestion = sa.Table(
    "suggestion", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sugg_no", sa.String(64), nullable=False),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("rep_name", sa.String(50), nullable=False),
    sa.Column("collected_on", sa.Date, nullable=False),
    sa.Column("category", sa.String(50), nullable=False),
    sa.Column("handling", sa.String(12), nullable=False),
    sa.Column("department", sa.String(100)),
    sa.Column("referred_on", sa.Date),
    sa.Column("replied_on", sa.Date),
    sa.Column("satisfaction", sa.String(12)),
    sa.Column("note", sa.Text),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id")),
    sa.UniqueConstraint("village_id", "sugg_no", name="uq_suggestion_village_no"),
    sa.CheckConstraint(_in("handling", HANDLINGS), name="handling"),
    sa.CheckConstraint("satisfaction IS NULL OR " + _in("satisfaction", SATISFACTIONS),
                       name="satisfaction"),
    # a referral has a department and a date; nothing else has a referral or a reply date
    sa.CheckConstraint(
        "(handling = 'referred' AND department IS NOT NULL AND referred_on IS NOT NULL)"
        " OR (handling <> 'referred' AND referred_on IS NULL AND replied_on IS NULL)",
        name="referral"),
    sa.CheckConstraint("referred_on IS NULL OR referred_on >= collected_on", name="referred_date"),
    sa.CheckConstraint("replied_on IS NULL OR replied_on >= referred_on", name="replied_date"),
    sa.Index("ix_suggestion_village_collected", "village_id", "collected_on"),
    sa.Index("ix_suggestion_referred", "referred_on"),
)

# A zero report (零报告): the village's clerk says a ledger of this kind has no rows for a month
# ("本月无矛盾纠纷"). It is filed as a batch like any upload (who, when, undone by undo_batch);
# ``month`` is "YYYY-MM"; ``kind`` a ledger kind of loaders.spec.LEDGER_KINDS (no CHECK: a new
# ledger kind joins without a migration). Rows uploaded later for the month withdraw it (the
# upload's batch_change keeps it, so undoing that upload brings it back).
zero_report = sa.Table(
    "zero_report", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id"), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("import_batch.id"), nullable=False),
    sa.UniqueConstraint("village_id", "kind", "month", name="uq_zero_report_village_kind_month"),
    sa.CheckConstraint("length(month) = 7", name="month"),
    sa.Index("ix_zero_report_month", "month", "kind"),
)

app_user = sa.Table(
    "app_user", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100)),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
)

# Scope of a user in the place hierarchy: a row per township or village the
# user may act for. A county level can be added later as one more scope column.
user_scope = sa.Table(
    "user_scope", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("village_id", sa.Integer, sa.ForeignKey("village.id", ondelete="CASCADE"),
              primary_key=True),
)

# A leader's or admin's township scope (a township leader / township administrator): a row per
# township; a leader or admin without rows acts for the whole county. Clerks: user_scope.
user_township = sa.Table(
    "user_township", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("township_id", sa.Integer, sa.ForeignKey("township.id", ondelete="CASCADE"),
              primary_key=True),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False, server_default=sa.text("true")),
    sa.Column("detail", sa.Text),
)

# Failed-login back-off, one row per key: "pair:<source>|<username>" or "src:<source>".
# Keys are by the name typed, so an unknown user is throttled exactly like a real one.
auth_throttle = sa.Table(
    "auth_throttle", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failure_at", sa.DateTime, nullable=False),
    sa.Column("blocked_until", sa.DateTime),
)

# One row; bumped by every write so caches keyed on it see new data at once.
# A clerk's manual column mapping, remembered for the next file of the same village, kind and
# headers (signature: a hash of the normalised header row). village_id 0: no village chosen.
upload_mapping = sa.Table(
    "upload_mapping", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("signature", sa.String(64), nullable=False),
    sa.Column("mapping", sa.Text, nullable=False),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("village_id", "kind", "signature", name="uq_upload_mapping_key"),
)

data_version = sa.Table(
    "data_version", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_at", sa.DateTime),
)
