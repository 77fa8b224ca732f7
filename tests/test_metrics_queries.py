"""The topic queries and the governance index on the hand-built fixture of test_metrics.py.

Expected values are worked out by hand from the fixture's rows (see test_metrics.py's docstring);
the period is Q1 2025 unless said otherwise.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from dashboard import metrics
from dashboard.periods import month, quarter
from dashboard.queries import disputes, ranking, village, visits, volunteers
from test_metrics import Q1, fx  # noqa: F401 - fx: the hand-built township fixture


def test_disputes_monthly(fx):
    conn, _ = fx
    df = disputes.monthly(conn, Q1)
    assert list(df["month"]) == ["2025-01", "2025-02", "2025-03"]
    assert list(df["received"]) == [3, 4, 5]          # a1 a7 a10 | a3 a8 b1 b2 | a2 a4 a9 b3 b4
    # issue 12: resolved = 本期办结 of the month, whatever the reported date (a5: 2024-12-31 -> 01-02)
    assert list(df["resolved"]) == [3, 3, 2]          # a1 a5 a7 | a3 b1 b2 | a2 b3
    assert list(df["resolved_same_month"]) == [2, 3, 2]
    assert list(df["rate"]) == [2 / 3, 3 / 4, 2 / 5]
    t = metrics.compute(conn, Q1)["township"]
    assert df["received"].sum() == t["disputes_total"]
    assert df["resolved"].sum() == t["disputes_resolved_in_period"]
    for i, m in enumerate((1, 2, 3)):     # each month's rate is the registry's for that month
        assert df["rate"][i] == metrics.compute(conn, month(2025, m))["township"]["resolution_rate"]


def test_disputes_monthly_empty_months_and_village_filter(fx):
    conn, ids = fx
    df = disputes.monthly(conn, quarter(2023, 2))
    assert list(df["received"]) == [0, 0, 0] and list(df["rate"]) == [None, None, None]
    b = disputes.monthly(conn, Q1, [ids["B"]])
    assert list(b["received"]) == [0, 2, 2] and list(b["resolved"]) == [0, 2, 1]


def test_disputes_by_village_sorted_with_undefined_last(fx):
    conn, ids = fx
    r = disputes.by_village(conn, Q1)
    df = r["villages"]
    # the registry's small-number rule: B社区's 75 % rests on 4 cases (< SMALL_N = 5), so it is
    # marked and ranked after A村 (8 cases, 50 %); C村 has no case (undefined) and comes last
    assert list(df["village"]) == ["A村", "B社区", "C村"]
    assert list(df["resolution_rate"])[:2] == [0.5, 0.75]
    assert list(df["small"]) == [False, True, True] and list(df["rank"])[:2] == [1, 2]
    assert df["rank"].isna().tolist() == [False, False, True]
    assert r["township"]["resolution_rate"] == 7 / 12


def test_levels(fx):
    conn, ids = fx
    df = disputes.levels(conn, Q1).set_index("village")
    assert df.loc["A村", ["level_grid", "level_village", "level_township", "level_county"]].tolist() == [1, 1, 1, 1]
    assert df.loc["B社区", ["level_grid", "level_village", "level_township", "level_county"]].tolist() == [2, 1, 0, 0]
    assert df.loc["A村", "resolved"] == 4 and df.loc["A村", "within_village"] == 0.5
    assert df.loc["B社区", "within_grid"] == 2 / 3
    assert df.loc["C村", "resolved"] == 0 and pd.isna(df.loc["C村", "within_grid"])
    assert disputes.level_totals(disputes.levels(conn, Q1)) == \
        {"grid": 3, "village": 2, "township": 1, "county": 1}


def test_days_distribution(fx):
    conn, _ = fx
    d = disputes.days_distribution(conn, Q1)     # days 0, 0, 10, 7, 3, 5, 20
    assert list(d["buckets"]["count"]) == [2, 1, 2, 1, 1, 0, 0]
    assert d["median"] == 5 and d["resolved"] == 7
    labels = list(disputes.days_table(d, "zh")["bucket"])
    assert labels == ["当天", "1–3天", "4–7天", "8–15天", "16–30天", "31–60天", "60天以上"]
    assert disputes.days_distribution(conn, quarter(2023, 1))["median"] is None


def test_categories(fx):
    conn, _ = fx
    df = disputes.categories(conn, Q1)
    assert df.to_dict("records") == [
        dict(category="邻里纠纷", received=9, resolved=4, rate=4 / 9),
        dict(category="土地流转", received=2, resolved=2, rate=1.0),
        dict(category="婚姻家庭矛盾", received=1, resolved=1, rate=1.0)]


def test_overdue_list_has_case_numbers_and_no_names(fx):
    conn, ids = fx
    df = disputes.supervision(conn, Q1)   # issue 12: the 督办 list replaces the cohort list
    assert list(df["case_no"]) == ["a10", "a8"]      # oldest first; a9 is exactly 30 days
    assert list(df["days_open"]) == [70, 31]
    assert list(df["status"]) == ["in_progress", "received"]  # a10 resolved only in May
    assert list(df["village"]) == ["A村", "A村"] and list(df["grid"]) == ["第2网格", "第1网格"]
    assert "mediator" not in df.columns and "parties" not in df.columns and "note" not in df.columns
    assert len(df) == metrics.compute(conn, Q1)["township"]["backlog_overdue"]
    assert disputes.supervision(conn, Q1, [ids["B"]]).empty


def test_volunteers(fx):
    conn, ids = fx
    m = volunteers.monthly(conn, Q1)
    assert m[["activities", "participants", "hours", "points"]].values.tolist() == \
        [[1, 10, 20.0, 20], [1, 4, 10.0, 10], [1, 5, 7.5, 8]]
    teams = volunteers.teams(conn, Q1)
    assert teams[["rank", "team", "village", "hours"]].values.tolist() == \
        [[1, "A党员先锋队", "A村", 20.0], [2, "B党员先锋队", "B社区", 10.0], [3, "A巾帼志愿队", "A村", 7.5]]
    cats = volunteers.categories(conn, Q1)
    assert list(cats["category"]) == ["环保清洁", "文明实践", "助老助残"]
    bv = volunteers.by_village(conn, Q1)["villages"]
    assert list(bv["village"]) == ["A村", "B社区", "C村"]        # per 100 residents, undefined last
    assert list(bv["volunteer_hours_per_100_residents"])[:2] == [27.5 / 600 * 100, 10 / 300 * 100]
    assert volunteers.teams(conn, Q1, [ids["C"]]).empty


def test_visits(fx):
    conn, _ = fx
    t = visits.by_type(conn, Q1).set_index("rep_type")
    assert t.loc["party", ["reps", "visits", "voters", "suggestions", "resolved", "referred"]].tolist() == \
        [1, 2, 40, 4, 2, 1]
    assert t.loc["party", "rate"] == 0.5 and t.loc["cppcc", "rate"] == 0.5
    assert t.loc["npc", "visits"] == 0 and pd.isna(t.loc["npc", "rate"])
    f = visits.by_form(conn, Q1).set_index("form")
    assert f["visits"].tolist() == [1, 1, 1] and pd.isna(f.loc["forum", "rate"])
    r = visits.by_rep(conn, Q1)
    assert r[["rank", "rep_name", "rep_type", "visits", "voters", "villages"]].values.tolist() == \
        [[1, "王代表", "party", 2, 40, 2], [2, "李委员", "cppcc", 1, 20, 1]]
    assert visits.monthly(conn, Q1)["voters"].tolist() == [10, 30, 20]
    bv = visits.by_village(conn, Q1)["villages"]
    assert bv["suggestions_collected"].tolist() == [10, 0, 0]
    assert bv["suggestion_resolution_rate"].tolist()[0] == 0.5


def test_village_profile(fx):
    conn, ids = fx
    p = village.profile(conn, ids["A"], Q1)
    tab = p["table"].set_index("key")
    assert tab.loc["disputes_total", "value"] == 8
    assert tab.loc["disputes_total", "avg_per_village"] == 4.0          # 12 / 3 villages
    assert tab.loc["resolution_rate", "township"] == 7 / 12
    # A村's 50 % over 8 cases ranks before B社区's 75 % over 4 (fewer than SMALL_N: after the others)
    assert (tab.loc["resolution_rate", "rank"], tab.loc["resolution_rate", "ranked"]) == (1, 2)
    assert (tab.loc["median_days_to_resolve", "rank"]) == 1               # 3.5 beats 5 (lower)
    assert tab.loc["resolution_rate", "mom"] == 0.5                       # Q4 2024: 0 of 1
    assert tab.loc["disputes_total", "mom"] == 7.0 and pd.isna(tab.loc["disputes_total", "yoy"])
    assert p["kpis"]["township"]["disputes_total"] == 8
    assert p["grids"]["grid"].tolist() == ["第1网格", "第2网格"]
    assert p["grids"]["disputes_total"].tolist() == [4, 4]
    tr = p["trend"]
    assert len(tr) == 12 and tr["month"].iloc[0] == "2024-04" and tr["month"].iloc[-1] == "2025-03"
    jan, dec = tr.set_index("month").loc["2025-01"], tr.set_index("month").loc["2024-12"]
    assert (jan["received"], jan["resolved"]) == (3, 3)       # a5 (reported in Dec) resolved 01-02
    assert (dec["received"], dec["resolved"]) == (1, 0)
    assert p["index"]["rank"] == 1 and p["index"]["ranked"] == 2
    shown = village.table_for_display(p["table"], "zh")
    assert "第1名 / 2" in shown["排名"].tolist()
    b = village.profile(conn, ids["B"], Q1)
    shown = village.table_for_display(b["table"], "zh").set_index("指标")
    assert shown.loc["化解率（%）", "排名"] == "第2名 / 2（受理少于5件，排在其后）"


def test_village_id_from_query_param(fx):
    conn, ids = fx
    assert village.resolve_id(conn, str(ids["B"])) == ids["B"]
    assert village.resolve_id(conn, "9999") is None and village.resolve_id(conn, "abc") is None


def test_governance_index_by_hand(fx):
    conn, ids = fx
    df = ranking.index(conn, Q1)
    # A: resolution 0, within-village 0, median 100, overdue 0, per-100-households 100 (tie),
    #    volunteer hours 100, suggestions 100 (only A defined) -> 0.10+0.10+0.15+0.15 = 50
    # B: 25 + 15 + 0 + 10 + 10 + 0 = 60 over weights 0.85 (no suggestions) -> 70.59
    # B社区 has the higher index but only 4 disputes (< SMALL_N): marked and ranked after A村
    assert df["village"].tolist() == ["A村", "B社区", "C村"]
    assert df["small"].tolist() == [False, True, True]
    assert df["index"].iloc[1] == pytest.approx(60 / 0.85)
    assert df["index"].iloc[0] == pytest.approx(50.0)
    assert df["index"].iloc[2] is None or df["index"].isna().iloc[2]
    assert df["rank"].iloc[:2].tolist() == [1, 2]
    assert df.set_index("village").loc["A村", "score_median_days_to_resolve"] == 100
    red, black = ranking.red_black(df, 5)   # small villages are on neither list: one is left
    assert red.empty and black.empty
    red, black = ranking.red_black(df.assign(small=False), 5)
    assert red["village"].tolist() == ["A村"] and black["village"].tolist() == ["B社区"]


def test_index_scores_ties_and_directions():
    w = {"resolution_rate": 1.0, "median_days_to_resolve": 1.0}
    vals = {1: {"resolution_rate": 0.9, "median_days_to_resolve": 2},
            2: {"resolution_rate": 0.6, "median_days_to_resolve": 10},
            3: {"resolution_rate": 0.9, "median_days_to_resolve": None}}
    s = ranking.scores(vals, w)
    assert s[1]["scores"] == {"resolution_rate": 100.0, "median_days_to_resolve": 100.0}
    assert s[2]["index"] == 0.0
    assert s[3]["index"] == 100.0               # its one defined metric counts in full
    assert ranking.scores({1: {"resolution_rate": 0.5}}, {"resolution_rate": 1})[1]["index"] == 100.0


def test_weights_file(tmp_path, monkeypatch):
    w = ranking.load_weights()
    assert w["red_black_size"] == 5 and sum(w["weights"].values()) == pytest.approx(1.0)
    assert ranking.weights_table(w)["weight"].sum() == pytest.approx(1.0)
    f = tmp_path / "w.toml"
    f.write_text('red_black_size = 3\n[weights]\nresolution_rate = 2\nvolunteer_hours_per_100_residents = 1\n')
    monkeypatch.setenv("DASHBOARD_WEIGHTS", str(f))
    w = ranking.load_weights()
    assert w == {"weights": {"resolution_rate": 2.0, "volunteer_hours_per_100_residents": 1.0},
                 "red_black_size": 3}
    f.write_text('[weights]\nno_such_metric = 1\n')
    with pytest.raises(ValueError, match="no_such_metric"):
        ranking.load_weights()
    f.write_text('[weights]\ndisputes_total = 1\n')      # neutral: no better direction
    with pytest.raises(ValueError, match="disputes_total"):
        ranking.load_weights()


def test_queries_on_an_empty_database(engine):
    with engine.connect() as conn:
        p = quarter(2025, 1)
        assert disputes.monthly(conn, p)["received"].tolist() == [0, 0, 0]
        assert disputes.levels(conn, p).empty and disputes.supervision(conn, p).empty
        assert disputes.days_distribution(conn, p)["median"] is None
        assert volunteers.teams(conn, p).empty and visits.by_rep(conn, p).empty
        assert ranking.index(conn, p).empty
        assert ranking.red_black(ranking.index(conn, p))[0].empty
        assert metrics.compute(conn, p)["villages"] == {}
        assert date(2025, 1, 1) == p.start


def test_overview_alert_sentences(fx):
    from dashboard.queries import overview
    conn, ids = fx
    lines = overview.alerts(conn, Q1, target=0.9)
    # the basics first (owned by the overview), then ours
    assert lines[0] == "有2个村（社区）纠纷化解率低于目标90.0%：A村（50.0%，8件）、B社区（75.0%，4件）。"
    assert lines[1] == "共有2件纠纷受理超过30天仍未化解：A村 2（件）。"
    assert "全镇纠纷化解率58.3%，环比上升58.3个百分点。" in lines        # Q4 2024: 0 of 1
    assert "本期有1个村（社区）没有代表走访记录：C村。" in lines
    assert not any("黑榜" in x for x in lines)                         # fewer than 4 villages
    en = overview.alerts(conn, Q1, target=0.9, lang="en")
    assert any("no representative visits" in x and "C村" in x for x in en)


def test_overview_alert_on_a_sharp_drop(fx):
    from dashboard.queries import overview
    conn, _ = fx
    lines = overview.alerts(conn, quarter(2025, 2), target=0.9)   # A: a6 open (0 of 1) after 4 of 8
    assert "有1个村（社区）纠纷化解率环比下降超过10个百分点：A村（−50.0个百分点）。" in lines


def test_changes_table(fx):
    from dashboard.queries import overview
    conn, _ = fx
    r = metrics.with_changes(conn, Q1)
    t = overview.changes_table(r, ["disputes_total", "resolution_rate", "rep_visits"], "zh")
    assert list(t.columns) == ["指标", "本期", "上期", "环比", "去年同期", "同比"]
    assert t.values.tolist() == [
        ["受理纠纷（件）", "12", "1", "+1,100.0%", "0", "—"],
        ["化解率（%）", "58.3%", "0.0%", "+58.3个百分点", "—", "—"],
        ["走访记录（次）", "3", "1", "+200.0%", "0", "—"]]
    e = overview.changes_table(r, ["resolution_rate"], "en", export=True)
    assert e.values.tolist()[0][1:3] == [58.33, 0.0] and e.values.tolist()[0][3] == 58.3
