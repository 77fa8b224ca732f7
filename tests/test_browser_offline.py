"""The served app never reaches beyond localhost: every asset it loads is local."""
import pytest


def test_overview_loads_with_no_request_leaving_localhost(demo_url, streamlit_server, browser_page):
    server = streamlit_server(demo_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    seen = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.get_by_text("化解率", exact=True).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.external_requests == [], page.external_requests
    assert seen and all(u.startswith(("http://127.0.0.1", "data:", "blob:", "ws://127.0.0.1")) for u in seen)
    assert page.get_by_text("演示数据", exact=False).count() >= 1
