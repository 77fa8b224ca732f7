"""The meeting deck and its 文字简报: every figure is the metric registry's (SQLite and PostgreSQL)."""
import re
from datetime import date

import pytest

from dashboard import fmt, metrics, periods
from dashboard.db.engine import get_engine
from dashboard.queries import overview, summary
from dashboard.report import briefing, build_deck
from dashboard.report.briefing import below_average
from dashboard.report.build import slices

Q = periods.quarter(2025, 3)
KINDS = ["title", "kpis", "disputes", "volunteers", "visits", "map", "ranking", "supervision",
         "completeness", "alerts", "briefing"]


@pytest.fixture(scope="module")
def conn(demo_url):
    with get_engine(demo_url).connect() as c:
        yield c


@pytest.fixture(scope="module")
def deck(conn):
    return build_deck(conn, Q, None, "zh", 0.9, preparer="张三", with_map=False)


def test_slides_in_meeting_order(deck):
    assert [s.kind for s in deck.slides] == KINDS
    assert deck.township == "青山镇" and deck.period_label == "2025年第3季度"
    assert deck.unit == "青山镇人民政府" and deck.preparer == "张三"


def test_title_slide_names_period_as_of_and_filters(conn, deck):
    text = "\n".join(deck.slide("title").lines)
    assert "2025-07-01" in text and "2025-09-30" in text
    assert "数据截至" in text and re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text)
    assert "全部村（社区）" in text
    ids = [v["id"] for v in summary.villages(conn)][:2]
    names = [v["name"] for v in summary.villages(conn)][:2]
    one = build_deck(conn, Q, ids, "zh", 0.9, with_map=False)
    assert all(n in "\n".join(one.slide("title").lines) for n in names)


def test_kpis_are_the_registry_headline_with_changes(conn, deck):
    r = metrics.with_changes(conn, Q, None)
    kp = deck.slide("kpis").kpis
    assert [k.key for k in kp] == list(metrics.HEADLINE)
    for k in kp:
        assert k.value == r["township"][k.key]
        assert k.mom == r["mom"][k.key] and k.yoy == r["yoy"][k.key]
        assert k.text == fmt.value(r["township"][k.key], metrics.METRICS[k.key].kind)


def test_trend_charts_are_the_registry_month_by_month(conn, deck):
    months = [periods.month(2025, m) for m in (7, 8, 9)]
    per = [metrics.compute(conn, p)["township"] for p in months]
    d = deck.slide("disputes").charts[0]
    assert d.categories == ["7月", "8月", "9月"]
    assert d.series[0].values == [p["disputes_total"] for p in per]
    assert d.series[1].values == [p["disputes_resolved_in_period"] for p in per]   # issue 12: 本期办结
    assert [s.metric for s in d.series] == ["disputes_total", "disputes_resolved_in_period"]
    v = deck.slide("visits").charts[0]
    assert v.series[0].values == [p["rep_visits"] for p in per]
    assert deck.slide("volunteers").charts[0].series[0].values == [p["volunteer_hours"] for p in per]


def test_shares_add_up_to_registry_totals(deck):
    tw = deck.values["township"]
    levels = deck.slide("disputes").charts[1].series[0].values
    assert sum(levels) == tw["disputes_resolved"] and levels[0] == tw["resolved_at_grid"]
    sugg = deck.slide("visits").charts[1].series[0].values
    assert sum(sugg) == tw["suggestions_collected"] and sugg[0] == tw["issues_resolved"]


def test_ranking_follows_the_governance_index_with_registry_figures(conn, deck):
    from dashboard.queries import ranking
    df = ranking.index(conn, Q, None)
    tb = deck.slide("ranking").table
    assert tb.columns[:3] == ["排名", "村（社区）", "综合指数"]
    assert [r[1] for r in tb.rows] == df["village"].tolist()
    assert [r[2] for r in tb.rows] == [fmt.num(v, 1) for v in df["index"]]
    r = metrics.compute(conn, Q)["villages"]
    col = tb.columns.index("化解率（%）")
    for row, vid in zip(tb.rows, df["village_id"]):
        assert row[col] == fmt.pct(r[vid]["resolution_rate"])
    low = [i for i, vid in enumerate(df["village_id"])
           if r[vid]["resolution_rate"] is not None and r[vid]["resolution_rate"] < 0.9]
    assert tb.highlight == low


def test_alerts_are_the_overview_alerts(conn, deck):
    assert deck.slide("alerts").lines == overview.alerts(conn, Q, None, 0.9, "zh")


def _allowed_numbers(conn, period, village_ids=None):
    r = metrics.with_changes(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    ok = {str(metrics.OVERDUE_DAYS)}
    for k, v in r["township"].items():
        if v is not None:
            ok |= {fmt.num(v), fmt.num(v, 1), fmt.pct(v)}
    for which in ("mom", "yoy"):
        for k, c in r[which].items():
            if c is not None:
                ok |= {f"{abs(c) * 100:.1f}", fmt.pct(abs(c))}
    for m in r["villages"].values():
        if m["resolution_rate"] is not None:
            ok.add(fmt.pct(m["resolution_rate"]))
            ok.add(fmt.num(m["disputes_total"]))       # a rate beside its count
    ok.add(str(len(below_average(r, names))))
    # villages without visits / volunteer activities, counted in the briefing's 等N个
    for key in ("rep_visits", "volunteer_activities"):
        ok.add(str(sum(1 for m in r["villages"].values() if not m[key])))
    ok.add(str(sum(1 for m in r["villages"].values() if not m["rep_visits"] or not m["volunteer_activities"])))
    return r, ok


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?%?")


@pytest.mark.parametrize("period", [Q, periods.month(2025, 11), periods.year(2025),
                                    periods.Period(date(2025, 2, 10), date(2025, 5, 20))],
                         ids=["quarter", "month", "year", "custom"])
def test_every_number_in_the_briefing_comes_from_the_registry(conn, period):
    text = briefing(conn, period, None, "zh")
    _, ok = _allowed_numbers(conn, period)
    found = NUMBER.findall(text)
    assert found, text
    assert [n for n in found if n not in ok] == [], text


def test_briefing_reads_like_the_template(conn):
    r = metrics.with_changes(conn, Q)
    tw = r["township"]
    text = briefing(conn, Q, None, "zh")
    assert text.startswith(f"本季度共受理矛盾纠纷{fmt.num(tw['disputes_total'])}件，"
                           f"化解{fmt.num(tw['disputes_resolved'])}件，化解率{fmt.pct(tw['resolution_rate'])}，"
                           f"较上季度")
    mom = r["mom"]["resolution_rate"]
    assert f"较上季度{'上升' if mom > 0 else '下降'}{abs(mom) * 100:.1f}个百分点" in text
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    # 2025Q3: every village below the average has fewer than SMALL_N cases: none is named
    assert below_average(r, names) == [] and "化解率低于全镇平均" not in text
    y = periods.year(2025)
    ry = metrics.with_changes(conn, y)
    worst = below_average(ry, names)[0]
    cases = {names[v]: m["disputes_total"] for v, m in ry["villages"].items()}[worst[0]]
    assert f"{worst[0]}（{fmt.pct(worst[1])}，{cases}件）" in briefing(conn, y, None, "zh")
    assert "志愿服务活动" in text and "两代表一委员" in text


def test_briefing_for_chosen_villages_and_in_english(conn):
    ids = [v["id"] for v in summary.villages(conn)][:3]
    text = briefing(conn, Q, ids, "zh")
    _, ok = _allowed_numbers(conn, Q, ids)
    assert all(n in ok for n in NUMBER.findall(text)), text
    en = briefing(conn, Q, None, "en")
    assert en.startswith("This quarter, ") and "percentage points" in en
    assert not re.search(r"[\u4e00-\u9fff]", en.split(";")[0])   # Chinese only in village names


def test_empty_period_says_so_and_invents_nothing(conn):
    p = periods.quarter(2020, 1)
    text = briefing(conn, p, None, "zh")
    assert "本季度未受理矛盾纠纷" in text and "未开展志愿服务活动" in text
    deck = build_deck(conn, p, None, "zh", 0.9, with_map=False)
    assert deck.slide("kpis").kpis[2].text == fmt.NONE      # resolution rate undefined, not 0%


def test_long_custom_period_slices_by_quarter():
    p = periods.Period(date(2022, 1, 1), date(2025, 12, 31))
    s = slices(p)
    assert len(s) == 16 and s[0] == periods.quarter(2022, 1)
    assert slices(periods.Period(date(2025, 1, 15), date(2025, 3, 10)))[0].start == date(2025, 1, 15)


def test_map_is_optional(deck):
    m = deck.slide("map").map
    assert m.png is None and m.note


def test_ranking_frame_for_excel_holds_registry_numbers(deck):
    from dashboard.report import ranking_frame
    df = ranking_frame(deck)
    assert df.index.name == "排名" and list(df.index) == list(range(1, len(df) + 1))
    by_name = {deck.village_names[i]: m for i, m in enumerate(deck.values["villages"].values())}
    for name, row in df.set_index("村（社区）").iterrows():
        m = by_name[name]
        assert row["受理纠纷（件）"] == m["disputes_total"]
        rate = m["resolution_rate"]
        assert (row["化解率（%）"] != row["化解率（%）"]) if rate is None else row["化解率（%）"] == round(rate * 100, 1)


def test_empty_database_still_makes_every_export(engine):
    from io import BytesIO

    from pptx import Presentation
    from pypdf import PdfReader

    from dashboard.report import to_html, to_pdf, to_pptx
    with engine.connect() as conn:
        d = build_deck(conn, Q, None, "zh", 0.9, with_map=False)
    assert [s.kind for s in d.slides] == KINDS
    assert len(Presentation(BytesIO(to_pptx(d))).slides) == len(KINDS)
    assert len(PdfReader(BytesIO(to_pdf(d, "portrait"))).pages) == len(KINDS)
    assert to_html(d).count('<section class="slide') == len(KINDS)


def test_deferred_map_is_added_to_a_copy(conn, deck):
    from dashboard.report import MapImage, with_map_image
    lazy = build_deck(conn, Q, None, "zh", 0.9, preparer="张三", defer_map=True)
    assert [s.kind for s in lazy.slides] == KINDS and lazy.slide("map").map is None
    assert lazy.slide("ranking").table.rows == deck.slide("ranking").table.rows
    img = MapImage(png=b"\x89PNG-not-really", html="<p>map</p>", note="说明")
    full = with_map_image(lazy, img)
    assert full.slide("map").map is img and lazy.slide("map").map is None     # the cached deck is untouched
    assert [s.kind for s in full.slides] == KINDS
    assert full.slide("kpis") is lazy.slide("kpis") and full.values is lazy.values
