"""Chart builders checked through Figure.to_dict(): the series carry the registry's numbers."""
from __future__ import annotations

import json
import re

from dashboard import targets, charts, metrics
from dashboard.periods import month, quarter, year
from dashboard.queries import disputes, ranking, village, visits, volunteers
from test_metrics import Q1, fx  # noqa: F401 - fx: the hand-built township fixture


def _data(fig):
    return fig.to_dict()["data"]


def test_disputes_monthly_series(fx):
    conn, _ = fx
    d = _data(charts.disputes_monthly(disputes.monthly(conn, Q1), "zh"))
    assert [t["name"] for t in d] == ["受理纠纷", "本期办结", "当月化解率"]   # issue 12: names its figure
    assert list(d[0]["x"]) == ["2025-01", "2025-02", "2025-03"]
    assert list(d[0]["y"]) == [3, 4, 5] and list(d[1]["y"]) == [3, 3, 2]
    for i, m in enumerate((1, 2, 3)):
        reg = metrics.compute(conn, month(2025, m))["township"]
        assert d[0]["y"][i] == reg["disputes_total"]
        assert d[2]["y"][i] == reg["resolution_rate"]
    t = metrics.compute(conn, Q1)["township"]
    assert sum(d[0]["y"]) == t["disputes_total"] and sum(d[1]["y"]) == t["disputes_resolved_in_period"]
    assert d[2]["yaxis"] == "y2"


def test_rate_by_village_with_township_and_target_lines(fx):
    conn, ids = fx
    r = disputes.by_village(conn, Q1)
    fig = charts.metric_by_village(r["villages"], "resolution_rate",
                                   r["township"]["resolution_rate"], "zh", target=0.9)
    d = fig.to_dict()
    bar = d["data"][0]
    reg = metrics.compute(conn, Q1)["villages"]
    # the small-number rule: B社区's 75 % over 4 cases ranks after A村's 50 % over 8, hatched
    assert list(bar["x"]) == ["A村", "B社区", "C村"]
    assert list(bar["y"]) == [reg[ids["A"]]["resolution_rate"], reg[ids["B"]]["resolution_rate"], None]
    assert list(bar["text"]) == ["50.0%（8）", "75.0%（4）", "—"]       # each rate beside its count
    assert bar["marker"]["pattern"]["shape"][:2] == ["", "/"]
    red = targets.COLOURS["red"]                     # the cards' light: below 85 % is red
    assert bar["marker"]["color"][:2] == [red, red]
    lines = sorted(s["y0"] for s in d["layout"]["shapes"])
    assert lines == [7 / 12, 0.9]
    texts = [a["text"] for a in d["layout"]["annotations"]]
    assert "全镇 58.3%" in texts and "目标 90.0%" in texts


def test_metric_by_village_sorted(fx):
    conn, _ = fx
    df = volunteers.by_village(conn, Q1)["villages"]
    bar = _data(charts.metric_by_village(df, "volunteer_points", None, "en", sort=True))[0]
    assert list(bar["x"]) == ["A村", "B社区", "C村"] and list(bar["y"]) == [28, 10, 0]


def test_level_funnel_and_shares(fx):
    conn, _ = fx
    lv = disputes.levels(conn, Q1)
    f = _data(charts.level_funnel(disputes.level_totals(lv), "zh"))[0]
    assert f["type"] == "funnel"
    assert list(f["y"]) == ["网格", "村级", "乡镇级", "县级"] and list(f["x"]) == [3, 2, 1, 1]
    assert sum(f["x"]) == metrics.compute(conn, Q1)["township"]["disputes_resolved"]
    s = charts.levels_by_village(lv, "zh").to_dict()
    assert s["layout"]["barnorm"] == "percent"
    assert [list(t["x"]) for t in s["data"]] == [[1, 2], [1, 1], [1, 0], [1, 0]]  # C has none: left out
    assert list(s["data"][0]["y"]) == ["A村", "B社区"]


def test_days_histogram(fx):
    conn, _ = fx
    fig = charts.days_histogram(disputes.days_distribution(conn, Q1), "zh")
    d = fig.to_dict()
    assert list(d["data"][0]["y"]) == [2, 1, 2, 1, 1, 0, 0]
    assert "中位数 5.0 天" in d["layout"]["title"]["text"]


def test_volunteer_and_visit_charts(fx):
    conn, _ = fx
    v = _data(charts.volunteer_monthly(volunteers.monthly(conn, Q1), "zh"))
    assert list(v[0]["y"]) == [20.0, 10.0, 7.5] and list(v[1]["y"]) == [1, 1, 1]
    assert sum(v[0]["y"]) == metrics.compute(conn, Q1)["township"]["volunteer_hours"]
    tm = _data(charts.teams_bar(volunteers.teams(conn, Q1), "zh"))[0]
    assert list(tm["y"]) == ["A党员先锋队", "B党员先锋队", "A巾帼志愿队"] and list(tm["x"]) == [20.0, 10.0, 7.5]
    mix = _data(charts.activity_mix(volunteers.categories(conn, Q1), "zh"))[0]
    assert mix["type"] == "pie" and list(mix["values"]) == [20.0, 10.0, 7.5]
    bt = _data(charts.visits_by_type(visits.by_type(conn, Q1), "zh"))
    assert list(bt[0]["x"]) == ["党代表", "人大代表", "政协委员"] and list(bt[0]["y"]) == [2, 0, 1]
    pv = _data(charts.visits_per_village(visits.by_village(conn, Q1)["villages"], "zh"))
    assert [t["name"] for t in pv] == ["收集意见建议", "解决问题", "转办问题"]
    assert [list(t["y"]) for t in pv] == [[10, 0, 0], [5, 0, 0], [4, 0, 0]]
    pr = _data(charts.visits_per_rep(visits.by_rep(conn, Q1), "zh"))
    assert list(pr[0]["y"]) == ["王代表（党代表）", "李委员（政协委员）"] and list(pr[0]["x"]) == [4, 6]
    form = _data(charts.visits_by_form(visits.by_form(conn, Q1), "en"))[0]
    assert list(form["labels"]) == ["Home visit", "Station reception", "Forum"] or len(form["labels"]) == 3


def test_village_charts(fx):
    conn, ids = fx
    p = village.profile(conn, ids["A"], Q1)
    tr = _data(charts.village_trend(p["trend"], "zh"))
    assert len(tr[0]["x"]) == 12 and sum(tr[0]["y"]) == 9       # a5 + Q1's 8
    radar = _data(charts.index_radar(p["index"]["scores"], "zh"))[0]
    assert radar["type"] == "scatterpolar" and radar["r"][0] == radar["r"][-1]
    ib = _data(charts.index_bar(ranking.index(conn, Q1), "zh"))[0]
    assert list(ib["y"]) == ["A村", "B社区"]          # B社区: 4 cases, after A村 and pale
    assert list(ib["marker"]["color"]) == [charts.COLORS["primary"], charts.COLORS["grey"]]


def test_undefined_values_are_null_not_zero(fx):
    conn, _ = fx
    fig = charts.disputes_monthly(disputes.monthly(conn, year(2023)), "zh")
    payload = json.loads(fig.to_json())
    assert payload["data"][2]["y"] == [None] * 12


def test_offline_config_and_html():
    assert charts.CONFIG["displaylogo"] is False
    html = charts.to_html(charts.empty("—"))
    # plotly.js is inlined: no <script src="http...">, no MathJax loader
    assert re.findall(r"<script[^>]*src=[\"']?https?://", html) == []
    assert "mathjax.js" not in html.lower() and len(html) > 1_000_000


def test_demo_chart_matches_registry_for_every_village(demo_engine):
    p = year(2025)
    with demo_engine.connect() as conn:
        r = disputes.by_village(conn, p)
        reg = metrics.compute(conn, p)
    names = {vid: m for vid, m in reg["villages"].items()}
    bar = _data(charts.metric_by_village(r["villages"], "resolution_rate", None, "zh"))[0]
    by_name = dict(zip(r["villages"]["village"], r["villages"]["village_id"]))
    assert len(bar["x"]) == 27
    for x, y in zip(bar["x"], bar["y"]):
        assert y == names[by_name[x]]["resolution_rate"]


def test_disputes_monthly_with_last_year(fx):
    conn, _ = fx
    now = disputes.monthly(conn, quarter(2026, 1))
    ago = disputes.monthly(conn, quarter(2025, 1))
    d = _data(charts.disputes_monthly(now, "zh", ago))
    assert d[-1]["name"] == "去年同期受理" and list(d[-1]["y"]) == [3, 4, 5]
    assert list(d[-1]["customdata"]) == ["2025-01", "2025-02", "2025-03"]
    assert list(d[0]["y"]) == [0, 0, 0]


def test_village_vs_township(fx):
    conn, ids = fx
    r = metrics.compute(conn, Q1)
    d = _data(charts.village_vs_township(r["villages"][ids["A"]], r["township"], "zh"))
    assert list(d[0]["x"])[0] == "化解率"
    assert list(d[0]["y"]) == [0.5, 0.25, 0.5, 0.25, 0.5]
    assert list(d[1]["y"]) == [7 / 12, 3 / 7, 5 / 7, 2 / 12, 0.5]


def test_names_typed_by_people_are_shown_as_text():
    import pandas as pd
    evil = "<img src=x onerror=alert(1)>"
    df = pd.DataFrame({"village": [evil, "B村"], "resolution_rate": [0.5, 0.9]})
    bar = _data(charts.metric_by_village(df, "resolution_rate", None, "zh"))[0]
    assert list(bar["x"]) == ["&lt;img src=x onerror=alert(1)&gt;", "B村"]
    pie = _data(charts.donut([evil], [1]))[0]
    assert "<img" not in json.dumps(pie)
    from dashboard import fmt
    assert fmt.md(evil) == "\\<img src\\=x onerror\\=alert\\(1\\)\\>"
    assert fmt.md("[a](javascript:x)") == "\\[a\\]\\(javascript\\:x\\)"
