"""The grid map in a real browser: `streamlit run`, network cut off, polygons counted.

Debian's /usr/bin/chromium through Playwright (fixture ``browser_page`` blocks and records
every request that leaves localhost); skipped locally without Chromium, failing in CI.
"""
from __future__ import annotations

import re
import time

import sqlalchemy as sa
from playwright.sync_api import expect

from dashboard.db import schema as S

def _counts(url: str) -> tuple[int, int]:
    eng = sa.create_engine(url)
    with eng.connect() as c:
        v = c.execute(sa.select(sa.func.count()).select_from(S.village)
                      .where(S.village.c.geometry.is_not(None))).scalar()
        g = c.execute(sa.select(sa.func.count()).select_from(S.grid)
                      .where(S.grid.c.geometry.is_not(None))).scalar()
    eng.dispose()
    return v, g


def _village_id(url: str, name: str) -> int:
    eng = sa.create_engine(url)
    with eng.connect() as c:
        vid = c.execute(sa.select(S.village.c.id).where(S.village.c.name == name)).scalar_one()
    eng.dispose()
    return vid


def _map_frame(page, pane: str, timeout_s: float = 60):
    """The streamlit-folium frame whose ``pane`` has drawn its polygons (a rerun may briefly
    keep the previous map's frame beside the new one)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for fr in page.frames:
            if "streamlit_folium" in fr.url and not fr.is_detached():
                try:
                    if fr.locator(f".leaflet-{pane}-pane path.leaflet-interactive").count():
                        return fr
                except Exception:  # noqa: BLE001 - the frame went away meanwhile
                    pass
        page.wait_for_timeout(250)
    raise AssertionError(f"no map frame drew the {pane} layer")


def test_map_page_offline_polygons_tooltip_click(demo_url, streamlit_server, browser_page, tmp_path):
    n_villages, n_grids = _counts(demo_url)
    server = streamlit_server(demo_url)
    page = browser_page
    page.goto(server.url + "/map", wait_until="domcontentloaded")
    frame = _map_frame(page, "gmvillage")

    villages = frame.locator(".leaflet-gmvillage-pane path.leaflet-interactive")
    villages.first.wait_for(timeout=60_000)
    assert villages.count() == n_villages
    # the legend (our own HTML) and the village labels are drawn
    assert "%" in frame.locator(".gm-legend").inner_text()
    assert frame.locator(".gm-label.gm-village").count() == n_villages

    villages.nth(0).hover()
    tip = frame.locator(".leaflet-tooltip")
    tip.wait_for(timeout=10_000)
    text = tip.inner_text()
    assert "户数" in text and "化解率" in text and ("排名" in text or "无数据" in text)
    page.screenshot(path=str(tmp_path / "map_villages.png"), full_page=True)

    # colour the grids instead: the fragment redraws with one polygon per grid
    page.locator("label").filter(has_text=re.compile(r"^网格$")).first.click()
    frame = _map_frame(page, "gmgrid")
    tip = frame.locator(".leaflet-tooltip")
    grids = frame.locator(".leaflet-gmgrid-pane path.leaflet-interactive")
    assert grids.count() == n_grids
    grids.nth(3).hover()
    tip.wait_for(timeout=10_000)
    tip_text = tip.inner_text()
    assert "网格长" in tip_text
    village = re.search(r"村（社区）\s+(\S+)", tip_text).group(1)
    page.screenshot(path=str(tmp_path / "map_grids.png"), full_page=True)

    # a click opens that grid's village profile (in-app navigation, ?village=<id>)
    grids.nth(3).click()
    page.get_by_role("heading", name="村庄画像").wait_for(timeout=30_000)
    expect(page).to_have_url(re.compile(rf"[?&]village={_village_id(demo_url, village)}(&|$)"),
                             timeout=30_000)
    expect(page.get_by_role("combobox").filter(has_text=village).or_(
        page.get_by_text(village)).first).to_be_visible(timeout=30_000)
    page.screenshot(path=str(tmp_path / "after_click.png"))

    assert page.external_requests == [], page.external_requests
