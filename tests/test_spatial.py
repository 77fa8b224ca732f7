"""Which grid or village contains a point: PostGIS (when the database has it) and the
bbox + shapely path give the same answers, by hand-placed points on four square grids."""
from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa

from dashboard import spatial
from dashboard.db import schema as S
from dashboard.db.engine import write_txn


def _square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _bbox(x0, y0, x1, y1):
    return dict(minx=x0, miny=y0, maxx=x1, maxy=y1)


@pytest.fixture
def places(engine):
    """Villages V (116.0–116.2 × 28.0–28.1) and W (116.2–116.4), two grids each side by side;
    a grid with a broken boundary text; a grid without one."""
    ids = {}
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        for name, x0 in (("V", 116.0), ("W", 116.2)):
            box = (x0, 28.0, x0 + 0.2, 28.1)
            ids[name] = c.execute(sa.insert(S.village).values(
                township_id=tid, name=name, households=10, population=30,
                geometry=json.dumps(_square(*box)), **_bbox(*box)).returning(S.village.c.id)).scalar_one()
            for k in (0, 1):
                g = (x0 + 0.1 * k, 28.0, x0 + 0.1 * (k + 1), 28.1)
                ids[f"{name}{k}"] = c.execute(sa.insert(S.grid).values(
                    village_id=ids[name], code=f"{name}{k}", name=f"第{k + 1}网格", workers=1, households=5,
                    geometry=json.dumps(_square(*g)), **_bbox(*g)).returning(S.grid.c.id)).scalar_one()
        c.execute(sa.insert(S.grid).values(village_id=ids["V"], code="BAD", name="坏边界", workers=1,
                                           households=1, geometry='{"type": "Polygon", "coordinates": [[1]]}',
                                           **_bbox(116.0, 28.0, 116.4, 28.1)))
        c.execute(sa.insert(S.grid).values(village_id=ids["W"], code="NONE", name="无边界", workers=1,
                                           households=1))
    return ids


CASES = [  # (lon, lat, level, village filter, expected key or None)
    (116.05, 28.05, "grid", None, "V0"),
    (116.15, 28.05, "grid", None, "V1"),
    (116.35, 28.09, "grid", None, "W1"),
    (116.05, 28.05, "village", None, "V"),
    (116.25, 28.01, "village", None, "W"),
    (116.05, 28.2, "grid", None, None),        # north of everything
    (117.0, 28.05, "village", None, None),
    (116.05, 28.05, "grid", ["W"], None),       # inside V0, but only W's grids asked
    (116.25, 28.05, "grid", ["W"], "W0"),
    (None, 28.05, "grid", None, None),
]


def _expect(places, key):
    return None if key is None else places[key]


@pytest.mark.parametrize("lon, lat, level, only, key", CASES)
def test_locate(engine, places, lon, lat, level, only, key):
    vids = None if only is None else [places[v] for v in only]
    with engine.connect() as c:
        assert spatial.locate(c, lon, lat, level, vids) == _expect(places, key)


def test_shared_edge_goes_to_one_grid_the_same_way_both_paths(engine, places, monkeypatch):
    with engine.connect() as c:
        first = spatial.locate(c, 116.1, 28.05)     # on the V0|V1 edge: both contain it
        assert first in (places["V0"], places["V1"])
        monkeypatch.setattr(spatial, "has_postgis", lambda conn: False)
        assert spatial.locate(c, 116.1, 28.05) == first
        for lon, lat, level, only, key in CASES:
            vids = None if only is None else [places[v] for v in only]
            assert spatial.locate(c, lon, lat, level, vids) == _expect(places, key)


def test_postgis_is_used_when_present(engine):
    with engine.connect() as c:
        if c.dialect.name != "postgresql":
            assert not spatial.has_postgis(c)
            return
        available = c.execute(sa.text(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first() is not None
        off = os.environ.get("DASHBOARD_POSTGIS", "auto").lower() in ("off", "0", "false", "no")
        assert spatial.has_postgis(c) == (available and not off)
        if spatial.has_postgis(c):  # the generated column follows the text, invalid text → NULL
            plan = "\n".join(r[0] for r in c.execute(sa.text(
                "EXPLAIN SELECT id FROM grid WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(116, 28), 4326))")))
            assert "geom" in plan


def test_postgis_geom_survives_dump_and_restore(engine, places):
    """pg_restore computes generated columns with an empty search_path: geom must still be set."""
    import shutil
    import subprocess
    with engine.connect() as c:
        if not spatial.has_postgis(c):
            pytest.skip("PostGIS columns only exist on PostgreSQL with PostGIS")
        c.exec_driver_sql("SET search_path = ''")
        assert c.exec_driver_sql("SELECT count(*) FROM public.grid WHERE public.dashboard_geom(geometry) "
                                 "IS NOT NULL").scalar() == 4
        c.rollback()
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump not installed")
    url = engine.url
    args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dump = subprocess.run(["pg_dump", *args, "-Fc", url.database], capture_output=True, check=True).stdout
    target = f"{url.database}_restore"
    subprocess.run(["dropdb", *args, "--if-exists", target], check=True)
    subprocess.run(["createdb", *args, target], check=True)
    try:
        subprocess.run(["pg_restore", *args, "-d", target], input=dump, check=True, capture_output=True)
        other = sa.create_engine(url.set(database=target))
        with other.connect() as c:
            assert c.exec_driver_sql("SELECT count(*) FROM grid WHERE geom IS NOT NULL").scalar() == 4
        other.dispose()
    finally:
        subprocess.run(["dropdb", *args, "--if-exists", target], check=True)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="PostgreSQL only (TEST_DATABASE_URL)")
def test_postgresql_without_postgis(monkeypatch):
    """DASHBOARD_POSTGIS=off: no extension, no geom column; locate answers from bbox + shapely."""
    from conftest import PG_URL, _drop_pg, _pg_sibling
    from dashboard.db.engine import migrate
    monkeypatch.setenv("DASHBOARD_POSTGIS", "off")
    url = _pg_sibling(PG_URL, f"nogis{os.getpid()}")
    try:
        eng = migrate(url)
        with eng.connect() as c:
            assert not spatial.has_postgis(c)
            assert c.exec_driver_sql("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'").scalar() == 0
        ids = places.__wrapped__(eng)
        with eng.connect() as c:
            for lon, lat, level, only, key in CASES:
                vids = None if only is None else [ids[v] for v in only]
                assert spatial.locate(c, lon, lat, level, vids) == _expect(ids, key)
    finally:
        _drop_pg(url)


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
                    reason="PostgreSQL only (TEST_DATABASE_URL)")
def test_migrate_as_a_role_that_may_not_create_extensions():
    """The app's own role cannot CREATE EXTENSION: the migrations still succeed, without PostGIS."""
    from conftest import PG_URL, _drop_pg, _pg_sibling
    from dashboard.db.engine import dispose_all, migrate, normalise_url
    base = _pg_sibling(PG_URL, f"role{os.getpid()}")
    role = f"dash_plain_{os.getpid()}"
    admin = sa.create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    there = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with there.connect() as c:
        c.exec_driver_sql(f"GRANT ALL ON SCHEMA public TO {role}")
    there.dispose()
    try:
        url = sa.engine.make_url(base).set(username=role).render_as_string(hide_password=False)
        eng = migrate(url)
        with eng.connect() as c:
            # migrated all the way to the newest revision, PostGIS skipped on the way
            from alembic.script import ScriptDirectory
            from dashboard.db.engine import alembic_config
            head, = ScriptDirectory.from_config(alembic_config(url)).get_heads()
            assert c.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
            assert not spatial.has_postgis(c)
        dispose_all()
    finally:
        _drop_pg(base)
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()
