"""Boundaries for display: loading, simplification tied to zoom, rounding, Chinese datums.

The database stores WGS-84 GeoJSON text (plus bbox columns). Everything here is
for *display*: simplified, rounded and, for a GCJ-02 basemap, shifted copies;
nothing is ever written back.

Coordinate conversions are the usual published formulas (Krasovsky ellipsoid
offsets for GCJ-02, the Baidu BD-09 rotation), vectorised over numpy arrays;
points outside China pass through unchanged, as the Chinese map providers do.
"""
from __future__ import annotations

import json
import math
from typing import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from shapely.geometry import shape

from dashboard.db import schema as S

CRS = "EPSG:4326"
TILE_CRSES = ("wgs84", "gcj02")

# ---------------------------------------------------------------- loading


def _geom(text):
    if not text:
        return None
    try:
        g = shape(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not g.is_valid:
        g = shapely.make_valid(g)
    return None if g.is_empty else g


def _filter(col, village_ids):
    return sa.true() if village_ids is None else col.in_(list(village_ids))


def load_villages(conn, village_ids: Iterable[int] | None = None) -> gpd.GeoDataFrame:
    """Villages with their boundary (None where none is stored), WGS-84."""
    V = S.village
    q = (sa.select(V.c.id, V.c.name, V.c.kind, V.c.households, V.c.population, V.c.geometry)
         .where(_filter(V.c.id, village_ids)).order_by(V.c.id))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    geoms = [_geom(r.pop("geometry")) for r in rows]
    df = pd.DataFrame(rows, columns=["id", "name", "kind", "households", "population"])
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=CRS, index=df.index), crs=CRS)


def load_grids(conn, village_ids: Iterable[int] | None = None) -> gpd.GeoDataFrame:
    """Grids with their village's name and their boundary, WGS-84."""
    G, V = S.grid, S.village
    q = (sa.select(G.c.id, G.c.village_id, V.c.name.label("village"), G.c.name, G.c.leader,
                   G.c.workers, G.c.households, G.c.geometry)
         .select_from(G.join(V, V.c.id == G.c.village_id))
         .where(_filter(G.c.village_id, village_ids)).order_by(G.c.id))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    geoms = [_geom(r.pop("geometry")) for r in rows]
    df = pd.DataFrame(rows, columns=["id", "village_id", "village", "name", "leader", "workers",
                                     "households"])
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=CRS, index=df.index), crs=CRS)


def load_townships(conn, township_ids: Iterable[int] | None = None) -> gpd.GeoDataFrame:
    """Townships (id, code, name) with their boundary: the union of their villages' boundaries,
    a village without one standing as the union of its grids' (None where neither is stored).

    Dissolved from the villages rather than read from ``township.geometry``: the intake never
    writes that column, and the county map must show exactly the villages the other maps draw.
    Only the grids of villages without a boundary are read (a county's 5,000 grids usually not).
    """
    T, V, G = S.township, S.village, S.grid
    tws = conn.execute(sa.select(T.c.id, T.c.code, T.c.name).where(_filter(T.c.id, township_ids))
                       .order_by(T.c.code, T.c.id)).all()
    rows = conn.execute(sa.select(V.c.id, V.c.township_id, V.c.geometry)
                        .where(_filter(V.c.township_id, [t.id for t in tws]))).all()
    parts: dict[int, list] = {}
    bare = {}
    for vid, tid, text in rows:
        g = _geom(text)
        if g is None:
            bare[vid] = tid
        else:
            parts.setdefault(tid, []).append(g)
    if bare:
        q = sa.select(G.c.village_id, G.c.geometry).where(G.c.village_id.in_(sorted(bare)),
                                                          G.c.geometry.is_not(None))
        for vid, text in conn.execute(q):
            g = _geom(text)
            if g is not None:
                parts.setdefault(bare[vid], []).append(g)
    geoms = [_dissolve(parts.get(t.id)) for t in tws]
    df = pd.DataFrame([tuple(t) for t in tws], columns=["id", "code", "name"])
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=CRS, index=df.index), crs=CRS)


def _dissolve(geoms):
    """One shape of a township's villages (or grids); only its polygons (the shared edges of
    neighbours may leave lines or points in a union)."""
    if not geoms:
        return None
    u = shapely.union_all(np.array(geoms, dtype=object))
    polys = [p for p in shapely.get_parts(u) if p.geom_type == "Polygon" and not p.is_empty]
    if not polys:
        return None
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


# ---------------------------------------------------------------- zoom, tolerance, rounding

TILE_SIZE = 256


def fit_zoom(bounds, width_px: int = 900, height_px: int = 600, max_zoom: int = 18) -> int:
    """The Web-Mercator zoom at which ``bounds`` (minx, miny, maxx, maxy) fits the map box."""
    minx, miny, maxx, maxy = bounds
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))):
        return 10

    def merc(lat):
        lat = max(min(lat, 85.0), -85.0)
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    dx = max(maxx - minx, 1e-9) / 360.0
    dy = max(merc(maxy) - merc(miny), 1e-9) / (2 * math.pi)
    z = min(math.log2(width_px / TILE_SIZE / dx), math.log2(height_px / TILE_SIZE / dy))
    return int(max(0, min(max_zoom, math.floor(z))))


def tolerance_for_zoom(zoom: int, pixels: float = 0.5) -> float:
    """Degrees covered by ``pixels`` screen pixels at ``zoom`` (longitude, at the equator).

    Simplifying at this tolerance loses nothing visible at that zoom; latitude
    degrees are shorter on screen than that at 20–50°N, so the choice errs safe.
    """
    return pixels * 360.0 / (TILE_SIZE * 2 ** zoom)


def decimals_for_tolerance(tolerance: float) -> int:
    """Decimal places that keep rounding error well under the simplification tolerance."""
    return int(min(7, max(3, math.ceil(-math.log10(tolerance / 2)))))


def detail_zoom(bounds, width_px: int = 900, height_px: int = 600, extra: int = 2) -> int:
    """The zoom whose detail the display geometry keeps: fit zoom plus ``extra`` levels."""
    return fit_zoom(bounds, width_px, height_px) + extra


def simplify(geoms: gpd.GeoSeries, tolerance: float) -> gpd.GeoSeries:
    """Topology-preserving simplification of a layer.

    Shared borders stay shared (``shapely.coverage_simplify``: neighbours never
    gap or overlap); where the layer is not a clean coverage it falls back to
    per-polygon ``simplify(preserve_topology=True)``.
    """
    if len(geoms) == 0 or tolerance <= 0:
        return geoms
    arr = np.asarray(geoms.values, dtype=object)
    mask = np.array([g is not None and not g.is_empty and g.geom_type in ("Polygon", "MultiPolygon")
                     for g in arr])
    out = arr.copy()
    if mask.any():
        part = np.array(list(arr[mask]), dtype=object)
        try:
            simp = shapely.coverage_simplify(part, tolerance)
            if not all(shapely.is_valid(simp)) or any(shapely.is_empty(simp)):
                raise ValueError("coverage simplification produced invalid shapes")
        except Exception:  # not a coverage (overlaps, gaps): per shape, still valid
            simp = shapely.simplify(part, tolerance, preserve_topology=True)
        out[mask] = simp
    return gpd.GeoSeries(list(out), index=geoms.index, crs=geoms.crs)


def round_coords(geoms, decimals: int):
    """Geometries (array-like) with every coordinate rounded to ``decimals`` places."""
    arr = np.asarray(geoms, dtype=object)
    ok = np.array([g is not None for g in arr], dtype=bool)
    out = arr.copy()
    if ok.any():
        out[ok] = shapely.transform(np.array(list(arr[ok]), dtype=object),
                                    lambda c: np.round(c, decimals))
    return out


# ---------------------------------------------------------------- Chinese datums

_A = 6378245.0
_EE = 0.00669342162296594323
_XPI = math.pi * 3000.0 / 180.0


def out_of_china(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _dlat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def _gcj_offset(lon, lat):
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def _arrays(lon, lat):
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return np.broadcast_arrays(lon, lat)


def _ret(lon, lat, scalar):
    return (float(lon), float(lat)) if scalar else (lon, lat)


def wgs84_to_gcj02(lon, lat):
    """WGS-84 → GCJ-02 (Amap, Tencent). Scalars or numpy arrays; returns (lon, lat)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = _arrays(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    inside = ~out_of_china(lon, lat)
    return _ret(np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat), scalar)


def gcj02_to_wgs84(lon, lat, iterations: int = 4):
    """GCJ-02 → WGS-84 by fixed-point iteration (error well under 1 cm after 4 rounds)."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    glon, glat = _arrays(lon, lat)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        dlon, dlat = _gcj_offset(wlon, wlat)
        wlon, wlat = glon - dlon, glat - dlat
    inside = ~out_of_china(glon, glat)
    return _ret(np.where(inside, wlon, glon), np.where(inside, wlat, glat), scalar)


def gcj02_to_bd09(lon, lat):
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return _ret(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def bd09_to_gcj02(lon, lat):
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon, lat = _arrays(lon, lat)
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _XPI)
    return _ret(z * np.cos(theta), z * np.sin(theta), scalar)


def bd09_to_wgs84(lon, lat):
    """BD-09 (Baidu) → WGS-84. Scalars or numpy arrays; returns (lon, lat)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def shift_geoms(geoms, tile_crs: str = "wgs84"):
    """Geometries as drawn on a basemap in ``tile_crs`` (gcj02: shifted; wgs84: unchanged)."""
    if tile_crs == "wgs84":
        return geoms
    if tile_crs != "gcj02":
        raise ValueError(f"unsupported tile CRS {tile_crs!r}: use one of {TILE_CRSES}")

    def fn(c):
        x, y = wgs84_to_gcj02(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    arr = np.asarray(geoms, dtype=object)
    ok = np.array([g is not None for g in arr], dtype=bool)
    out = arr.copy()
    if ok.any():
        out[ok] = shapely.transform(np.array(list(arr[ok]), dtype=object), fn)
    return out


def unshift_point(lon: float, lat: float, tile_crs: str = "wgs84") -> tuple[float, float]:
    """A point clicked on a ``tile_crs`` map, back in WGS-84."""
    if tile_crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    return float(lon), float(lat)


# ---------------------------------------------------------------- hit testing

def feature_at(gdf: gpd.GeoDataFrame, lon: float, lat: float, id_col: str = "id",
               slack: float = 1e-4):
    """Id of the feature containing (lon, lat) in WGS-84; the nearest within ``slack`` degrees
    when the point falls in a sliver between simplified shapes; None otherwise."""
    if gdf is None or len(gdf) == 0 or lon is None or lat is None:
        return None
    p = shapely.Point(float(lon), float(lat))
    geoms = gdf.geometry.values
    valid = ~gdf.geometry.isna().to_numpy()
    hits = np.flatnonzero(valid & np.asarray(shapely.intersects(geoms, p), dtype=bool))
    if len(hits):
        # the smallest containing shape wins (a grid inside a village, if both were passed)
        best = min(hits, key=lambda i: geoms[i].area)
        return _py(gdf[id_col].iloc[best])
    d = np.where(valid, shapely.distance(geoms, p), np.inf)
    i = int(np.argmin(d))
    return _py(gdf[id_col].iloc[i]) if d[i] <= slack else None


def _py(v):
    return v.item() if hasattr(v, "item") else v


# ---------------------------------------------------------------- synthetic county

def synthetic_grids(n: int = 5000, seed: int = 0, origin=(115.5, 28.2), cell_deg: float = 0.012,
                    edge_points: int = 12, jitter: float = 0.2) -> gpd.GeoDataFrame:
    """A county-scale coverage of ``n`` grid polygons for payload and speed measurements.

    Cells of a jittered lattice whose edges wander (``edge_points`` vertices per
    edge, like surveyed boundaries); neighbours share their edges exactly, so the
    layer is a proper coverage. Columns match :func:`load_grids`.
    """
    rng = np.random.default_rng(seed)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    x0, y0 = origin
    nodes = np.empty((rows + 1, cols + 1, 2))
    gx, gy = np.meshgrid(np.arange(cols + 1), np.arange(rows + 1))
    nodes[..., 0] = x0 + (gx + rng.uniform(-jitter, jitter, gx.shape)) * cell_deg
    nodes[..., 1] = y0 + (gy + rng.uniform(-jitter, jitter, gy.shape)) * cell_deg
    t = np.linspace(0, 1, edge_points + 2)[1:-1]
    amp = cell_deg * 0.05

    def wiggle(a, b, key):
        r = np.random.default_rng(hash(key) & 0xFFFFFFFF)
        d = b - a
        normal = np.array([-d[1], d[0]]) / (np.hypot(*d) or 1)
        off = np.cumsum(r.normal(0, amp / 3, len(t)))
        off -= np.linspace(0, off[-1], len(t))  # ends stay on the nodes
        return a + np.outer(t, d) + np.outer(off, normal)

    edges: dict = {}

    def edge(p, q):
        k = (p, q) if p < q else (q, p)
        if k not in edges:
            edges[k] = wiggle(nodes[k[0]], nodes[k[1]], k)
        pts = edges[k]
        return pts if k == (p, q) else pts[::-1]

    polys, vill, names = [], [], []
    per_village = 40
    for i in range(n):
        r, c = divmod(i, cols)
        a, b, cc, d = (r, c), (r, c + 1), (r + 1, c + 1), (r + 1, c)
        ring = [nodes[a], *edge(a, b), nodes[b], *edge(b, cc), nodes[cc], *edge(cc, d),
                nodes[d], *edge(d, a), nodes[a]]
        polys.append(shapely.Polygon(ring))
        vill.append(i // per_village + 1)
        names.append(f"第{i % per_village + 1}网格")
    df = pd.DataFrame({"id": np.arange(1, n + 1), "village_id": vill,
                       "village": [f"村{v}" for v in vill], "name": names,
                       "leader": [f"网格长{i % 97}" for i in range(n)],
                       "workers": rng.integers(1, 4, n), "households": rng.integers(80, 400, n)})
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(polys, crs=CRS), crs=CRS)
