"""Traffic lights against a target: thresholds from one file, green/amber/red on cards, tables
and the map's "against target" classes (anchored at the target, not at quantiles)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import maps, periods, targets
from dashboard.queries import overview
from dashboard.ui import nav

pytestmark = pytest.mark.usefixtures("fresh_cache")


@pytest.mark.parametrize("value, light", [(1.0, "green"), (0.9, "green"), (0.8999, "amber"), (0.85, "amber"),
                                          (0.8499, "red"), (0.0, "red"), (None, None)])
def test_resolution_rate_lights_at_the_default_target(value, light):
    assert targets.light("resolution_rate", value) == light


def test_rule_text_and_a_lower_is_better_target_from_the_file(tmp_path, monkeypatch):
    assert targets.rule("resolution_rate") == "目标 90.0%：≥90.0% 绿；85.0%–90.0% 黄；<85.0% 红"
    f = tmp_path / "t.toml"
    f.write_text("[resolution_rate]\ntarget = 0.8\namber = 0.1\n[overdue_open]\ntarget = 2\namber = 3\n",
                 encoding="utf-8")
    monkeypatch.setenv("DASHBOARD_TARGETS", str(f))
    assert targets.get("resolution_rate").target == 0.8
    assert [targets.light("overdue_open", v) for v in (0, 2, 3, 5, 6)] == \
        ["green", "green", "amber", "amber", "red"]
    assert targets.rule("overdue_open") == "目标 2：≤2 绿；2–5 黄；>5 红"
    assert targets.light("disputes_total", 3) is None          # no target: no light


def test_map_against_target_anchors_classes_at_the_target():
    vals = [0.5, 0.833, 0.95, 1.0, None]
    b = maps.target_breaks(vals, "resolution_rate")
    assert b[1:3] == pytest.approx([0.85, 0.9]) and b[0] == 0.5 and b[-1] == 1.0
    cols = maps.target_palette("resolution_rate")
    assert [cols[maps.class_of(v, b)] for v in (0.833, 0.87, 0.9, 0.95)] == \
        [targets.COLOURS["red"], targets.COLOURS["amber"], targets.COLOURS["green"], targets.COLOURS["green"]]
    # quantiles would paint 83.3 % in the upper classes of these values; against target it is red
    q = maps.classify(vals, 5, "quantile")
    assert maps.class_of(0.833, q) >= 1
    html = maps.legend_html("resolution_rate", b, colours=cols)
    assert "85.0% – 90.0%" in html and "目标 90.0%" in html


def test_overview_table_and_cards_carry_the_light(demo_env, demo_engine):
    with demo_engine.connect() as c:
        df = overview.village_table(c, periods.quarter(2025, 4))
    shown = overview.table_for_display(df)
    col = shown["化解率达标"]
    rates = dict(zip(df["village"], df["resolution_rate"]))
    lights = dict(zip(shown["村（社区）"], col))
    assert lights["马鞍村"] == "🔴 未达标" and rates["马鞍村"] == 0
    assert all(lights[v] == targets.symbol(targets.light("resolution_rate", r)) for v, r in rates.items())

    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=90).run()
    assert not at.exception
    card = next(m for m in at.metric if m.label == "化解率")
    assert card.value == "76.2%"
    assert "🔴 未达标（目标 90.0%：≥90.0% 绿；85.0%–90.0% 黄；<85.0% 红）" in card.proto.help
    at2 = AppTest.from_file(str(nav.ROOT / "pages/disputes.py"), default_timeout=90).run()
    card = next(m for m in at2.metric if m.label == "化解率")
    assert "🔴 未达标" in card.proto.help and "<85.0% 红" in card.proto.help


def test_map_page_offers_against_target_for_a_figure_with_one(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "pages/map.py"), default_timeout=90).run()
    assert not at.exception
    assert at.radio(key="map_classes").value == "target"
    assert "target" in at.radio(key="map_classes").options or "对照目标" in at.radio(key="map_classes").options
    at.selectbox(key="map_metric").set_value("rep_visits").run()   # no target: quantiles
    assert not at.exception
    assert at.radio(key="map_classes").value == "quantile"
