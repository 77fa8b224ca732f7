"""县级总览's map: townships dissolved from their villages (or grids), coloured by the figure the
county table ranks by, a click opening the township's overview; values computed by hand from
the intake fixtures (tests/test_county_intake.py), 白云镇's grids placed east of 本乡镇's."""
from __future__ import annotations

import json
from datetime import date

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import county_map, geo, maps, targets
from dashboard.db import schema as S
from dashboard.db.engine import bump_version, write_txn
from dashboard.periods import Period
from dashboard.queries import county
from dashboard.ui import nav
from test_county_intake import load_a, load_b

pytestmark = pytest.mark.usefixtures("fresh_cache")

YEAR = Period(date(2024, 1, 1), date(2024, 12, 31), "year")
A, B = "360121105000", "360121106000"          # 本乡镇, 白云镇
# the fixture's six grids tile 115.90–115.93 E × 28.54–28.56 N; B's the same 0.05° further east
BOX_A = shapely.box(115.90, 28.54, 115.93, 28.56)
BOX_B = shapely.box(115.95, 28.54, 115.98, 28.56)


def _same_shape(g, expected) -> bool:
    return g.symmetric_difference(expected).area < 1e-12


def _tid(conn, code) -> int:
    return conn.execute(sa.select(S.township.c.id).where(S.township.c.code == code)).scalar_one()


@pytest.fixture
def two(engine):
    load_a(engine)
    load_b(engine, beside=True)
    return engine


def test_a_township_is_the_union_of_its_villages_grids(two):
    with two.connect() as c:
        sh = geo.load_townships(c)
        only_a = geo.load_townships(c, [_tid(c, A)])
    assert list(sh["code"]) == [A, B] and list(sh["name"]) == ["本乡镇", "白云镇"]
    assert _same_shape(sh.geometry[0], BOX_A) and _same_shape(sh.geometry[1], BOX_B)
    assert [g.geom_type for g in sh.geometry] == ["Polygon", "Polygon"]   # no seams left
    assert list(only_a["code"]) == [A]                                   # scoped: A alone


def test_a_village_with_its_own_boundary_stands_for_its_grids(two):
    # 东湖社区 (A) has one grid, 115.92–115.93 × 28.55–28.56; its own boundary reaches 115.95
    own = shapely.box(115.92, 28.55, 115.95, 28.56)
    with write_txn(two) as c:
        c.execute(sa.update(S.village).where(S.village.c.code == "360121105001")
                  .values(geometry=json.dumps(shapely.geometry.mapping(own))))
        bump_version(c)
    with two.connect() as c:
        sh = geo.load_townships(c)
    assert _same_shape(sh.geometry[0], BOX_A.union(own))
    assert sh.geometry[0].area == pytest.approx(0.03 * 0.02 + 0.02 * 0.01)
    assert _same_shape(sh.geometry[1], BOX_B)


def test_a_township_without_any_boundary_has_none(engine):
    from test_county_intake import imp, VILLAGES_B
    load_a(engine)
    imp(engine, VILLAGES_B, "villages_b.csv", township="白云镇")       # villages, no grids
    with engine.connect() as c:
        sh = geo.load_townships(c)
    assert list(sh["code"]) == [A, B]
    assert sh.geometry[0] is not None and sh.geometry[1] is None


def test_colours_and_tooltips_are_the_registrys(two):
    with two.connect() as c:
        data = county_map.layer(geo.load_townships(c), county.townships(c, YEAR), county.RANK_BY)
    # A: 3 of 5 resolved = 60.0%, rank 2; B: 4 of 6 = 66.7%, rank 1 (test_county_view)
    assert list(data["code"]) == [A, B]
    assert data["value"].tolist() == pytest.approx([3 / 5, 4 / 6])
    assert list(data["den"]) == [5, 6] and list(data["rank"]) == [2, 1]
    m = county_map.build(data, "resolution_rate")
    # against the target (90%, amber from 85%): both short by more than 5 points, red
    assert m.gm_info["breaks"] == [0.6, 0.85, 0.9, 0.9]
    assert m.gm_info["classes"] == [0, 0]
    assert m.gm_info["colours"][0] == targets.COLOURS["red"]
    layer = next(e for e in m._children.values() if isinstance(e, maps.Choropleth))
    props = [p for _, p in json.loads(layer.data_js)["f"]]
    assert [(p["v"], p["n"], p["x"], p["r"], p["c"]) for p in props] == [
        ("本乡镇", "3", "60.0%（5件）", 2, 0), ("白云镇", "3", "66.7%（6件）", 1, 0)]
    page = m.get_root().render()
    assert "http" not in page.split("<body>")[0].replace("http-equiv", "")   # no CDN link
    assert "/app/static/vendor/leaflet/1.9.3/leaflet.js" in page


def test_three_townships_fall_into_the_three_target_classes():
    """Hand-built: 95% (at or above 90%: green), 87% (within 5 points: amber), 50% (red); a
    township named with markup."""
    shapes = gpd.GeoDataFrame({"id": [1, 2, 3], "code": ["1", "2", "3"], "name": ["甲镇", "乙镇", "<img src=x>丙镇"]},
                              geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1),
                                        shapely.box(2, 0, 3, 1)], crs=geo.CRS)
    table = pd.DataFrame({"township_id": [1, 3, 2], "villages": [2, 4, 3], "rank": [1, 2, 3],
                          "resolution_rate": [0.95, 0.87, 0.5], "disputes_total": [20, 100, 10]})
    data = county_map.layer(shapes, table, "resolution_rate")
    m = county_map.build(data, "resolution_rate", lang="en")
    assert m.gm_info["classes"] == [2, 0, 1]            # 甲 green, 乙 red, 丙 amber
    assert [m.gm_info["colours"][c] for c in m.gm_info["classes"]] == \
        [targets.COLOURS["green"], targets.COLOURS["red"], targets.COLOURS["amber"]]
    page = m.get_root().render()                         # a typed name is text, never markup
    assert "<img" not in page and page.count("\\u0026lt;img src=x\\u0026gt;丙镇") == 2   # tip, label
    q = county_map.build(data, "resolution_rate", classes="quantile")
    assert q.gm_info["breaks"] == [0.5, 0.87, 0.95]    # 3 values: 2 classes, cut at the median
    assert q.gm_info["classes"] == [1, 0, 1]


def test_a_click_is_the_township_under_it(two):
    with two.connect() as c:
        data = county_map.layer(geo.load_townships(c), county.townships(c, YEAR), county.RANK_BY)
    assert county_map.click_target({"lat": 28.545, "lng": 115.905}, data) == A
    assert county_map.click_target({"lat": 28.555, "lng": 115.975}, data) == B
    assert county_map.click_target({"lat": 28.545, "lng": 115.94}, data) is None   # between them
    assert county_map.click_target(None, data) is None
    lon, lat = geo.wgs84_to_gcj02(115.975, 28.555)     # on a GCJ-02 basemap the shapes move
    assert county_map.click_target({"lat": lat, "lng": lon}, data, "gcj02") == B


# ---------------------------------------------------------------- the page

@pytest.fixture
def county_app(two, monkeypatch):
    url = two.url.render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    return url


def _app(query=None) -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=120)
    at.session_state["lang"] = "zh"
    for k, v in (query or {"period": "2024"}).items():
        at.query_params[k] = v
    return at


def test_the_county_page_draws_the_township_map(county_app):
    at = AppTest.from_file(str(nav.ROOT / "pages/county.py"), default_timeout=120)
    at.session_state["lang"] = "zh"
    at.query_params["period"] = "2024"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    comps = [c for c in at.get("component_instance")
             if c.proto.component_name == "streamlit_folium.st_folium"]
    assert len(comps) == 1
    args = json.loads(comps[0].proto.json_args)
    assert "gmtownship" in args["script"] and "白云镇" in args["script"] and "本乡镇" in args["script"]
    assert "按化解率着色（与上表排名同一指标）；点击乡镇（街道），打开该乡镇的总览。" in \
        [c.value for c in at.caption]
    # classes as on the grid map: against the target by default, quantiles on request
    assert at.radio(key="county_map_classes").value == "target"
    at.radio(key="county_map_classes").set_value("quantile").run()
    assert not at.exception, [e.value for e in at.exception]
    args = json.loads(at.get("component_instance")[0].proto.json_args)
    assert "60.0% – 66.7%" in args["script"]              # one class from A's rate to B's


def test_a_click_on_a_township_opens_its_overview(county_app, monkeypatch):
    """st_folium replaced by its answer to a click inside 白云镇: the overview of 白云镇 opens."""
    from dashboard.ui import county_map as cmap
    at = _app().run()
    at.switch_page("pages/county.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "县级总览"
    monkeypatch.setattr(cmap, "st_folium", lambda *a, **k: {"last_clicked": {"lat": 28.555, "lng": 115.975}})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "总览"
    assert dict(at.query_params).get("township") == B
    assert next(m.value for m in at.metric if m.label == "受理纠纷") == "6"    # 白云镇's 2024
