"""PostGIS geometry columns for village and grid boundaries, when the database has PostGIS

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Boundaries stay GeoJSON text (plus bbox columns) in every database: that is what the app
reads and writes, and what SQLite and a plain PostgreSQL hold. On a PostgreSQL server where
the PostGIS extension is available (and ``DASHBOARD_POSTGIS`` is not ``off``), this adds to
``village`` and ``grid`` a generated column ``geom`` (the same boundary as a PostGIS
geometry, SRID 4326, kept in step by the database itself) with a GiST index, so spatial
questions (``dashboard.spatial``: which grid contains a point) are answered by the index.
Everywhere else it does nothing: PostGIS is used when present, never required.
"""
import os

from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TABLES = ("village", "grid")

# GeoJSON text → geometry; NULL for text PostGIS cannot read (never fails an insert: the
# loaders validate boundaries themselves and a NULL geom only means "not indexed")
# search_path is fixed on the function: pg_restore evaluates generated columns with an empty
# search_path, where an unqualified ST_GeomFromGeoJSON would not be found
FUNCTION = """CREATE OR REPLACE FUNCTION dashboard_geom(t text) RETURNS geometry
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = {schema}, pg_catalog AS $$
BEGIN
  IF t IS NULL OR t = '' THEN RETURN NULL; END IF;
  RETURN ST_SetSRID(ST_GeomFromGeoJSON(t), 4326);
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END $$"""


def _wanted(bind) -> bool:
    if bind.dialect.name != "postgresql":
        return False
    if os.environ.get("DASHBOARD_POSTGIS", "auto").strip().lower() in ("off", "0", "false", "no"):
        return False
    return bind.exec_driver_sql(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").first() is not None


def _installed(bind) -> bool:
    return bind.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").first() is not None


def upgrade() -> None:
    bind = op.get_bind()
    if not _wanted(bind):
        return
    if not _installed(bind):
        # creating an extension needs a privileged role; the app's own role may lack it (an
        # administrator runs CREATE EXTENSION postgis once, deploy/install-debian.sh does):
        # then the database simply goes without PostGIS, as if it were absent
        sp = bind.begin_nested()
        try:
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            sp.commit()
        except Exception as exc:  # noqa: BLE001 - insufficient privilege, missing files …
            sp.rollback()
            import logging
            logging.getLogger("alembic").warning("PostGIS not enabled (%s): boundaries without a "
                                                 "spatial index", str(exc).splitlines()[0])
            return
    schema = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'postgis'").scalar()
    op.execute(FUNCTION.format(schema='"' + schema.replace('"', '""') + '"'))
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS geom geometry(Geometry, 4326) "
                   f"GENERATED ALWAYS AS (dashboard_geom(geometry)) STORED")
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_{t}_geom ON {t} USING gist (geom)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for t in TABLES:
        op.execute(f"DROP INDEX IF EXISTS ix_{t}_geom")
        op.execute(f"ALTER TABLE {t} DROP COLUMN IF EXISTS geom")
    op.execute("DROP FUNCTION IF EXISTS dashboard_geom(text)")
