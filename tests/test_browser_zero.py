"""零报告 in a real Chromium: the demo clerk (红旗村) files December 2025's dispute zero report from
the 数据上传 page, and the 报送情况 board no longer lists 红旗村 as missing."""
import pytest

pytestmark = pytest.mark.browser
BEFORE = "3 个村（社区）未报送 2025年12月矛盾纠纷台账：红旗村、建设村、胜利村。"
AFTER = "2 个村（社区）未报送 2025年12月矛盾纠纷台账：建设村、胜利村。"


def login(page, url):
    page.goto(url + "/", wait_until="domcontentloaded")
    page.get_by_label("用户名").wait_for(timeout=90_000)
    page.get_by_label("用户名").fill("clerk")
    page.get_by_label("密码", exact=True).fill("demo-clerk-2024")
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="报送情况").wait_for(timeout=90_000)


def open_board(page):
    page.get_by_role("link", name="报送情况").click()
    page.locator(".st-key-cp_month").wait_for(timeout=90_000)


def pick(page, key, text):
    box = page.locator(f".st-key-{key} input")
    box.click()
    box.fill(text)
    page.get_by_role("option", name=text).wait_for(timeout=60_000)
    box.press("Enter")
    page.wait_for_function(  # the choice shows in the box (as its text or the input's value)
        f"() => {{ const e = document.querySelector('.st-key-{key}'); const i = e.querySelector('input');"
        f" return e.innerText.includes({text!r}) || (i && i.value.includes({text!r})); }}",
        timeout=60_000)


def test_a_clerk_files_a_zero_report_and_the_board_changes(demo_copy_url, streamlit_server, browser_page,
                                                          tmp_path):
    server = streamlit_server(demo_copy_url, {"DASHBOARD_AUTH": "on"})
    page = browser_page
    login(page, server.url)
    open_board(page)
    page.get_by_text(BEFORE).wait_for(timeout=90_000)
    page.get_by_text("红旗村：请尽快报送2025年12月矛盾纠纷台账").wait_for(timeout=90_000)   # the reminder

    page.get_by_role("link", name="数据上传").click()
    page.get_by_text("本月无新增（零报告）").click()
    page.locator(".st-key-zero_month").wait_for(timeout=90_000)
    pick(page, "zero_kind", "矛盾纠纷台账")
    pick(page, "zero_month", "2025年12月")
    page.screenshot(path=str(tmp_path / "upload_zero.png"))
    page.locator(".st-key-zero_go button").click()
    page.get_by_text("已报送 红旗村 2025年12月矛盾纠纷台账零报告").wait_for(timeout=90_000)

    open_board(page)
    page.get_by_text(AFTER).wait_for(timeout=90_000)
    page.get_by_text("建设村：请尽快报送2025年12月矛盾纠纷台账").wait_for(timeout=90_000)
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)
    body = page.inner_text("body")
    assert BEFORE not in body and "红旗村：请尽快报送2025年12月矛盾纠纷台账" not in body
    assert page.external_requests == []
