"""The map page through AppTest (the map itself is a component AppTest cannot draw)."""
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.ui import nav

PAGE = str(nav.ROOT / "pages/map.py")


def test_map_page_controls(demo_env):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "网格地图"
    assert at.selectbox(key="map_metric").value == "resolution_rate"
    at.radio(key="map_level").set_value("grid").run()
    assert not at.exception
    at.selectbox(key="map_metric").set_value("rep_visits").run()   # no grid-level value
    assert not at.exception
    assert any("没有网格级数据" in c.value for c in at.caption)
    at.radio(key="map_classes").set_value("jenks").run()
    at.radio(key="map_points").set_value("heat").run()
    assert not at.exception


def test_map_page_in_english_with_a_gcj02_basemap(demo_env, monkeypatch):
    monkeypatch.setenv("DASHBOARD_TILE_URL", "/tiles/{z}/{x}/{y}.png")
    monkeypatch.setenv("DASHBOARD_TILE_CRS", "gcj02")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Grid map"


def test_another_metric_or_level_redraws_from_cached_parts(demo_env, monkeypatch):
    """Shapes (per villages) and values (per period) are queried once: a leader going through
    the metrics and levels waits for no database work."""
    import streamlit as st

    from dashboard import geo, metrics
    st.cache_data.clear()
    calls = []
    for mod, name in ((geo, "load_grids"), (metrics, "compute_grids")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _n=name, _f=real, **k: calls.append(_n) or _f(*a, **k))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(calls) == ["compute_grids", "load_grids"]
    at.selectbox(key="map_metric").set_value("volunteer_hours").run()
    at.radio(key="map_level").set_value("grid").run()
    at.selectbox(key="map_metric").set_value("disputes_total").run()
    assert not at.exception and len(calls) == 2
    at.radio(key="period_kind").set_value("year").run()          # another period: its values only
    assert not at.exception and calls[2:] == ["compute_grids"]
    st.cache_data.clear()
