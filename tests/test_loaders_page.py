"""The 数据上传 page through Streamlit's AppTest: a good file, a bad file, history and undo."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

import loaders
from dashboard.db import schema as S
from dashboard.queries.summary import counts

ROOT = Path(__file__).resolve().parent.parent
D = ROOT / "tests" / "data" / "loaders"
PAGE = str(ROOT / "pages" / "upload.py")


@pytest.fixture
def site(engine, monkeypatch):
    for f in ("villages.csv", "grids.geojson"):
        assert loaders.import_file(engine, (D / f).read_bytes(), f).ok
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    with engine.connect() as c:
        ids = dict(c.execute(sa.select(S.village.c.name, S.village.c.id)).all())
    return engine, ids


def page(user: dict, lang: str = "zh") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["lang"] = lang
    at.session_state["user"] = user
    return at.run()


ADMIN = {"username": "root", "role": "admin", "village_ids": None, "display_name": ""}


def ok(at):
    assert not at.exception, [e.value for e in at.exception]


def upload(at: AppTest, name: str, data: bytes | None = None) -> AppTest:
    at.file_uploader(key="up_file").set_value((name, data if data is not None else (D / name).read_bytes(),
                                               "text/csv"))
    return at.run()


def test_page_without_file(site):
    at = page(ADMIN)
    ok(at)
    assert at.title[0].value == "数据上传"
    kinds = at.selectbox(key="up_kind").options
    assert kinds[0] == "自动识别" and "村（社区）名册" in kinds
    assert any("模板" in b.label for b in at.get("download_button"))
    assert len(at.dataframe) == 1  # the upload history (two registry batches)


def test_good_file_preview_then_import(site):
    engine, _ = site
    at = upload(page(ADMIN), "disputes_utf8_bom.csv")
    ok(at)
    assert any("检查通过" in s.value and "新增 5 行" in s.value for s in at.success)
    assert any("utf-8-sig" in c.value for c in at.caption)
    with engine.connect() as c:
        assert counts(c)["disputes"] == 0   # the preview writes nothing
    at.button(key="up_go").click()
    at = at.run()
    ok(at)
    assert any("导入完成" in s.value for s in at.success)
    with engine.connect() as c:
        assert counts(c)["disputes"] == 5


def test_bad_file_lists_every_problem(site):
    engine, _ = site
    at = upload(page(ADMIN), "disputes_errors.csv")
    ok(at)
    assert any("14 个问题" in e.value and "12 行" in e.value for e in at.error)
    table = [d for d in at.dataframe if "问题与改法" in d.value.columns][0].value
    assert list(table["行号"])[:3] == [2, 3, 4]
    assert any(b.label == "下载问题清单（CSV）" for b in at.get("download_button"))
    assert "up_go" not in [b.key for b in at.button]
    with engine.connect() as c:
        assert counts(c)["disputes"] == 0


def test_refused_file_and_english(site):
    at = upload(page(ADMIN, lang="en"), "junk.csv", bytes(range(256)) * 10)
    ok(at)
    assert any("cannot be imported" in e.value for e in at.error)


def test_clerk_sees_own_village_and_ledgers_only(site):
    engine, ids = site
    clerk = {"username": "wen", "role": "clerk", "village_ids": {ids["红旗村"]}, "display_name": ""}
    at = page(clerk)
    ok(at)
    assert "村（社区）名册" not in at.selectbox(key="up_kind").options
    assert at.selectbox(key="up_village").options == ["红旗村"]
    at = upload(at, "disputes_gbk_title_footer.csv")
    assert any("新增 4 行" in s.value for s in at.success)
    at.button(key="up_go").click()
    at = at.run()
    ok(at)
    with engine.connect() as c:
        assert counts(c)["disputes"] == 4
    at = upload(page(clerk), "disputes_utf8_bom.csv")   # another village's rows: refused
    assert any("5 行" in e.value for e in at.error)


def test_undo_from_history(site):
    engine, _ = site
    res = loaders.import_file(engine, (D / "visits.csv").read_bytes(), "visits.csv")
    at = page(ADMIN)
    at.selectbox(key="up_undo_pick").set_value(res.batch_id)
    at = at.run()
    at.checkbox(key=f"up_undo_sure_{res.batch_id}").check()
    submit = [b for b in at.button if b.label == f"撤销批次 {res.batch_id}"][0]
    submit.click()
    at = at.run()
    ok(at)
    assert any("已撤销批次" in s.value for s in at.success)
    with engine.connect() as c:
        assert counts(c)["representative_visits"] == 0


def test_undo_names_the_batch_and_needs_its_own_confirmation_every_time(site):
    engine, _ = site
    first = loaders.import_file(engine, (D / "visits.csv").read_bytes(), "visits.csv", username="wen")
    second = loaders.import_file(engine, (D / "disputes_utf8_bom.csv").read_bytes(), "q1.csv",
                                 username="wen")
    at = page(ADMIN)
    pick = at.selectbox(key="up_undo_pick")
    assert pick.value is None                                        # nothing chosen for the clerk
    label = pick.format_func(second.batch_id)
    assert label.startswith(f"批次 {second.batch_id}｜") and "｜矛盾纠纷台账｜多个村（社区）｜" in label and "｜q1.csv｜" in label
    assert f"新增 {second.inserted} 行、更新 0 行｜wen" in label
    pick.set_value(second.batch_id)
    at = at.run()
    assert any("将撤销批次" in i.value and r"q1\.csv" in i.value and "wen" in i.value for i in at.info)
    at.button(key=f"up_undo_go_{second.batch_id}").click()            # no tick: refused, said why
    at = at.run()
    ok(at)
    assert any("请先勾选" in w.value for w in at.warning)
    with engine.connect() as c:
        assert counts(c)["disputes"] == second.inserted
    at.checkbox(key=f"up_undo_sure_{second.batch_id}").check()
    at.button(key=f"up_undo_go_{second.batch_id}").click()
    at = at.run()
    ok(at)
    assert any(f"已撤销批次 {second.batch_id}" in s.value for s in at.success)
    # reset: nothing chosen, no confirmation left, no button that could undo the next batch
    assert at.selectbox(key="up_undo_pick").value is None
    assert not [c for c in at.checkbox if c.key.startswith("up_undo_sure_")]
    assert not [b for b in at.button if b.key.startswith("up_undo_go_")]
    at = at.run()
    with engine.connect() as c:
        assert counts(c)["disputes"] == 0 and counts(c)["representative_visits"] == first.inserted
        states = dict(c.execute(sa.select(S.import_batch.c.id, S.import_batch.c.state)).all())
    assert states[first.batch_id] == "applied" and states[second.batch_id] == "undone"


def test_unmatched_column_mapped_by_hand(site):
    data = "单号,村（社区）,纠纷类型,登记日期,化解状态\nQ-1,红旗村,邻里纠纷,2024-03-05,已受理\n".encode()
    at = page(ADMIN)
    at.selectbox(key="up_kind").set_value("disputes")
    at = upload(at, "manual.csv", data)
    ok(at)
    box = [s for s in at.selectbox if s.label == "单号"][0]
    box.set_value("case_no")
    at = at.run()
    ok(at)
    preview = [d.value for d in at.dataframe if "案件编号" in d.value.columns][0]
    assert preview["案件编号"].tolist() == ["Q-1"]
    assert any("新增 1 行" in s.value for s in at.success)


def test_a_mapping_made_by_hand_is_remembered_for_the_next_file(site):
    engine, _ = site
    head = "单号,村（社区）,纠纷类型,登记日期,化解状态\n"
    at = page(ADMIN)
    at.selectbox(key="up_kind").set_value("disputes")
    at = upload(at, "march.csv", (head + "Q-1,红旗村,邻里纠纷,2024-03-05,已受理\n").encode())
    [s for s in at.selectbox if s.label == "单号"][0].set_value("case_no")
    at = at.run()
    at.button(key="up_go").click()
    at = at.run()
    ok(at)
    # next month, a new session: the same headers map themselves, and it says so
    at = page(ADMIN)
    at.selectbox(key="up_kind").set_value("disputes")
    at = upload(at, "april.csv", (head + "Q-2,红旗村,土地流转,2024-04-02,已受理\n").encode())
    ok(at)
    assert any("沿用上次" in i.value for i in at.info)
    assert [s for s in at.selectbox if s.label == "单号"][0].value == "case_no"   # shown, changeable
    preview = [d.value for d in at.dataframe if "案件编号" in d.value.columns][0]
    assert preview["案件编号"].tolist() == ["Q-2"]
    at.button(key="up_go").click()
    at = at.run()
    with engine.connect() as c:
        assert sorted(c.execute(sa.select(S.dispute.c.case_no)).scalars()) == ["Q-1", "Q-2"]


def test_the_page_speaks_to_a_clerk_and_asks_the_coordinate_system_only_for_boundaries(site):
    _, ids = site
    clerk = {"username": "wen", "role": "clerk", "village_ids": {ids["红旗村"]}, "display_name": ""}
    at = page(clerk)
    ok(at)
    text = " ".join(c.value for c in at.caption)
    assert "矛盾纠纷、志愿服务、代表走访" in text
    assert "名册" not in text and "网格边界" not in text and "Shapefile" not in text
    assert "up_coord" not in [s.key for s in at.selectbox]
    at = upload(at, "disputes_gbk_title_footer.csv")
    assert "up_coord" not in [s.key for s in at.selectbox]
    admin = page(ADMIN)
    assert "up_coord" not in [s.key for s in admin.selectbox]       # a ledger: no coordinates asked
    admin.selectbox(key="up_kind").set_value("grids")
    admin = admin.run()
    assert "up_coord" in [s.key for s in admin.selectbox]


def test_a_workbook_is_not_said_to_have_an_encoding(site):
    at = upload(page(ADMIN), "visits_named_sheet.xlsx")
    ok(at)
    cap = [c.value for c in at.caption if c.value.startswith("识别结果")]
    assert cap and "Excel 工作簿" in cap[0] and "编码" not in cap[0]


def test_a_batchs_rows_are_shown_with_a_download(site):
    engine, _ = site
    res = loaders.import_file(engine, (D / "visits.csv").read_bytes(), "visits.csv")
    at = page(ADMIN)
    at.selectbox(key="up_batch_view").set_value(res.batch_id)
    at = at.run()
    ok(at)
    rows = [d.value for d in at.dataframe if "变更" in d.value.columns][0]
    assert len(rows) == res.inserted and set(rows["变更"]) == {"新增"}
    assert any(b.label == f"下载批次 {res.batch_id} 的行（CSV）" for b in at.get("download_button"))


def test_categories_outside_the_vocabulary_are_listed_for_the_clerk(site):
    engine, _ = site
    data = ("纠纷编号,村(社区),类别,排查日期,当事人数,状态\n"
            "HQ-1,红旗村,婚姻家庭,2024-01-05,2,已受理\nHQ-2,红旗村,鸡毛蒜皮,2024-01-07,2,已受理\n").encode()
    at = upload(page(ADMIN), "c.csv", data)
    ok(at)
    box = [s for s in at.selectbox if s.label == "“鸡毛蒜皮”（1 行）"][0]
    box.set_value("其他")
    at = at.run()
    ok(at)
    at.button(key="up_go").click()
    at = at.run()
    with engine.connect() as c:
        got = dict(c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.category)).all())
    assert got == {"HQ-1": "婚姻家庭矛盾", "HQ-2": "其他"}


def test_the_preview_shows_the_bad_cells(site):
    from dashboard.ui import upload as up
    at = upload(page(ADMIN), "disputes_errors.csv")
    ok(at)
    res = loaders.import_file(site[0], (D / "disputes_errors.csv").read_bytes(), "disputes_errors.csv",
                              dry_run=True)
    bad = up.bad_cells(res, "zh")
    first = res.errors[0]
    assert bad.iloc[0]["行号"] == str(first["row"])
    assert bad.iloc[0][first["column"]] == (str(first["value"]) or "（空）")
    shown = [d.value for d in at.dataframe if list(d.value.columns) == list(bad.columns)]
    assert shown and shown[0].equals(bad)


def test_a_workbook_of_several_sheets_offers_the_sheet_choice(site):
    """Notes sheet + Q1 + Q2 (two cases each): by default both quarters are read and the notes
    sheet is listed as skipped; choosing Q2 alone previews and imports its 2 rows only."""
    from tests.test_loaders_workbooks import HEAD, NOTES, quarter_rows, xlsx_book
    engine, _ = site
    book = xlsx_book([("填写说明", NOTES), ("一季度", [HEAD, *quarter_rows(1)]),
                      ("二季度", [HEAD, *quarter_rows(2)])])
    at = upload(page(ADMIN), "quarters.xlsx", book)
    ok(at)
    box = at.multiselect(key="up_sheets")
    assert box.options == ["填写说明（跳过：说明或选项表，不是数据）", "一季度", "二季度"]
    assert box.value == ["一季度", "二季度"]
    assert any("新增 4 行" in s.value for s in at.success)
    assert any("一季度" in i.value and "二季度" in i.value for i in at.info)
    assert any("填写说明" in i.value for i in at.info)   # skipped, with the reason
    box.set_value(["二季度"])
    at = at.run()
    ok(at)
    assert at.multiselect(key="up_sheets").value == ["二季度"]
    assert any("新增 2 行" in s.value for s in at.success)
    assert [i.value for i in at.info] == ["读取了工作表：二季度。"]   # the caption follows the choice
    at.button(key="up_go").click()
    at = at.run()
    ok(at)
    assert any("导入完成" in s.value for s in at.success)
    with engine.connect() as c:
        assert counts(c)["disputes"] == 2
        assert sorted(c.execute(sa.select(S.dispute.c.case_no)).scalars()) == \
            ["HQ-2024-21", "HQ-2024-22"]
