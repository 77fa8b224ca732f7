"""In real Chromium at a laptop (1366×768) and a projector (1920×1080): the KPI cards' 环比 text is
shown whole (wrapped, never cut off by an ellipsis) and the custom period's two date fields show
their whole date in the sidebar."""
from __future__ import annotations

import pytest

SIZES = [(1366, 768), (1920, 1080)]

# Elements whose text is wider than their box (cut off): scrollWidth beyond clientWidth.
CUT_JS = """sel => [...document.querySelectorAll(sel)].filter(e => e.getBoundingClientRect().width)
  .map(e => [e.innerText || e.value, e.scrollWidth, e.clientWidth]).filter(r => r[1] > r[2] + 1)"""
# A date input's value drawn at the input's font, against the room inside its padding.
DATE_JS = """() => [...document.querySelectorAll('section[data-testid="stSidebar"] [data-testid="stDateInput"] input')]
  .map(i => { const s = getComputedStyle(i), c = document.createElement('canvas').getContext('2d');
    c.font = `${s.fontSize} ${s.fontFamily}`;
    return [i.value, c.measureText(i.value).width,
            i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)]; })"""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kpi_changes_and_custom_dates_are_shown_whole(size, demo_url, streamlit_server, browser_page, tmp_path):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{server.url}/disputes?period=2025-10-01..2025-12-31", wait_until="domcontentloaded")
    page.locator('[data-testid="stMetricDelta"]').first.wait_for(timeout=60_000)
    page.locator('section[data-testid="stSidebar"] [data-testid="stDateInput"] input').first.wait_for()
    page.wait_for_timeout(2000)
    page.screenshot(path=str(tmp_path / f"polish-{size[0]}.png"), full_page=True)
    assert page.locator('[data-testid="stMetricDelta"]').count() >= 6
    assert page.evaluate(CUT_JS, '[data-testid="stMetricDelta"], [data-testid="stMetricDelta"] *') == []
    dates = page.evaluate(DATE_JS)
    assert [d[0] for d in dates] == ["2025-10-01", "2025-12-31"], dates
    assert all(text <= room for _, text, room in dates), dates
