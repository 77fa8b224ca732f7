"""CSV downloads of the analytics pages in a real Chromium: the file is made on the server when the
button is pressed (st.download_button with a callable), with the export formats."""
import csv
import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser


def test_csv_is_made_when_its_button_is_pressed(demo_url, streamlit_server, browser_page):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    page.goto(server.url + "/visits", wait_until="domcontentloaded")
    button = page.locator(".st-key-dl_visits_per_rep button")
    button.wait_for(timeout=90_000)
    with page.expect_download(timeout=60_000) as dl:
        button.click()
    assert dl.value.suggested_filename == "visits_per_rep_2025-10-01_2025-12-31.csv"
    data = Path(dl.value.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["排名", "代表", "代表类型"] and "意见建议解决率（%）" in rows[0]
    assert len(rows) > 2 and rows[1][0] == "1"
    rate = rows[1][rows[0].index("意见建议解决率（%）")]
    assert rate == "" or 0 <= float(rate) <= 100          # a number in percent, not "91.2%"
    assert page.external_requests == [], page.external_requests
