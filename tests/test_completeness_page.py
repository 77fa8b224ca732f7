"""The 报送情况 page, the overview's sentence, the deck's slide and the upload page's 零报告 box
in AppTest on the demo township (its December 2025: 20 zero reports, 5 reports missing)."""
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.db import schema as S
from dashboard.db.engine import get_engine
from dashboard.queries import completeness as C
from dashboard.ui import nav
from loaders import spec

THREE = ("disputes", "volunteers", "visits")
K = len(spec.LEDGER_KINDS)   # a ledger kind added later joins the board (and its counts)

ADMIN = {"username": "test-admin", "role": "admin", "village_ids": None, "display_name": "test"}
MISSING = ["- 3 个村（社区）未报送 2025年12月矛盾纠纷台账：红旗村、建设村、胜利村。",
           "- 1 个村（社区）未报送 2025年12月志愿服务台账：石桥村。",
           "- 1 个村（社区）未报送 2025年12月代表走访台账：马鞍村。"]


def page(path, user=ADMIN, lang="zh"):
    at = AppTest.from_file(str(nav.ROOT / path), default_timeout=120)
    at.session_state["user"] = user
    at.session_state["lang"] = lang
    return at.run()


def bullets(at):
    return [m.value for m in at.markdown if m.value.startswith("- ")]


def test_the_board_opens_on_december_2025_with_the_missing_and_late_reports(demo_env):
    at = page("pages/completeness.py")
    assert not at.exception
    assert at.selectbox(key="cp_month").value == "2025-12" and at.selectbox(key="cp_span").value == 6
    assert at.markdown[0].value.startswith(f"2025年12月（截止 2026\\-01\\-05）：27 个村（社区）× {K} 类台账，")
    with get_engine(demo_env).connect() as c:
        counts = C.month_doc(c, "2025-12")["counts"]
    assert {k: (counts[k]["reported"], counts[k]["zero"], counts[k]["missing"]) for k in THREE} == {
        "disputes": (15, 9, 3), "volunteers": (26, 0, 1), "visits": (15, 11, 1)}
    assert bullets(at)[:3] == MISSING
    board = at.dataframe[0].value
    assert board.shape == (27, 1 + K * 6)
    red = board.set_index("村（社区）").loc["红旗村"]
    assert red["矛盾纠纷 2025年12月"] == "✖" and red["志愿服务 2025年12月"] == "✔"
    reminder = at.code[0].value.splitlines()
    assert reminder[0] == "关于报送2025年12月台账的提醒（截止 2026-01-05）"
    if K == 3:
        assert [r.split("：")[0] for r in reminder[2:7]] == ["红旗村", "建设村", "胜利村", "石桥村", "马鞍村"]
    assert reminder[2] == ("红旗村：请尽快报送2025年12月矛盾纠纷台账；本月确无新增的，请在“数据上传”页报送零报告。"
                           if K == 3 else reminder[2])
    assert len(at.get("download_button")) == 2


def test_another_month_and_span_and_english(demo_env):
    at = page("pages/completeness.py")
    at.selectbox(key="cp_month").set_value("2025-06")
    at.selectbox(key="cp_span").set_value(1)
    at.run()
    assert not at.exception
    assert at.dataframe[0].value.shape == (27, 1 + K)
    if K == 3:
        assert bullets(at) == ["- 2025年6月各村（社区）台账全部报送（其中零报告 29 个）。"]
    en = page("pages/completeness.py", lang="en")
    assert not en.exception and en.title[0].value == "Reporting"
    assert bullets(en)[0] == ("- 3 villages have not reported their Dec 2025 dispute ledger\\: "
                              "红旗村\\, 建设村\\, 胜利村\\.")   # Markdown-escaped


def test_the_overview_says_who_has_not_reported(demo_env):
    at = page("pages/overview.py")
    assert not at.exception
    got = bullets(at)
    assert got[got.index(MISSING[0]):][:3] == MISSING


def test_the_deck_has_a_reporting_slide(demo_url):
    from dashboard import periods
    from dashboard.report import build_deck
    with get_engine(demo_url).connect() as c:
        deck = build_deck(c, periods.quarter(2025, 4), None, "zh", 0.9, with_map=False)
    s = deck.slide("completeness")
    assert (s.title, s.subtitle) == ("台账报送情况", "2025年12月")
    assert s.lines[0].startswith(f"2025年12月（截止 2026-01-05）：27 个村（社区）× {K} 类台账，")
    assert s.table.columns[:5] == ["序号", "村（社区）", "矛盾纠纷台账", "志愿服务台账", "代表走访台账"]
    rows = {r[1]: r[2:5] for r in s.table.rows}
    assert rows["红旗村"] == ["未报送", "已报送", "已报送"] and rows["马鞍村"][2] == "未报送"
    assert rows["东湖社区"] == ["已报送", "已报送", "零报告（迟报）"]
    if K == 3:
        assert [r[1] for r in s.table.rows] == ["东湖社区", "红旗村", "建设村", "胜利村", "石桥村", "杨家村",
                                               "马鞍村", "双溪村"]   # a missing or a late ledger
        assert [s.table.rows[i][1] for i in s.table.highlight] == ["红旗村", "建设村", "胜利村", "石桥村", "马鞍村"]


def test_a_clerk_files_a_zero_report_on_the_upload_page(demo_copy_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_copy_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    eng = get_engine(demo_copy_url)
    with eng.connect() as c:
        red = c.execute(sa.select(S.village.c.id).where(S.village.c.name == "红旗村")).scalar_one()
    clerk = {"username": "clerk", "role": "clerk", "village_ids": [red], "display_name": "文书"}
    at = page("pages/upload.py", clerk)
    assert not at.exception
    assert at.selectbox(key="zero_village").options == ["红旗村"]   # their own village only
    at.selectbox(key="zero_kind").set_value("disputes")
    at.selectbox(key="zero_month").set_value("2025-12")
    at.button(key="zero_go").click().run()
    assert not at.exception
    assert [s.value for s in at.success][-1].startswith("已报送 红旗村 2025年12月矛盾纠纷台账零报告（批次 ")
    at.button(key="zero_go").click().run()       # the same again: refused with the reason
    assert "已经报送过了" in at.error[-1].value
    at.selectbox(key="zero_kind").set_value("volunteers")
    at.button(key="zero_go").click().run()       # 红旗村 has volunteer rows in December 2025
    assert "已有" in at.error[-1].value and "志愿服务台账记录" in at.error[-1].value
    board = page("pages/completeness.py").dataframe[0].value.set_index("村（社区）")
    assert board.loc["红旗村", "矛盾纠纷 2025年12月"] == "○（迟）"   # filed today, after 2026-01-05


def test_upload_page_asks_before_rows_replace_a_zero_report(engine, monkeypatch):
    import loaders
    from dashboard import uploads
    from loaders import zero as Z
    villages = "村（社区）名称,区划代码,类型\n红旗村,360121105201,村\n"
    assert loaders.import_file(engine, villages.encode(), "v.csv").ok
    uploads.file_zero_report(engine, "disputes", "红旗村", "2025-06", username="wen")
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = page("pages/upload.py")
    data = "纠纷编号,村(社区),类别,排查日期,当事人数,状态\nHQ-9,红旗村,邻里纠纷,2025-06-12,2,已受理\n".encode()
    at.file_uploader(key="up_file").set_value(("hq.csv", data, "text/csv"))
    at.run()
    assert not at.exception
    assert at.warning[-1].value == ("这份文件有 1 行落在已报送零报告的月份：红旗村 2025年6月（1 行）。零报告是报错了吗？")
    assert at.button(key="up_go").disabled
    [box] = [c for c in at.checkbox if c.key.startswith("up_zero_ok_")]
    box.check().run()
    assert not at.button(key="up_go").disabled
    at.button(key="up_go").click().run()
    assert not at.exception and any("导入完成" in s.value for s in at.success)
    with engine.connect() as c:
        vid = c.execute(sa.select(S.village.c.id)).scalar_one()
        assert Z.existing(c, "disputes", vid, "2025-06") is None
        assert C.month_doc(c, "2025-06")["villages"]["红旗村"]["disputes"] == "reported"
