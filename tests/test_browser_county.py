"""In Chromium: a township leader of one township cannot reach the other's data by URL
(?villages=<other code>, ?township=<other code>, deep links to other pages) or by the filter;
a county leader's click on a township of the county map opens that township's overview."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from dashboard import auth
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from test_auth_web import PW, browser_login
from test_county_intake import load_a, load_b

pytestmark = pytest.mark.browser
A, B = "360121105000", "360121106000"
WARNING = "链接或筛选指向您权限以外的乡镇（街道）或村（社区），已忽略并记录。"


def card(page, label="受理纠纷") -> str:
    box = page.locator('[data-testid="stMetric"]', has_text=label).first
    try:
        box.wait_for(timeout=90_000)
    except Exception:
        page.screenshot(path="/tmp/x/fail.png")
        raise
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_township_leader_cannot_reach_the_other_township(engine, streamlit_server, browser_page):
    load_a(engine)
    load_b(engine)
    with write_txn(engine) as c:
        tid = dict(c.execute(sa.select(S.township.c.code, S.township.c.id)).all())
        auth.create_user(c, "lead_a", PW, "leader", township_ids=[tid[A]])
    url = engine.url.render_as_string(hide_password=False)
    server = streamlit_server(url, {"DASHBOARD_AUTH": "on", "DASHBOARD_SESSION_MINUTES": "30"})
    page = browser_page
    browser_login(page, server.url + "/overview?period=2024", "lead_a")
    page.goto(server.url + "/overview?period=2024", wait_until="domcontentloaded")
    assert card(page) == "5"                                    # township A: 5 disputes in 2024
    assert page.get_by_text("乡镇（街道）", exact=True).count() == 0   # no township selector

    for path, label, value in (
            ("/overview?period=2024&villages=360121106202", "受理纠纷", "5"),
            ("/overview?period=2024&township=" + B, "受理纠纷", "5"),
            ("/disputes?period=2024&villages=360121106201,360121106202", "受理纠纷", "5"),
            ("/volunteers?period=2024&township=" + B + "&villages=360121106001", "志愿活动", "4")):
        page.goto(server.url + path, wait_until="domcontentloaded")
        page.get_by_text(WARNING).first.wait_for(timeout=90_000)
        assert card(page, label) == value, path
        body = page.inner_text("body")
        assert "白云镇" not in body and "360121106" not in body, path
        assert "360121106" not in page.url, path               # the link was rewritten to A's

    # the filter offers A's three villages only (names repeat: no township suffix either)
    page.goto(server.url + "/overview?period=2024", wait_until="domcontentloaded")
    card(page)
    opts = page.get_by_role("option")
    for attempt in range(4):      # a click during a rerun can land before the list is live
        page.locator(".st-key-villages input").click()
        try:
            opts.first.wait_for(timeout=20_000)
            break
        except Exception:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
    page.wait_for_timeout(500)
    shown = sorted(t.strip() for t in opts.all_inner_texts() if t.strip() != "全选")   # Select all
    assert shown == sorted(["东湖社区", "红旗村", "建设村"])
    with engine.connect() as c:
        denied = auth.audit_rows(c, {"action": "scope_denied"})
    assert len(denied) >= 4 and {r["username"] for r in denied} == {"lead_a"}
    assert re.search(r"360121106", " ".join(r["detail"] for r in denied))


def test_a_click_on_a_township_on_the_county_map_opens_its_overview(engine, streamlit_server,
                                                                    browser_page, tmp_path):
    from test_browser_map import _map_frame
    load_a(engine)
    load_b(engine, beside=True)       # 白云镇 east of 本乡镇, not on top of it
    with write_txn(engine) as c:
        auth.create_user(c, "county", PW, "leader")
    url = engine.url.render_as_string(hide_password=False)
    server = streamlit_server(url, {"DASHBOARD_AUTH": "on", "DASHBOARD_SESSION_MINUTES": "30"})
    page = browser_page
    browser_login(page, server.url + "/county?period=2024", "county")
    page.goto(server.url + "/county?period=2024", wait_until="domcontentloaded")
    frame = _map_frame(page, "gmtownship", timeout_s=90)
    shapes = frame.locator(".leaflet-gmtownship-pane path.leaflet-interactive")
    assert shapes.count() == 2
    assert frame.locator(".gm-label").all_inner_texts() == ["本乡镇", "白云镇"]
    assert "化解率" in frame.locator(".gm-legend").inner_text()
    tip = frame.locator(".leaflet-tooltip")
    shapes.nth(1).hover()                            # the features come by code: 本乡镇, 白云镇
    tip.wait_for(timeout=10_000)
    text = tip.inner_text()
    assert "白云镇" in text and "66.7%（6件）" in text and "第 1 名 / 共 2" in text, text
    page.screenshot(path=str(tmp_path / "county_map.png"), full_page=True)

    shapes.nth(1).click()
    expect(page).to_have_url(re.compile(r"/overview\?.*township=360121106000"), timeout=60_000)
    assert card(page) == "6"                         # 白云镇's 6 disputes of 2024
    # the overview names its township in the selector (the sidebar's 乡镇（街道）)
    expect(page.get_by_role("combobox", name="乡镇（街道）")).to_have_value("白云镇", timeout=30_000)
    assert "本乡镇" not in page.locator('[data-testid="stMain"]').inner_text()
    assert page.external_requests == [], page.external_requests
