"""A deep link straight to a page never shows it to someone without a session.

Streamlit runs ``pages/<name>.py`` named by the URL directly on a session's first
request, without app.py's gate; every page therefore gates itself too.
"""


def test_deep_links_show_only_the_login_form(engine, db_url, streamlit_server, browser_page):
    server = streamlit_server(db_url, {"DASHBOARD_AUTH": "on"})
    page = browser_page
    for path in ("/overview", "/meeting", "/admin", "/upload", "/disputes", "/map"):
        page.goto(server.url + path, wait_until="domcontentloaded")
        page.get_by_text("密码").first.wait_for(timeout=60_000)
        page.wait_for_timeout(800)
        body = page.inner_text("body")
        for leaked in ("主要指标", "统计期间", "审计日志", "上传历史", "会议汇报"):
            assert leaked not in body, (path, leaked)


def test_deep_link_opens_its_page_through_app(demo_url, streamlit_server, browser_page):
    """Run through app.py: translated navigation, language switch, and the page the link named."""
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    page.goto(server.url + "/disputes", wait_until="domcontentloaded")
    page.get_by_text("语言 / Language").first.wait_for(timeout=60_000)
    page.get_by_role("heading", name="矛盾纠纷").first.wait_for(timeout=60_000)
    assert "/disputes" in page.url
    assert page.get_by_text("网格地图").count() >= 1  # the translated navigation, not file names
