"""In real Chromium: a link with ?period=…&villages=… opens exactly that selection, the sidebar keeps
it from page to page, bookmarked page paths open their page (after login where it is on), and the
Chinese UI shows none of Streamlit's English (uploader, "Page not found", toolbars)."""
from __future__ import annotations

import re

DONGHU_CODE = "360121105001"

# Visible text nodes and title/aria-label/placeholder/data-title attributes holding Latin words,
# icons (Material ligatures) left out.
ENGLISH_JS = """() => { const out = [];
 const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
 for (let n = w.nextNode(); n; n = w.nextNode()) {
   const p = n.parentElement;
   if (!p || p.closest('script,style,[data-testid=stIconMaterial]')) continue;
   const s = n.nodeValue.trim(); if (!/[A-Za-z]{2,}/.test(s)) continue;
   const r = p.getBoundingClientRect(); if (!r.width || !r.height) continue;
   out.push(s); }
 for (const el of document.querySelectorAll('[title],[aria-label],[placeholder],[data-title]'))
   for (const a of ['title', 'aria-label', 'placeholder', 'data-title']) {
     const v = el.getAttribute(a); if (v && /[A-Za-z]{2,}/.test(v)) out.push(v); }
 return [...new Set(out)]; }"""
# Latin that belongs in a Chinese UI: the language switch, file formats, units, our settings' names
ALLOWED = re.compile(r"^(语言 / Language|English|.*(?<![A-Za-z])(CSV|XLSX?|XLSM|TXT|GEOJSON|JSON|ZIP|PDF|PPTX|"
                     r"HTML|PNG|Excel|Shapefile|MB|DASHBOARD_\w+)(?![A-Za-z]).*)$", re.I)


def _english(page) -> list[str]:
    return [s for s in page.evaluate(ENGLISH_JS) if not ALLOWED.match(s)]


def _sidebar(page):
    return page.locator('section[data-testid="stSidebar"]')


def _chips(page) -> list[str]:
    """The village filter's chips, once it has drawn one (the sidebar may draw after the heading
    on a loaded machine); [] if none comes within 20 s."""
    tags = _sidebar(page).locator('[data-testid="stMultiSelectTagsContainer"] [data-tag]')
    try:
        tags.first.wait_for(timeout=20_000)
    except Exception:       # playwright's TimeoutError: no chip at all
        return []
    return [tags.nth(i).get_attribute("aria-label") for i in range(tags.count())]


def _wait_heading(page, name: str):
    page.get_by_role("heading", name=name).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def test_link_opens_the_selection_and_the_sidebar_keeps_it(demo_url, streamlit_server, browser_page):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    page.goto(f"{server.url}/disputes?period=2025&villages={DONGHU_CODE}", wait_until="domcontentloaded")
    _wait_heading(page, "矛盾纠纷")
    side = _sidebar(page)
    assert side.get_by_role("radio", name="年度").is_checked()
    caption = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text()
    assert caption.startswith("2025年") and "季度" not in caption, caption
    assert _chips(page) == ["东湖社区"]
    assert "period=2025" in page.url and f"villages={DONGHU_CODE}" in page.url

    page.locator('[data-testid="stSidebarNav"]').get_by_text("会议汇报", exact=True).click()
    _wait_heading(page, "会议汇报")
    assert "/meeting" in page.url and "period=2025" in page.url and f"villages={DONGHU_CODE}" in page.url
    assert side.get_by_role("radio", name="年度").is_checked() and _chips(page) == ["东湖社区"]
    assert "统计范围：东湖社区" in page.inner_text("body")

    page.locator('[data-testid="stSidebarNav"]').get_by_text("总览", exact=True).click()
    _wait_heading(page, "总览")
    assert "/overview" in page.url and _chips(page) == ["东湖社区"]
    body = page.inner_text("body")
    assert "全镇纠纷化解率" not in body
    assert _english(page) == []


def test_bookmarked_paths_open_their_page_in_chinese(demo_url, streamlit_server, browser_page):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    for path, heading in (("/overview", "总览"), ("/overview?period=2025-03", "总览"), ("/", "总览"),
                          ("/visits", "代表走访")):
        page.goto(server.url + path, wait_until="domcontentloaded")
        _wait_heading(page, heading)
        page.wait_for_timeout(1500)
        body = page.inner_text("body")
        assert "Page not found" not in body and "页面不存在" not in body, path
    assert "period=2025-03" not in page.url     # a new session: the last link's own selection
    page.goto(server.url + "/overview?period=2025-03", wait_until="domcontentloaded")
    _wait_heading(page, "总览")
    assert "2025年3月" in page.inner_text("body")
    # an unknown path: Streamlit's dialog, in Chinese
    page.goto(server.url + "/nosuch", wait_until="domcontentloaded")
    page.get_by_text("页面不存在").first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert "Page not found" not in body and "Running the app" not in body


def test_deep_link_after_login_and_the_uploader_in_chinese(demo_url, streamlit_server, browser_page):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "on"})
    page = browser_page
    page.goto(f"{server.url}/disputes?period=2025", wait_until="domcontentloaded")
    page.get_by_role("textbox", name="密码").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    assert "Page not found" not in page.inner_text("body") and "矛盾纠纷" not in page.inner_text("body")
    page.get_by_role("textbox", name="用户名").fill("admin")
    page.get_by_role("textbox", name="密码").fill("demo-admin-2024")
    page.get_by_role("button", name="登录").click()
    _wait_heading(page, "矛盾纠纷")                     # the bookmarked page, with its period
    assert "/disputes" in page.url and "period=2025" in page.url
    assert _sidebar(page).get_by_role("radio", name="年度").is_checked()
    page.locator(".js-plotly-plot").first.hover()
    page.wait_for_timeout(500)
    assert _english(page) == []

    page.locator('[data-testid="stSidebarNav"]').get_by_text("数据上传", exact=True).click()
    _wait_heading(page, "数据上传")
    drop = page.locator('[data-testid="stFileUploaderDropzone"]').first
    drop.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    text = drop.inner_text()
    assert "选择文件" in text and "单个文件不超过 50MB" in text, text
    assert "Upload" not in text and "per file" not in text
    assert _english(page) == []
