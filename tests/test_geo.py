"""Boundaries for display: loading, simplification, rounding, Chinese datums, hit tests."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from dashboard import geo

# Tiananmen, WGS-84 and its published GCJ-02 / BD-09 positions (to ~1 m)
WGS = (116.391275, 39.907333)
GCJ = (116.397517, 39.908733)


def test_gcj02_round_trip_and_known_offset():
    lon, lat = geo.wgs84_to_gcj02(*WGS)
    assert abs(lon - GCJ[0]) < 2e-5 and abs(lat - GCJ[1]) < 2e-5
    back = geo.gcj02_to_wgs84(lon, lat)
    assert abs(back[0] - WGS[0]) < 1e-7 and abs(back[1] - WGS[1]) < 1e-7


def test_bd09_to_wgs84():
    x, y = geo.wgs84_to_bd09(*WGS)
    assert 0.005 < x - GCJ[0] < 0.008 and 0.005 < y - GCJ[1] < 0.008   # Baidu's extra offset
    lon, lat = geo.bd09_to_wgs84(x, y)
    assert abs(lon - WGS[0]) < 2e-6 and abs(lat - WGS[1]) < 2e-6
    xs, ys = geo.bd09_to_wgs84(np.array([x, x]), np.array([y, y]))
    assert xs.shape == (2,)


def test_conversions_are_vectorised_and_leave_the_world_outside_china_alone():
    lon = np.array([WGS[0], 2.35, 115.9])
    lat = np.array([WGS[1], 48.85, 28.55])
    x, y = geo.wgs84_to_gcj02(lon, lat)
    assert x.shape == (3,) and x[1] == 2.35 and y[1] == 48.85      # Paris unchanged
    wx, wy = geo.gcj02_to_wgs84(x, y)
    assert np.allclose(wx, lon, atol=1e-7) and np.allclose(wy, lat, atol=1e-7)
    assert isinstance(geo.wgs84_to_gcj02(116.0, 39.0)[0], float)


def test_shift_geoms_moves_display_copies_only():
    g = shapely.box(115.9, 28.5, 116.0, 28.6)
    out = geo.shift_geoms([g, None], "gcj02")
    assert out[1] is None and out[0].bounds[0] > 115.9 + 0.003
    assert g.bounds[0] == 115.9
    assert geo.shift_geoms([g], "wgs84")[0] is g
    with pytest.raises(ValueError):
        geo.shift_geoms([g], "bd09")


def test_fit_zoom_and_tolerance():
    assert geo.fit_zoom((115.8, 28.4, 116.0, 28.6)) in (11, 12)     # a township
    assert geo.fit_zoom((115.0, 28.0, 116.0, 29.0)) in (9, 10)      # a county
    assert geo.tolerance_for_zoom(12) == pytest.approx(0.5 * 360 / (256 * 4096))
    assert geo.tolerance_for_zoom(14) < geo.tolerance_for_zoom(12)
    assert geo.decimals_for_tolerance(geo.tolerance_for_zoom(14)) == 5
    assert geo.decimals_for_tolerance(geo.tolerance_for_zoom(11)) == 4


def test_simplify_keeps_shared_borders_shared():
    grids = geo.synthetic_grids(36, seed=1)
    simp = geo.simplify(grids.geometry, geo.tolerance_for_zoom(11))
    before = sum(len(p.exterior.coords) for p in grids.geometry)
    after = sum(len(p.exterior.coords) for p in simp)
    assert after < before * 0.7
    assert shapely.is_valid(simp.values).all()
    # neighbours neither gap nor overlap: the union's area equals the sum of areas
    assert shapely.union_all(simp.values).area == pytest.approx(shapely.area(simp.values).sum(), rel=1e-9)
    assert shapely.union_all(simp.values).area == pytest.approx(shapely.area(grids.geometry.values).sum(), rel=0.01)


def test_simplify_falls_back_for_overlapping_shapes():
    a, b = shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)   # overlap: not a coverage
    s = geo.gpd.GeoSeries([a, b, None])
    out = geo.simplify(s, 0.1)
    assert out.iloc[2] is None and out.iloc[0].equals(a)


def test_round_coords():
    g = shapely.Point(115.123456789, 28.987654321)
    out = geo.round_coords([g, None], 4)
    assert out[0].x == 115.1235 and out[0].y == 28.9877 and out[1] is None


def test_feature_at():
    grids = geo.synthetic_grids(4, seed=2)
    p = grids.geometry.iloc[2].representative_point()
    assert geo.feature_at(grids, p.x, p.y) == int(grids["id"].iloc[2])
    assert geo.feature_at(grids, 0.0, 0.0) is None
    assert geo.feature_at(grids.iloc[0:0], p.x, p.y) is None


def test_load_demo_boundaries(demo_engine):
    with demo_engine.connect() as conn:
        v = geo.load_villages(conn)
        g = geo.load_grids(conn)
        one = geo.load_grids(conn, [int(v["id"].iloc[0])])
    assert len(v) > 0 and v.crs.to_epsg() == 4326 and v.geometry.notna().all()
    assert set(g.columns) >= {"id", "village_id", "village", "name", "leader", "households"}
    assert (one["village_id"] == v["id"].iloc[0]).all() and 0 < len(one) < len(g)


def test_synthetic_county_is_a_valid_coverage():
    g = geo.synthetic_grids(100, seed=3)
    assert len(g) == 100 and shapely.is_valid(g.geometry.values).all()
    assert g["village_id"].nunique() == 3
