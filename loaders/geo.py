"""Boundaries: GeoJSON and zipped Shapefiles -> a RawTable with shapely geometries (WGS-84).

A Shapefile is reprojected from its .prj; GeoJSON is WGS-84 by definition (an old
``crs`` member is honoured). Coordinates that the clerk declares as GCJ-02
(Amap/Tencent) or BD-09 (Baidu) are converted to WGS-84 on request.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from loaders.problems import Refusal
from loaders.spec import COORD_SYSTEMS  # noqa: F401 (also loaders.geo.COORD_SYSTEMS)
MAX_FEATURES = 20000
MAX_VERTICES = 5_000_000          # all features together
# One village or grid boundary: a surveyed one has a few thousand vertices. Above this a
# feature is refused (simplify it first); an invalid one is repaired only up to
# MAX_REPAIR_VERTICES. Both bounds are set by time: GEOS's validity check and repair grow
# with the number of crossings, so a ring crafted to cross itself everywhere took (measured,
# shared 2-core machine) is_valid 1.8 s at 20,000 vertices, 16 s at 50,000, 44 s at 100,000;
# make_valid 0.8 s at 2,000, 5 s at 5,000, 24 s at 10,000.
MAX_FEATURE_VERTICES = 50_000
MAX_REPAIR_VERTICES = 5_000
MAX_PROPERTIES = 1000             # distinct attribute names over all features

# --------------------------------------------------------- GCJ-02 / BD-09 -> WGS-84
# One implementation of the Chinese coordinate shifts, shared with the map (dashboard.geo).
from dashboard.geo import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_gcj02  # noqa: E402,F401


def to_wgs84(lon, lat, system: str):
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    return np.asarray(lon, float), np.asarray(lat, float)


def convert_geometry(geom, system: str):
    if system == "wgs84" or geom is None:
        return geom
    import shapely

    def f(coords):
        x, y = to_wgs84(coords[:, 0], coords[:, 1], system)
        return np.column_stack([x, y])
    return shapely.transform(geom, f)


# --------------------------------------------------------- readers

def _table(props: list[dict], geoms: list, fmt: str, crs: str = ""):
    from loaders.read import RawTable
    seen: dict[str, None] = {}   # insertion-ordered set: one hash look-up per key
    for p in props:
        for k in p:
            if k not in seen:
                seen[k] = None
                if len(seen) > MAX_PROPERTIES:
                    raise Refusal("too_many_properties", n=MAX_PROPERTIES)
    keys = list(seen)
    if len(props) == 0:
        raise Refusal("empty")
    # each feature's own attributes visited once (not every name asked of every feature)
    pos = {k: i for i, k in enumerate(keys)}
    lists = [[""] * len(props) for _ in keys]
    for j, p in enumerate(props):
        for k, v in p.items():
            lists[pos[k]][j] = _s(v)
    cols = {i: pd.Series(v, dtype=str) for i, v in enumerate(lists)}
    frame = pd.DataFrame(cols) if cols else pd.DataFrame(index=range(len(props)))
    return RawTable(frame=frame, rownum=np.arange(1, len(props) + 1), headers=[str(k) for k in keys],
                    header_row=0, fmt=fmt, geometry=geoms, crs=crs or "EPSG:4326")


def _s(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


class TooComplex(str):
    """Stands for a geometry with more than MAX_FEATURE_VERTICES vertices, never built (its
    coordinate lists alone cost as much again as shapely's copy); a str, as "invalid" is."""

    def __new__(cls, n: int):
        obj = super().__new__(cls, "too_complex")
        obj.n = n
        return obj


def _count_vertices(g) -> int:
    """Vertices of a GeoJSON geometry dict, counted on its rings (no coordinate is read)."""
    t, c = g.get("type"), g.get("coordinates")
    if not isinstance(c, list):
        return 0
    if t == "Polygon":
        return sum(len(r) for r in c if isinstance(r, list))
    if t == "MultiPolygon":
        return sum(len(r) for p in c if isinstance(p, list) for r in p if isinstance(r, list))
    return len(c)


def read_geojson(data: bytes):
    from shapely.geometry import shape
    # every vertex is at least one "[": a file with far more than the limit is refused
    # before json builds a Python list for each of them
    if data.count(b"[") > MAX_VERTICES + 4 * MAX_FEATURES:
        raise Refusal("too_many_vertices")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise Refusal("bad_geojson") from None
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise Refusal("bad_geojson") from None
    del text
    if not isinstance(doc, dict):
        raise Refusal("bad_geojson")
    if doc.get("type") == "Feature":
        feats = [doc]
    elif doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        feats = doc["features"]
    else:
        raise Refusal("bad_geojson")
    if len(feats) > MAX_FEATURES:
        raise Refusal("too_many_features", n=MAX_FEATURES)
    crs = ""
    c = doc.get("crs")
    if isinstance(c, dict):
        crs = str((c.get("properties") or {}).get("name") or "")
    props, geoms = [], []
    for f in feats:
        if not isinstance(f, dict):
            raise Refusal("bad_geojson")
        p = f.get("properties") or {}
        props.append(p if isinstance(p, dict) else {})
        g = f.get("geometry")
        nv = _count_vertices(g) if isinstance(g, dict) else 0
        if nv > MAX_FEATURE_VERTICES:
            geoms.append(TooComplex(nv))
            continue
        try:
            geoms.append(shape(g) if g else None)
        except Exception:  # shapely raises several types on broken geometry dicts
            geoms.append("invalid")
    t = _table(props, geoms, "geojson", crs)
    if crs and not _is_wgs84(crs):
        t.geometry = _reproject(t.geometry, crs)
        t.crs = "EPSG:4326"
    return t


def _is_wgs84(crs: str) -> bool:
    c = crs.upper()
    return "CRS84" in c or c.endswith("4326") or c == "WGS84"


def _reproject(geoms, crs):
    import shapely
    from pyproj import Transformer
    try:
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    except Exception:
        raise Refusal("bad_crs", value=crs) from None

    def f(coords):
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return [g if g is None or isinstance(g, str) else shapely.transform(g, f) for g in geoms]


def read_shapefile_zip(data: bytes):
    from loaders.read import check_zip
    z = check_zip(data)
    members = [i for i in z.infolist() if not i.is_dir()]
    shps = [i.filename for i in members if i.filename.lower().endswith(".shp")]
    if len(shps) != 1:
        raise Refusal("shp_count", n=len(shps))
    stem = shps[0][:-4]
    need = {".shp", ".shx", ".dbf"}
    have = {i.filename[len(stem):].lower() for i in members if i.filename.startswith(stem)}
    if not need <= have:
        raise Refusal("shp_parts", missing="、".join(sorted(need - have)))
    if ".prj" not in have:
        raise Refusal("shp_no_prj")
    import pyogrio
    with tempfile.TemporaryDirectory() as tmp:
        for i in members:
            if not i.filename.startswith(stem):
                continue
            ext = i.filename[len(stem):].lower()
            if ext not in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                continue
            (Path(tmp) / f"layer{ext}").write_bytes(z.read(i))
        path = str(Path(tmp) / "layer.shp")
        enc = None
        cpg = Path(tmp) / "layer.cpg"
        if not cpg.exists():
            enc = "gbk"  # Chinese GIS tools write GBK dbf files without a .cpg
        try:
            gdf = pyogrio.read_dataframe(path, encoding=enc) if enc else pyogrio.read_dataframe(path)
        except Exception:
            try:
                gdf = pyogrio.read_dataframe(path)
            except Exception:
                raise Refusal("bad_shapefile") from None
    if len(gdf) > MAX_FEATURES:
        raise Refusal("too_many_features", n=MAX_FEATURES)
    if gdf.crs is None:
        raise Refusal("shp_no_prj")
    if not gdf.crs.equals("EPSG:4326"):
        try:
            gdf = gdf.to_crs(4326)
        except Exception:
            raise Refusal("bad_crs", value=str(gdf.crs)) from None
    props = gdf.drop(columns=gdf.geometry.name).to_dict("records")
    return _table(props, list(gdf.geometry), "shapefile")


def read(data: bytes, fmt: str):
    return read_shapefile_zip(data) if fmt == "shapefile" else read_geojson(data)


def check_and_dump(geoms, rownum, column: str):
    """Validate geometries: (GeoJSON texts, bbox arrays, problems)."""
    import shapely
    from shapely.geometry import mapping
    from loaders.problems import Problem
    problems = []
    texts, bbox = [], []
    vertices = 0
    for g, r in zip(geoms, rownum):
        if g is None:
            texts.append(None)
            bbox.append((None, None, None, None))
            continue
        if isinstance(g, TooComplex):
            problems.append(Problem(int(r), column, "", "geometry_too_complex",
                                    {"n": f"{g.n:,}", "max": f"{MAX_FEATURE_VERTICES:,}"}))
            texts.append(None)
            bbox.append((None, None, None, None))
            continue
        if isinstance(g, str) or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(int(r), column, "", "geometry_type"))
            texts.append(None)
            bbox.append((None, None, None, None))
            continue
        nv = int(shapely.get_num_coordinates(g))
        vertices += nv
        if vertices > MAX_VERTICES:
            raise Refusal("too_many_vertices")
        if nv > MAX_FEATURE_VERTICES:
            problems.append(Problem(int(r), column, "", "geometry_too_complex",
                                    {"n": f"{nv:,}", "max": f"{MAX_FEATURE_VERTICES:,}"}))
            texts.append(None)
            bbox.append((None, None, None, None))
            continue
        if not g.is_valid:
            if nv > MAX_REPAIR_VERTICES:
                problems.append(Problem(int(r), column, "", _why_invalid(g), {"n": f"{nv:,}"}))
                texts.append(None)
                bbox.append((None, None, None, None))
                continue
            g = shapely.make_valid(g)
            if g.geom_type == "GeometryCollection":
                polys = [p for p in g.geoms if p.geom_type in ("Polygon", "MultiPolygon")]
                g = shapely.union_all(polys) if polys else g
        g = shapely.orient_polygons(g)  # RFC 7946: exterior rings counter-clockwise
        minx, miny, maxx, maxy = (round(v, 7) for v in g.bounds)
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            problems.append(Problem(int(r), column, f"{minx:.1f},{miny:.1f}", "not_lonlat"))
            texts.append(None)
            bbox.append((None, None, None, None))
            continue
        texts.append(json.dumps(_round(mapping(g)), separators=(",", ":")))
        bbox.append((minx, miny, maxx, maxy))
    return texts, bbox, problems


def _why_invalid(g) -> str:
    """Reason code for a geometry too big to repair."""
    import shapely
    why = str(shapely.is_valid_reason(g)).lower()
    return "geometry_self_intersects_big" if "intersection" in why else "geometry_invalid_big"


def _round(obj, nd: int = 6):
    if isinstance(obj, float):
        return round(obj, nd)
    if isinstance(obj, (list, tuple)):
        return [_round(x, nd) for x in obj]
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    return obj
