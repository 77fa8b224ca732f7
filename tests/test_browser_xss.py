"""In a real Chromium: the login gate holds, and a hostile village name renders as text, never as HTML.

The database is the demo township's rows without the demo flag (so login is required)
with 红旗村 renamed to ``<img src=x onerror=alert(1)>``. A dialog would mean the name
was parsed as HTML somewhere; ``page.on("dialog")`` must never fire.
"""
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard import auth, demo
from dashboard.db import schema as S
from dashboard.db.engine import write_txn

EVIL = "<img src=x onerror=alert(1)>"
PW = "correct-horse-battery"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def evil_db(engine):
    with write_txn(engine) as c:
        demo.write(c, demo.build(), username="import")
        c.execute(sa.update(S.township).values(is_demo=False))
        c.execute(sa.update(S.village).where(S.village.c.name == "红旗村").values(name=EVIL))
        auth.create_user(c, "boss", PW, "leader", display_name=EVIL)
        # no demo accounts here (demo.write makes them; "the last admin" cannot be disabled)
        c.execute(sa.delete(S.app_user).where(S.app_user.c.username.in_(("leader", "clerk", "admin"))))
    return engine.url.render_as_string(hide_password=False)


def _dialogs(page) -> list[str]:
    fired: list[str] = []

    def on_dialog(d):
        fired.append(d.message)
        d.dismiss()
    page.on("dialog", on_dialog)
    return fired


def _log_in(page):
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码", exact=True).fill(PW)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="总览").wait_for(timeout=60_000)


def test_login_gate_and_hostile_names_render_as_text(evil_db, streamlit_server, browser_page):
    server = streamlit_server(evil_db, {"DASHBOARD_AUTH": "auto"})
    page = browser_page
    fired = _dialogs(page)

    # Without a session: the login form and nothing else, whatever the URL.
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.get_by_role("button", name="登录").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    body = page.inner_text("body")
    assert "化解率" not in body and "总览" not in body
    assert page.locator("[data-testid='stDataFrame'], [data-testid='stMetric']").count() == 0

    # Wrong password: still the form.
    page.get_by_label("用户名").fill("boss")
    page.get_by_label("密码", exact=True).fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码不正确").wait_for(timeout=30_000)

    _log_in(page)
    # The display name typed by an admin is shown in the sidebar as text.
    page.get_by_text(f"{EVIL} · 领导", exact=True).wait_for(timeout=30_000)

    # The overview's village table holds the name as text (the grid's cells are on a
    # canvas; its accessible table carries the text).
    table = page.locator("[data-testid='stDataFrame']:visible").first   # not an alert's folded list
    table.wait_for(timeout=60_000)
    # The grid draws only the rows in view: pick the village in the sidebar filter (its
    # option list shows the name too) so that its row is the one on screen.
    ms = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect'] input").first
    ms.click()
    ms.fill("<img")
    page.get_by_role("option", name=EVIL).first.wait_for(timeout=30_000)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_function(
        "name => Array.from(document.querySelectorAll('[data-testid=\"stDataFrame\"] td, "
        "[data-testid=\"stDataFrame\"] [role=gridcell]')).some(c => c.textContent.includes(name))",
        arg=EVIL, timeout=60_000)
    # No <img> element with that onerror anywhere in the document.
    assert page.locator("img[src='x']").count() == 0

    if (ROOT / "pages" / "map.py").exists():
        # a reload would start a new session (and ask for the login again): use the navigation
        page.get_by_role("link", name="网格地图").click()
        page.get_by_role("heading", name="网格地图").wait_for(timeout=60_000)
        page.wait_for_timeout(4000)
        for frame in page.frames:
            assert frame.locator("img[src='x']").count() == 0
        # the name is in the map's HTML, escaped, as tooltip/popup text
        html = "".join(f.content() for f in page.frames)
        assert "&lt;img src=x onerror=alert(1)&gt;" in html or EVIL not in html

    page.wait_for_timeout(1000)
    assert fired == [], fired
    assert page.external_requests == []


@pytest.mark.parametrize("path", ["/overview", "/admin"])
def test_first_request_after_start_to_a_page_url_gets_only_the_login_form(
        evil_db, streamlit_server, browser_page, path):
    """Streamlit's first run after a start may run pages/<url>.py without app.py."""
    server = streamlit_server(evil_db, {"DASHBOARD_AUTH": "auto"})
    page = browser_page
    fired = _dialogs(page)
    page.goto(server.url + path, wait_until="domcontentloaded")
    page.get_by_role("button", name="登录").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.locator("[data-testid='stDataFrame'], [data-testid='stMetric']").count() == 0
    assert "化解率" not in page.inner_text("body")
    assert fired == []
