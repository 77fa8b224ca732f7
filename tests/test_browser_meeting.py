"""The presentation page in a real Chromium: buttons and keyboard move the slides, presenting
hides the sidebar, nothing is fetched beyond localhost; a screenshot of a slide is kept."""
import io
import re
from pathlib import Path

import pytest
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

pytestmark = pytest.mark.browser


def _counter(page) -> tuple[int, int]:
    text = page.get_by_text(re.compile(r"第 \d+ / \d+ 页")).first.inner_text()
    n, total = re.search(r"第 (\d+) / (\d+) 页", text).groups()
    return int(n), int(total)


def _wait_counter(page, n: int):
    page.get_by_text(re.compile(rf"第 {n} / \d+ 页")).first.wait_for(timeout=60_000)


def test_presentation_page_drives_slides(demo_copy_url, streamlit_server, browser_page, tmp_path):
    server = streamlit_server(demo_copy_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    # through app.py's navigation, as a user gets there (language switch and login gate included)
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.get_by_text("化解率", exact=True).first.wait_for(timeout=90_000)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("会议汇报").click()
    page.get_by_text("青山镇基层治理工作汇报").first.wait_for(timeout=90_000)
    assert page.url.split("?", 1)[0].endswith("/meeting")   # the selection travels in the query
    assert _counter(page) == (1, 12)   # 11 slides (督办, 报送情况 included), the ranking on two screens

    page.locator(".st-key-meeting_next button").click()
    _wait_counter(page, 2)
    page.locator(".mt-band h2", has_text="主要指标").wait_for()
    page.locator(".st-key-meeting_prev button").click()
    _wait_counter(page, 1)

    page.locator(".st-key-meeting_start button").click()
    page.locator(".st-key-meeting_exit").wait_for(timeout=30_000)
    assert not page.locator('section[data-testid="stSidebar"]').is_visible()

    page.keyboard.press("ArrowRight")
    _wait_counter(page, 2)
    page.keyboard.press("ArrowRight")
    _wait_counter(page, 3)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.keyboard.press("ArrowLeft")
    _wait_counter(page, 2)
    page.keyboard.press("PageDown")             # a presentation clicker
    _wait_counter(page, 3)
    page.locator(".mt-band h2", has_text="矛盾纠纷化解").wait_for()
    page.wait_for_timeout(800)
    shot = tmp_path / "meeting-disputes.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000

    for n in (4, 5, 6):
        page.keyboard.press("ArrowRight")
        _wait_counter(page, n)
    page.locator(".mt-band h2", has_text="网格地图").wait_for()
    # the map as a picture, or the sentence saying why it was left out
    page.locator('[data-testid="stImage"] img, [data-testid="stAlert"], iframe').first.wait_for(timeout=60_000)

    page.locator(".st-key-meeting_exit button").click()
    page.locator(".st-key-meeting_start").wait_for(timeout=30_000)
    assert page.locator('section[data-testid="stSidebar"]').is_visible()

    # the PPTX is made when its button is pressed, with the map slide's picture in it
    with page.expect_download(timeout=180_000) as dl:
        page.locator(".st-key-meeting_dl_pptx button").click()
    assert dl.value.suggested_filename.endswith(".pptx")
    prs = Presentation(io.BytesIO(Path(dl.value.path()).read_bytes()))
    texts = ["".join(sh.text_frame.text for sh in s.shapes if sh.has_text_frame) for s in prs.slides]
    assert "青山镇基层治理工作汇报" in texts[0]
    [map_slide] = [s for s, t in zip(prs.slides, texts) if "网格地图" in t]
    assert [sh.image.blob[:4] for sh in map_slide.shapes if sh.shape_type == MSO_SHAPE_TYPE.PICTURE] \
        == [b"\x89PNG"]
    assert page.external_requests == [], page.external_requests
