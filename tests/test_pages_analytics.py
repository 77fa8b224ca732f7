"""AppTest of the analytics pages on the demo township, with the filters changed.

The figures on the cards are checked against the registry for the same filters, so a page can
never show a number the command line would not print.
"""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import export, fmt, metrics, periods
from dashboard.queries import summary
from dashboard.ui import nav

PAGES = ["disputes", "volunteers", "visits", "village"]


pytestmark = pytest.mark.usefixtures("fresh_cache")


def _app(page: str, lang: str = "zh") -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / f"pages/{page}.py"), default_timeout=90)
    at.session_state["lang"] = lang
    return at


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _cards(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _registry(engine, period, ids=None):
    with engine.connect() as c:
        return metrics.compute(c, period, ids)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_runs_with_charts_and_downloads(demo_env, page, lang):
    at = _app(page, lang).run()
    _ok(at)
    assert at.title[0].value == {"zh": {"disputes": "矛盾纠纷", "volunteers": "志愿服务", "visits": "代表走访",
                                        "village": "村庄画像"},
                                 "en": {"disputes": "Disputes", "volunteers": "Volunteers",
                                        "visits": "Representative visits",
                                        "village": "Village profile"}}[lang][page]
    charts_ = at.get("plotly_chart")
    downloads = at.get("download_button")
    assert len(charts_) >= 2 and len(downloads) >= 3
    for c in charts_:   # offline: our config is passed, nothing names a CDN
        spec = json.loads(c.proto.spec)
        assert "geo" not in spec.get("layout", {})
        assert json.loads(c.proto.config)["displaylogo"] is False


def test_disputes_cards_match_registry_and_follow_filters(demo_env, demo_engine):
    at = _app("disputes").run()
    _ok(at)
    assert at.selectbox(key="period_quarter").value == "2025Q4"
    q4 = _registry(demo_engine, periods.quarter(2025, 4))["township"]
    cards = _cards(at)
    assert cards["受理纠纷"] == fmt.num(q4["disputes_total"])
    assert cards["化解率"] == fmt.pct(q4["resolution_rate"])
    assert cards["化解用时中位数"] == fmt.num(q4["median_days_to_resolve"], 1)

    at.radio(key="period_kind").set_value("year").run()
    _ok(at)
    y = _registry(demo_engine, periods.parse("year", at.selectbox(key="period_year").value))["township"]
    assert _cards(at)["受理纠纷"] == fmt.num(y["disputes_total"])

    at.radio(key="period_kind").set_value("month").run()
    _ok(at)
    m = periods.parse("month", at.selectbox(key="period_month").value)
    assert _cards(at)["化解率"] == fmt.pct(_registry(demo_engine, m)["township"]["resolution_rate"])

    with demo_engine.connect() as c:
        vs = {v["name"]: v["id"] for v in summary.villages(c)}
    at.multiselect(key="villages").select("马鞍村").select("红旗村").run()
    _ok(at)
    two = _registry(demo_engine, m, [vs["马鞍村"], vs["红旗村"]])["township"]
    assert _cards(at)["受理纠纷"] == fmt.num(two["disputes_total"])


def test_disputes_custom_period_and_target(demo_env, demo_engine):
    from datetime import date
    at = _app("disputes").run()
    at.radio(key="period_kind").set_value("custom").run()
    at.date_input(key="period_from").set_value(date(2024, 3, 1)).run()
    at.date_input(key="period_to").set_value(date(2025, 2, 28)).run()
    _ok(at)
    p = periods.Period(date(2024, 3, 1), date(2025, 2, 28))
    assert _cards(at)["受理纠纷"] == fmt.num(_registry(demo_engine, p)["township"]["disputes_total"])
    # no page-local target box: the targets file (dashboard/targets.py) draws the line and the
    # bars' lights, as on the cards and tables (the box moved the line only)
    assert not at.number_input
    spec = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert 0.9 in [s.get("y0") for s in spec["layout"]["shapes"]]


def test_overdue_list_never_shows_names(demo_env, demo_engine):
    at = _app("disputes").run()
    _ok(at)
    frames = at.dataframe
    assert frames, "the overdue table is shown for the demo's latest quarter"
    overdue = frames[-1].value
    assert "案件编号" in overdue.columns
    with demo_engine.connect() as c:
        mediators = {r[0] for r in c.exec_driver_sql("SELECT DISTINCT mediator FROM dispute")}
    text = overdue.to_csv()
    assert not any(name and name in text for name in mediators)


def test_volunteers_and_visits_follow_village_filter(demo_env, demo_engine):
    with demo_engine.connect() as c:
        vs = {v["name"]: v["id"] for v in summary.villages(c)}
    q4 = periods.quarter(2025, 4)
    at = _app("volunteers").run()
    _ok(at)
    assert _cards(at)["志愿服务时长"] == fmt.num(_registry(demo_engine, q4)["township"]["volunteer_hours"], 1)
    at.multiselect(key="villages").select("枫林村").run()
    _ok(at)
    one = _registry(demo_engine, q4, [vs["枫林村"]])["township"]
    assert _cards(at)["志愿服务时长"] == fmt.num(one["volunteer_hours"], 1)

    at = _app("visits").run()
    _ok(at)
    assert _cards(at)["走访记录"] == fmt.num(_registry(demo_engine, q4)["township"]["rep_visits"])
    at.radio(key="period_kind").set_value("year").run()
    at.multiselect(key="villages").select("东湖社区").run()
    _ok(at)
    y = periods.parse("year", at.selectbox(key="period_year").value)
    assert _cards(at)["意见建议解决率"] == fmt.pct(
        _registry(demo_engine, y, [vs["东湖社区"]])["township"]["suggestion_resolution_rate"])


def test_village_page_reads_query_param_and_switches(demo_env, demo_engine):
    with demo_engine.connect() as c:
        vs = {v["name"]: v["id"] for v in summary.villages(c)}
    at = _app("village")
    at.query_params["village"] = str(vs["马鞍村"])
    at.run()
    _ok(at)
    assert at.selectbox(key="village_pick").value == vs["马鞍村"]
    assert "马鞍村" in at.subheader[0].value
    q4 = periods.quarter(2025, 4)
    mine = _registry(demo_engine, q4)["villages"][vs["马鞍村"]]
    assert _cards(at)["化解率"] == fmt.pct(mine["resolution_rate"])

    at.selectbox(key="village_pick").set_value(vs["红旗村"]).run()
    _ok(at)
    assert "红旗村" in at.subheader[0].value
    assert at.query_params["village"] in (str(vs["红旗村"]), [str(vs["红旗村"])])
    at.radio(key="period_kind").set_value("year").run()
    _ok(at)


def test_village_page_ignores_a_bad_query_param(demo_env):
    at = _app("village")
    at.query_params["village"] = "not-a-village"
    at.run()
    _ok(at)
    assert at.selectbox(key="village_pick").value is not None


@pytest.mark.parametrize("page", PAGES + ["overview"])
def test_pages_on_an_empty_database(engine, db_url, monkeypatch, page):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = _app(page).run()
    _ok(at)


def test_pages_on_the_hand_built_fixture(engine, db_url, monkeypatch):
    """A tiny township (3 villages, one without anything) renders every page, in a month with no rows."""
    from test_metrics import seed
    from dashboard.db.engine import bump_version
    seed(engine)
    with engine.begin() as c:   # as every writer of the app does: the caches key on the version
        bump_version(c)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    for page in PAGES + ["overview"]:
        at = _app(page).run()
        _ok(at)
        at.radio(key="period_kind").set_value("month").run()
        _ok(at)
        at.selectbox(key="period_month").set_value("2025-01").run()
        _ok(at)
    at = _app("disputes").run()
    at.radio(key="period_kind").set_value("quarter").run()
    at.selectbox(key="period_quarter").set_value("2025Q1").run()
    _ok(at)
    cards = _cards(at)
    assert cards["受理纠纷"] == "12" and cards["化解率"] == "58.3%" and cards["化解用时中位数"] == "5.0"
    assert cards["超期未化解"] == "2"


def test_a_long_case_list_shows_its_oldest_and_downloads_all(engine, db_url, monkeypatch, downloads):
    """The 督办 list on screen stops at settings.LIST_ON_SCREEN (a county's runs to six figures)
    and says so; its count is the registry's and the download holds every case."""
    import csv
    import io
    import pandas as pd
    from test_metrics import seed
    from dashboard import fmt, settings
    from dashboard.db.engine import bump_version
    from dashboard.queries import disputes
    seed(engine)
    with engine.begin() as c:
        bump_version(c)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    monkeypatch.setattr(settings, "LIST_ON_SCREEN", 1)
    at = _app("disputes")
    at.session_state["period_kind"] = "quarter"
    at.run()
    at.selectbox(key="period_quarter").set_value("2025Q1").run()
    _ok(at)
    assert _cards(at)["超期未化解"] == "2"
    assert any("督办清单" in s.value and "2件" in s.value for s in at.subheader)
    cols = list(fmt.frame(pd.DataFrame(columns=disputes.SUPERVISION_COLUMNS), disputes.OVERDUE_SPEC,
                          "zh").columns)
    shown = [d.value for d in at.dataframe if list(d.value.columns) == cols]
    assert len(shown) == 1 and len(shown[0]) == 1
    assert "屏幕上显示前 1 条，共 2 条" in " ".join(c.value for c in at.caption)
    files = [d for n, d in downloads if n and n.startswith("disputes_overdue_2025-01-01")]
    rows = list(csv.reader(io.StringIO(files[-1].decode("utf-8-sig"))))
    assert len(rows) == 1 + 2 and rows[0] == cols


def test_overview_shows_red_and_black_lists(demo_env, demo_engine):
    from dashboard.queries import ranking
    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=90).run()
    _ok(at)
    md = " ".join(m.value for m in at.markdown)
    with demo_engine.connect() as c:
        idx = ranking.index(c, periods.quarter(2025, 4))
    red, black = ranking.red_black(idx, 5)
    # villages with fewer than SMALL_N disputes are on neither list: 7 villages remain in 2025Q4
    assert len(red) == 3 and f"红榜（前{len(red)}名）" in md and f"黑榜（后{len(black)}名）" in md
    tables = [d.value for d in at.dataframe]
    red_shown = next(t for t in tables if "综合指数" in t.columns and len(t) == len(red))
    assert "化解率达标" in red_shown.columns and "受理纠纷（件）" in red_shown.columns
    assert list(red_shown["村（社区）"]) == list(red["village"])
    assert any("黑榜" in m.value and black["village"].iloc[0] in m.value for m in at.markdown)
    assert any(e.label == "综合指数的构成与权重" for e in at.expander)


def test_analytics_pages_in_chromium_draw_charts_offline(demo_url, streamlit_server, browser_page):
    """The four pages in a real browser: plotly draws every chart, nothing leaves localhost."""
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.get_by_text("化解率", exact=True).first.wait_for(timeout=60_000)
    for title, charts_min in (("矛盾纠纷", 6), ("志愿服务", 5), ("代表走访", 5), ("村庄画像", 3)):
        page.get_by_role("link", name=title).first.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {charts_min}",
                               timeout=60_000)
        assert page.get_by_text("下载数据（CSV）").count() >= 3
    assert page.external_requests == [], page.external_requests


def test_csv_downloads_are_made_when_asked_for_with_export_formats():
    import pandas as pd

    from dashboard.ui import widgets as w
    calls = []

    class Frame(pd.DataFrame):       # records every column read: nothing happens before the call
        def __getitem__(self, key):
            calls.append(key)
            return super().__getitem__(key)

    df = Frame({"name": ["红旗村", "马鞍村"], "resolution_rate": [0.91234, None], "disputes_total": [12, 3]})
    spec = [("name", "overview.col_village", "text"), ("resolution_rate", "resolution_rate", None),
            ("disputes_total", "disputes_total", None)]
    make = w.csv_data(df, spec, "zh")
    assert calls == []
    data = make()
    assert data.startswith("\ufeff".encode()) and data == export.table_to_csv(fmt.frame(df, spec, "zh", export=True))
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "村（社区）,化解率（%）,受理纠纷（件）"
    assert lines[1:] == ["红旗村,91.2,12", "马鞍村,,3"]
    assert w.csv_data(df)() == export.table_to_csv(df)
