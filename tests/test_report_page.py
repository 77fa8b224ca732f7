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
    for _ in range(11):  # 11 deck slides (督办 and 报送情况 included), the ranking of 27 villages on two screens
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
    assert labels == ["PPTX 幻灯片", "PDF 报告", "离线 HTML", "排名表（Excel）", "排名表（CSV）", "一页纸（A4 PDF）"]


def _png() -> bytes:
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 40), "#b22222").save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def fake_map(monkeypatch):
    """report.map_image replaced by a recorder (a real map needs seconds of headless Chromium)."""
    import streamlit as st

    from dashboard import report
    st.cache_data.clear()
    calls, png = [], _png()

    def fake(conn, period, village_ids, lang, with_map=True, layers=None):
        assert (layers is not None) == with_map and (layers is None or layers["metric"] == "resolution_rate")
        calls.append((period, village_ids, lang, with_map))
        return report.MapImage(png=png if with_map else None, html="<p>测试地图</p>" if with_map else None,
                               note="测试地图说明")
    monkeypatch.setattr(report, "map_image", fake)
    yield calls, png
    st.cache_data.clear()


def test_the_map_is_drawn_only_when_its_slide_is_shown(demo_url, monkeypatch, fake_map):
    calls, _ = fake_map
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["meeting_opts"] = {"preparer": "", "orientation": "landscape", "with_map": True}
    at.run()
    assert not at.exception and calls == []            # opening the page never waits for the map
    for _ in range(5):
        at.button(key="meeting_next").click().run()
    assert at.session_state["meeting_slide"] == 5 and "网格地图" in _html(at)
    assert calls == [(periods.quarter(2025, 4), None, "zh", True)]
    assert len(at.get("image")) == 1 and "测试地图说明" in str(at.get("image")[0].proto)
    at.button(key="meeting_next").click().run()
    at.button(key="meeting_prev").click().run()
    assert at.session_state["meeting_slide"] == 5 and len(calls) == 1   # cached
    assert not at.exception


def test_report_files_are_made_when_asked_for_with_the_map(demo_url, monkeypatch, fake_map):
    import io

    from pptx import Presentation
    from pptx.enum.shapes import MSO_SHAPE_TYPE
    from pypdf import PdfReader

    from dashboard.report import build_deck
    from dashboard.ui import common as ui
    from dashboard.ui import meeting as mt
    calls, png = fake_map
    monkeypatch.setenv("DATABASE_URL", demo_url)
    q = periods.quarter(2025, 4)
    with get_engine(demo_url).connect() as conn:
        d = build_deck(conn, q, None, "zh", 0.9, preparer="李明", defer_map=True)
    make = mt.files(d, {"preparer": "李明", "orientation": "portrait", "with_map": True}, ui.Filters(q, None))
    assert sorted(make) == ["csv", "html", "onepage", "pdf", "pptx", "xlsx"] and calls == []
    kinds = [s.kind for s in d.slides]

    title = d.slide("map").title

    prs = Presentation(io.BytesIO(make["pptx"]()))
    [slide] = [s for s in prs.slides if any(sh.has_text_frame and title in sh.text_frame.text
                                            for sh in s.shapes)]
    pics = [sh for sh in slide.shapes if sh.shape_type == MSO_SHAPE_TYPE.PICTURE]
    assert len(pics) == 1 and pics[0].image.blob == png

    pdf = PdfReader(io.BytesIO(make["pdf"]()))
    assert len(pdf.pages) >= len(kinds)
    assert [len(p.images) for p in pdf.pages if "测试地图说明" in p.extract_text()] == [1]
    box = pdf.pages[0].mediabox
    assert box.height > box.width                        # the orientation chosen on the page

    page = make["html"]().decode("utf-8")
    assert "测试地图说明" in page and "srcdoc=\"&lt;p&gt;测试地图&lt;/p&gt;\"" in page
    assert make["xlsx"]()[:2] == b"PK"
    assert "排名" in make["csv"]().decode("utf-8-sig")
    assert len(PdfReader(io.BytesIO(make["onepage"]())).pages) == 1   # no map on the one page
    assert calls == [(q, None, "zh", True)]               # drawn once, shared by the three files
    assert d.slide("map").map is None                    # the (cached) deck itself is unchanged
