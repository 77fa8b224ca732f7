"""The 数据上传 page in a real Chromium: undo acts once per confirmation, on the batch that was
confirmed, and a second tab that finds its batch already undone is refused with a message."""
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard import auth
from dashboard.db import schema as S
from dashboard.db.engine import write_txn

pytestmark = pytest.mark.browser
D = Path(__file__).resolve().parent / "data" / "loaders"
PW = "correct-horse-battery"


@pytest.fixture
def two_batches(engine):
    for f in ("villages.csv", "grids.geojson"):
        assert loaders.import_file(engine, (D / f).read_bytes(), f).ok
    first = loaders.import_file(engine, (D / "visits.csv").read_bytes(), "visits.csv", username="wen")
    second = loaders.import_file(engine, (D / "disputes_utf8_bom.csv").read_bytes(), "q1.csv",
                                 username="wen")
    assert first.written and second.written
    with write_txn(engine) as c:
        auth.create_user(c, "root", PW, "admin")
    return engine, first.batch_id, second.batch_id


def states(engine) -> dict[int, str]:
    with engine.connect() as c:
        return dict(c.execute(sa.select(S.import_batch.c.id, S.import_batch.c.state)).all())


def open_upload(page, url):
    page.goto(url + "/", wait_until="domcontentloaded")
    link = page.get_by_role("link", name="数据上传")
    form = page.get_by_label("用户名")
    link.or_(form).first.wait_for(timeout=90_000)
    if not link.count():   # a second tab of a browser already logged in (the cookie) skips the form
        form.fill("root")
        page.get_by_label("密码", exact=True).fill(PW)
        page.get_by_role("button", name="登录").click()
    link.click()
    try:
        page.locator(".st-key-up_undo_pick").wait_for(timeout=90_000)
    except Exception:
        raise AssertionError(page.inner_text("body")[:2000])


def pick_and_confirm(page, bid):
    box = page.locator(".st-key-up_undo_pick input")
    box.click()
    box.fill(f"批次 {bid}｜")
    page.get_by_role("option", name=f"批次 {bid}｜").wait_for(timeout=60_000)
    box.press("Enter")      # the one option left by the filter (a click races its re-rendering list)
    box = page.locator(f".st-key-up_undo_sure_{bid}")
    box.wait_for(timeout=60_000)
    box.locator("label").click()
    page.wait_for_function(
        f"() => document.querySelector('.st-key-up_undo_sure_{bid} input').checked", timeout=60_000)
    page.wait_for_timeout(500)


def test_undo_twice_in_one_tab_and_across_two_tabs(two_batches, streamlit_server, browser_page):
    engine, first, second = two_batches
    server = streamlit_server(engine.url.render_as_string(hide_password=False),
                              {"DASHBOARD_AUTH": "on"})
    a = browser_page
    b = a.context.new_page()
    open_upload(a, server.url)
    open_upload(b, server.url)
    pick_and_confirm(a, second)             # tab A confirms batch `second` and waits
    pick_and_confirm(b, second)             # tab B confirms it too and undoes it
    b.locator(f".st-key-up_undo_go_{second} button").click()
    b.get_by_text(f"已撤销批次 {second}").wait_for(timeout=60_000)
    assert states(engine) == {1: "applied", 2: "applied", first: "applied", second: "undone"}
    # tab B: the choice and the tick are gone, no undo button is left to press again
    b.locator(f".st-key-up_undo_go_{second}").wait_for(state="detached", timeout=30_000)
    assert b.locator("[class*='st-key-up_undo_sure_']").count() == 0
    chosen = b.locator(".st-key-up_undo_pick").inner_text()
    assert "批次 " not in chosen.replace("选择要撤销的批次", ""), chosen   # the selector moved nowhere
    # tab A presses the undo it confirmed before: refused, and no other batch is touched
    a.locator(f".st-key-up_undo_go_{second} button").click()
    a.get_by_text(f"没有撤销：批次 {second} 已经撤销过了。").wait_for(timeout=60_000)
    assert states(engine) == {1: "applied", 2: "applied", first: "applied", second: "undone"}
    assert a.locator("[class*='st-key-up_undo_go_']").count() == 0
    assert a.external_requests == []


DIS = ("纠纷编号,村(社区),类别,排查日期,当事人数,状态\n"
       "HQ-1,红旗村,邻里纠纷,2024-01-05,2,已受理\n"
       "HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n"
       "HQ-3,红旗村,婚姻家庭,2024-02-01,2,已受理\n")


def cases(engine) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(sa.select(S.dispute.c.case_no, S.dispute.c.parties)).all())


def grid_text(page, text):
    """Wait until a dataframe (cells on a canvas; its accessible table carries the text) shows text."""
    page.wait_for_function(
        "t => Array.from(document.querySelectorAll('[data-testid=\"stDataFrame\"] td, "
        "[data-testid=\"stDataFrame\"] [role=gridcell]')).some(c => c.textContent.trim() === t)",
        arg=text, timeout=60_000)


def test_diff_preview_old_to_new_remove_missing_and_undo(engine, streamlit_server, browser_page,
                                                         tmp_path):
    for f in ("villages.csv", "grids.geojson"):
        assert loaders.import_file(engine, (D / f).read_bytes(), f).ok
    assert loaders.import_file(engine, DIS.encode(), "q1.csv").inserted == 3
    with write_txn(engine) as c:
        auth.create_user(c, "root", PW, "admin")
    server = streamlit_server(engine.url.render_as_string(hide_password=False), {"DASHBOARD_AUTH": "on"})
    page = browser_page
    open_upload(page, server.url)
    corrected = tmp_path / "q1.csv"     # HQ-2 deleted, HQ-3's parties 2 → 3
    corrected.write_text(DIS.replace("HQ-2,红旗村,土地流转,2024-01-07,2,已受理\n", "")
                         .replace("2024-02-01,2,", "2024-02-01,3,"), encoding="utf-8")
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(corrected))
    page.get_by_text("与库里数据的差异").wait_for(timeout=90_000)
    grid_text(page, "当事人数")                                 # the changed cell, old → new
    grid_text(page, "HQ-3")
    page.get_by_text("有 1 行不在这个文件里").wait_for(timeout=60_000)
    grid_text(page, "土地流转")                                 # the missing row, listed
    page.get_by_text("删除（文件是完整台账，这些行已作废）").click()
    page.wait_for_timeout(1500)
    page.locator(".st-key-up_go button").click()
    page.get_by_text("已删除文件中不再有的 1 行").wait_for(timeout=60_000)
    assert cases(engine) == {"HQ-1": 2, "HQ-3": 3}
    assert page.locator(".st-key-up_go button").is_disabled()   # the file is in: no second import
    with engine.connect() as c:
        bid = c.execute(sa.select(sa.func.max(S.import_batch.c.id))).scalar()
    pick_and_confirm(page, bid)
    page.locator(f".st-key-up_undo_go_{bid} button").click()
    page.get_by_text(f"已撤销批次 {bid}").wait_for(timeout=60_000)
    assert cases(engine) == {"HQ-1": 2, "HQ-2": 2, "HQ-3": 2}
    assert page.external_requests == []
