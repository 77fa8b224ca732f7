"""The period and village selection travels: across pages, into the meeting deck and the briefing,
and through the URL (?period=…&villages=<codes>), and sentences name what was chosen."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_
from streamlit.testing.v1 import AppTest

from dashboard import i18n, periods
from dashboard.ui import common
from dashboard.ui import meeting as mt
from dashboard.ui import nav

pytestmark = pytest.mark.usefixtures("fresh_cache")

DONGHU = "东湖社区"      # the demo's first village: id 1, code 360121105001
DONGHU_CODE = "360121105001"


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def _selection(at) -> tuple:
    return at.radio(key="period_kind").value, at.selectbox(key="period_year").value, \
        list(at.multiselect(key="villages").value)


def _html(at) -> str:
    return "\n".join(str(h.proto.body) for h in at.get("html"))


def test_year_and_one_village_travel_to_disputes_and_the_meeting_deck(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=90).run()
    _ok(at)
    at.radio(key="period_kind").set_value("year").run()
    at.selectbox(key="period_year").set_value("2025").run()
    at.multiselect(key="villages").select(DONGHU).run()
    _ok(at)
    assert dict(at.query_params) == {"period": "2025", "villages": DONGHU_CODE}
    alerts = [m.value for m in at.markdown]
    assert not any("全镇" in a for a in alerts), alerts

    at.switch_page("pages/disputes.py").run()
    _ok(at)
    assert at.title[0].value == "矛盾纠纷"
    assert _selection(at) == ("year", "2025", [DONGHU])
    assert "2025年" in at.caption[0].value

    at.switch_page("pages/meeting.py").run()
    _ok(at)
    assert _selection(at) == ("year", "2025", [DONGHU])
    cover = _html(at)
    assert f"统计范围：{DONGHU}" in cover and "全部村（社区）" not in cover
    for i in range(1, 30):                               # on to the 文字简报 slide
        at.session_state[mt.SLIDE] = i
        at.run()
        _ok(at)
        brief = _html(at)
        if "<h2>文字简报" in brief:
            break
    assert f"{DONGHU}：本年度共受理矛盾纠纷" in brief, brief
    assert "全镇" not in brief

    at.switch_page("pages/overview.py").run()            # and back: still the same
    _ok(at)
    assert _selection(at) == ("year", "2025", [DONGHU])


def test_a_link_with_the_query_string_opens_exactly_that(demo_env):
    at = AppTest.from_file(str(nav.ROOT / "pages/disputes.py"), default_timeout=90)
    at.query_params["period"] = "2025"
    at.query_params["villages"] = f"{DONGHU_CODE},6"     # a code and an id (红旗村)
    at.run()
    _ok(at)
    assert at.radio(key="period_kind").value == "year"
    assert at.selectbox(key="period_year").value == "2025"
    assert list(at.multiselect(key="villages").value) == [DONGHU, "红旗村"]


@pytest.mark.parametrize("value, kind, want", [
    ("2025-10", "month", "2025-10"), ("2025Q3", "quarter", "2025Q3"),
    ("2024-03-01..2025-02-28", "custom", None)])
def test_each_kind_of_period_from_the_url(demo_env, value, kind, want):
    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=90)
    at.query_params["period"] = value
    at.run()
    _ok(at)
    assert at.radio(key="period_kind").value == kind
    if want:
        assert at.selectbox(key=f"period_{kind}").value == want
    else:
        assert at.date_input(key="period_from").value == date(2024, 3, 1)
        assert at.date_input(key="period_to").value == date(2025, 2, 28)
    assert at.query_params["period"] == [value] or at.query_params["period"] == value


@pytest.mark.parametrize("value", ["", "abc", "2025Q9", "1900", "2025-13", "9999-99-99..x", "..", "Q"])
def test_a_bad_period_in_the_url_falls_back_to_the_default(demo_env, value):
    at = AppTest.from_file(str(nav.ROOT / "pages/overview.py"), default_timeout=90)
    at.query_params["period"] = value
    at.query_params["villages"] = "nonsense,,999999"
    at.run()
    _ok(at)
    assert at.radio(key="period_kind").value == "quarter"
    assert at.selectbox(key="period_quarter").value == "2025Q4"
    assert list(at.multiselect(key="villages").value) == []


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st_.text(max_size=40))
def test_url_parsers_never_raise(raw):
    p = common.period_from_url(raw)
    assert p is None or p.start <= p.end
    villages = [{"id": 1, "code": DONGHU_CODE}, {"id": 2, "code": None}]
    ids = common.villages_from_url(raw, villages)
    assert ids is None or set(ids) <= {1, 2}


def test_url_names_villages_by_code_or_id():
    villages = [{"id": 1, "code": DONGHU_CODE}, {"id": 2, "code": None}]
    assert common.village_tokens((1, 2), villages) == f"{DONGHU_CODE},2"
    assert common.villages_from_url(f"{DONGHU_CODE},2", villages) == (1, 2)
    assert common.period_from_url("2025-05-31..2025-01-01") == periods.Period(date(2025, 1, 1),
                                                                              date(2025, 5, 31))


def test_scope_word():
    names = {1: DONGHU, 2: "青山社区"}
    assert i18n.scope(None, names) == "全镇"
    assert i18n.scope((1,), names) == DONGHU
    assert i18n.scope((1, 2), names) == "所选村（社区）"
    assert i18n.scope((1, 2), names, "en") == "selected villages"


def test_alerts_speak_of_the_chosen_villages(demo_engine):
    from dashboard.queries import overview
    with demo_engine.connect() as c:
        every = overview.alerts(c, periods.year(2025), None, 0.5, "zh")
        two = overview.alerts(c, periods.year(2025), (1, 2), 0.5, "zh")
        one = overview.alerts(c, periods.year(2025), (1,), 0.5, "zh")
    assert any(s.startswith("全镇纠纷化解率") for s in every), every
    assert any(s.startswith("所选村（社区）纠纷化解率") for s in two), two
    assert any(s.startswith(f"{DONGHU}纠纷化解率") for s in one), one
    assert not any("全镇" in s for s in two + one)
