"""Spatial questions answered by the database: which grid or village contains a point.

On PostgreSQL with PostGIS (migration 0004 adds a generated ``geom`` column with a GiST
index to ``village`` and ``grid``) the index answers; everywhere else (SQLite, PostgreSQL
without PostGIS) the bbox columns narrow the candidates in SQL and shapely tests the few
boundaries left. Both give the same answer (tests/test_spatial.py).
"""
from __future__ import annotations

import json
from typing import Iterable

import shapely
import sqlalchemy as sa
from shapely.geometry import shape

from dashboard.db import schema as S
from dashboard.db.dialect import is_postgres

_TABLES = {"grid": S.grid, "village": S.village}
_POSTGIS: dict = {}


def has_postgis(conn) -> bool:
    """Whether this database has the PostGIS ``geom`` columns of migration 0004."""
    if not is_postgres(conn):
        return False
    key = str(conn.engine.url)
    if key not in _POSTGIS:
        _POSTGIS[key] = conn.execute(sa.text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name IN ('village', 'grid') AND column_name = 'geom'")).scalar() == 2
    return _POSTGIS[key]


def locate(conn, lon: float, lat: float, level: str = "grid",
           village_ids: Iterable[int] | None = None) -> int | None:
    """Id of the grid (or village) whose boundary contains (lon, lat), WGS-84; the smallest
    one when several do; None when none does or the point is missing."""
    if lon is None or lat is None:
        return None
    t = _TABLES[level]
    vcol = t.c.village_id if level == "grid" else t.c.id
    cond = sa.true() if village_ids is None else vcol.in_(sorted({int(v) for v in village_ids}))
    if has_postgis(conn):
        point = sa.func.ST_SetSRID(sa.func.ST_MakePoint(float(lon), float(lat)), 4326)
        geom = sa.literal_column(f"{t.name}.geom")
        q = (sa.select(t.c.id).where(cond, sa.func.ST_Intersects(geom, point))
             .order_by(sa.func.ST_Area(geom), t.c.id).limit(1))
        return conn.execute(q).scalar()
    q = sa.select(t.c.id, t.c.geometry).where(
        cond, t.c.minx <= lon, t.c.maxx >= lon, t.c.miny <= lat, t.c.maxy >= lat)
    p = shapely.Point(float(lon), float(lat))
    best = None
    for gid, text in conn.execute(q):
        try:
            g = shape(json.loads(text)) if text else None
        except (ValueError, TypeError, KeyError, AttributeError):
            g = None
        if g is not None and g.intersects(p):
            key = (g.area, gid)
            if best is None or key < best:
                best = key
    return None if best is None else int(best[1])
