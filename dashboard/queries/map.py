"""The grid map's data: boundaries with the period's metric values, and dispute points.

Returns plain data (GeoDataFrames and a small frame of points) that
``dashboard.maps.build_map`` draws; nothing here knows about folium.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import geo, metrics
from dashboard.db import schema as S
from dashboard.periods import Period

MAX_POINTS = 20000


def grid_metric(metric_key: str) -> bool:
    """Whether the metric exists at grid level (else only villages can be coloured by it)."""
    return "grid" in metrics.METRICS[metric_key].levels


def layers(conn, period: Period, metric_key: str, village_ids=None, points: bool = True) -> dict:
    """Everything the map draws for one period and metric.

    ``{"metric": key, "villages": GeoDataFrame(id, name, kind, households, population,
    grids, value), "grids": GeoDataFrame(id, village_id, village, name, leader, workers,
    households, value), "points": DataFrame(lon, lat, village_id, grid_id)}``; ``value`` is the
    metric (None = no data) and grids carry values only for grid-level metrics.

    The same as ``assemble(shapes(...), values(...), metric_key, dispute_points(...))``: the
    dashboard caches those parts apart, so another metric or level redraws without a query.
    """
    if metric_key not in metrics.METRICS:
        raise KeyError(metric_key)
    ids = _ids(village_ids)
    return assemble(shapes(conn, ids), values(conn, period, ids, grids=grid_metric(metric_key)),
                    metric_key, dispute_points(conn, period, ids) if points else _no_points())


def _ids(village_ids):
    return None if village_ids is None else tuple(sorted(set(village_ids)))


def shapes(conn, village_ids=None) -> dict:
    """The boundaries, whatever the period: {"villages": GeoDataFrame, "grids": GeoDataFrame}."""
    ids = _ids(village_ids)
    return {"villages": geo.load_villages(conn, ids), "grids": geo.load_grids(conn, ids)}


def values(conn, period: Period, village_ids=None, grids: bool = True) -> dict:
    """Every registry metric per village (and per grid unless ``grids`` is False) for the period:
    {"villages": {id: {key: value}}, "grids": {id: {key: value}} or None}."""
    ids = _ids(village_ids)
    return {"villages": metrics.compute(conn, period, ids)["villages"],
            "grids": metrics.compute_grids(conn, period, ids) if grids else None}


def assemble(shapes_: dict, values_: dict, metric_key: str, points: pd.DataFrame | None = None) -> dict:
    """The layers dict of ``layers`` from its parts (copies: the parts may be cached values)."""
    if metric_key not in metrics.METRICS:
        raise KeyError(metric_key)
    villages, grids = shapes_["villages"].copy(), shapes_["grids"].copy()
    vals = values_["villages"]
    villages["value"] = [vals.get(i, {}).get(metric_key) for i in villages["id"]]
    villages["grids"] = [vals.get(i, {}).get("grids") for i in villages["id"]]
    villages["rank"] = _ranks(vals, villages["id"], metric_key)
    den = metrics.METRICS[metric_key].denominator if metrics.METRICS[metric_key].kind == "rate" else None
    villages["den"] = [vals.get(i, {}).get(den) if den else None for i in villages["id"]]
    if grid_metric(metric_key):
        gvals = values_["grids"]
        if gvals is None:
            raise ValueError("grid values are needed for a grid-level metric")
        grids["value"] = [gvals.get(i, {}).get(metric_key) for i in grids["id"]]
        grids["rank"] = _ranks(gvals, grids["id"], metric_key)
        grids["den"] = [gvals.get(i, {}).get(den) if den else None for i in grids["id"]]
    else:
        grids["value"] = None
        grids["rank"] = None
        grids["den"] = None
    for df in (villages, grids):
        df["value"] = df["value"].astype(object).where(df["value"].notna(), None)
    return {"metric": metric_key, "villages": villages, "grids": grids,
            "points": _no_points() if points is None else points}


def _ranks(vals, ids, metric_key: str) -> list:
    """The tooltip's rank of each id among those drawn, by the registry's rule (queries.ranking:
    a rate over fewer than SMALL_N cases ranks after the others); None for no value, or for a
    figure without a better direction ranked by size as before (largest first)."""
    from dashboard.queries import ranking
    rows = {int(i): vals[int(i)] for i in ids if int(i) in vals}
    rk = ranking.ranks(rows, metric_key)
    return pd.array([rk.get(int(i), (None, False))[0] for i in ids], dtype="Int64")


def _no_points() -> pd.DataFrame:
    return pd.DataFrame({"lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float),
                         "village_id": pd.Series(dtype="Int64"), "grid_id": pd.Series(dtype="Int64")})


def dispute_points(conn, period: Period, village_ids=None, limit: int = MAX_POINTS) -> pd.DataFrame:
    """Coordinates of the period's disputes that carry them (WGS-84)."""
    village_ids = _ids(village_ids)
    D = S.dispute
    q = (sa.select(D.c.lon, D.c.lat, D.c.village_id, D.c.grid_id)
         .where(D.c.reported_on.between(period.start, period.end),
                D.c.lon.is_not(None), D.c.lat.is_not(None),
                sa.true() if village_ids is None else D.c.village_id.in_(list(village_ids)))
         .order_by(D.c.id).limit(limit))
    rows = conn.execute(q).all()
    if not rows:
        return _no_points()
    # tuples, not Row objects: pandas reads 20,000 Rows one by one as generic sequences (10x slower)
    return pd.DataFrame([tuple(r) for r in rows], columns=["lon", "lat", "village_id", "grid_id"])
