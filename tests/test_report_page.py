"""pages/meeting.py under AppTest: slides move with 上一页/下一页, presenting hides the page furniture,
options survive presenting, the figures are the registry's."""
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import fmt, metrics, periods
from dashboard.db.engine import get_engine
from dashboard.ui import nav

PAGE = str(nav.ROOT / "pages" / "meeting.py")


@pytest.fixture
def app(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["meeting_opts"] = {"preparer": "", "orientation": "landscape", "with_map": False}
    return at.run()


def _html(at) -> str:
    return "\n".join(str(h.proto.body) for h in at.get("html"))


def test_opens_on_the_title_slide_of_the_latest_quarter(app):
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == "会议汇报"
    assert "青山镇基层治理工作汇报" in _html(app) and "2025年第4季度" in _html(app)
    assert [b.label for b in app.button] == ["开始演示", "上一页", "下一页"]
    assert app.button(key="meeting_prev").disabled


def test_next_and_previous(app, demo_url):
    app.button(key="meeting_next").click().run()
    assert app.session_state["meeting_slide"] == 1
    with get_engine(demo_url).connect() as conn:
        tw = metrics.compute(conn, periods.quarter(2025, 4))["township"]
    page = _html(app)
    assert "主要指标" in page and fmt.pct(tw["resolution_rate"]) in page
    app.button(key="meeting_next").click().run()
    assert app.session_state["meeting_slide"] == 2 and "矛盾纠纷化解" in _html(app)
    app.button(key="meeting_prev").click().run()
    assert app.session_state["meeting_slide"] == 1
    assert not app.exception


def test_last_slide_disables_next(app):
    for _ in range(8):
        app.button(key="meeting_next").click().run()
    assert app.button(key="meeting_next").disabled
    assert "文字简报" in _html(app) and "本季度共受理矛盾纠纷" in _html(app)


def test_presenting_hides_sidebar_and_title_and_keeps_options(app):
    app.text_input[0].set_value("李明").run()
    app.button(key="meeting_start").click().run()
    assert not app.exception
    assert app.session_state["meeting_presenting"] is True
    assert len(app.title) == 0
    assert 'data-testid="stSidebar"' in _html(app)          # the CSS that hides it
    assert [b.label for b in app.button] == ["退出演示", "上一页", "下一页"]
    app.button(key="meeting_next").click().run()
    assert app.session_state["meeting_slide"] == 1
    app.button(key="meeting_exit").click().run()
    assert app.title[0].value == "会议汇报" and app.text_input[0].value == "李明"


def test_english(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["lang"] = "en"
    at.session_state["meeting_opts"] = {"preparer": "", "orientation": "landscape", "with_map": False}
    at.run()
    assert not at.exception and at.title[0].value == "Meeting"
    assert [b.label for b in at.button] == ["Start presenting", "Previous", "Next"]


def test_download_buttons(app):
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["PPTX 幻灯片", "PDF 报告", "离线 HTML", "排名表（Excel）", "排名表（CSV）"]
