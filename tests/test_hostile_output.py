"""Ledger text that is a spreadsheet formula or Markdown never leaves live.

The database is the demo township with every category, team, representative, grid and village
renamed to hostile text (formulas ``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM``, ``-1+1``, the
full-width ``＝1+1``; Markdown images and links). Each page runs in AppTest as an admin; every
st.download_button's bytes (made eagerly, or by calling the deferred callable as a click would)
are read back as CSV or XLSX, and no cell, header or index label may start with a formula
character. Markdown bodies must carry the names escaped.
"""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import demo
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.ui import nav

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-1+1", "＝1+1"]
MARKDOWN = ["![x](http://127.0.0.1:9/mdimg.png)村", "[link](http://x)"]
LEADING = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$")
ADMIN = {"username": "test-admin", "role": "admin", "village_ids": None, "display_name": "test"}


def _rename(c, table, column, names, unique: bool) -> None:
    col = table.c[column]
    values = [r[0] for r in c.execute(sa.select(col).distinct().order_by(col))]
    for i, old in enumerate(values):
        new = names[i % len(names)] + (str(i) if unique else "")
        c.execute(sa.update(table).where(col == old).values({column: new}))


@pytest.fixture
def hostile_url(engine):
    with write_txn(engine) as c:
        demo.write(c, demo.build())
        _rename(c, S.village, "name", FORMULAS + MARKDOWN, unique=True)
        _rename(c, S.grid, "name", FORMULAS, unique=True)
        _rename(c, S.dispute, "category", FORMULAS, unique=False)
        _rename(c, S.volunteer_activity, "team", FORMULAS, unique=True)
        _rename(c, S.volunteer_activity, "category", FORMULAS, unique=False)
        _rename(c, S.rep_visit, "rep_name", FORMULAS, unique=True)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def env(hostile_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", hostile_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    return hostile_url


def cells(name: str, data: bytes) -> list[str]:
    """Every cell of a CSV or XLSX file (header and index included) as text."""
    if name.endswith(".csv"):
        assert data.startswith(b"\xef\xbb\xbf"), name
        return [c for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for c in row]
    wb = openpyxl.load_workbook(io.BytesIO(data))
    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (name, c.coordinate, c.value)
                if isinstance(c.value, str):
                    out.append(c.value)
    return out


def live(values) -> list[str]:
    return [v for v in values if v.startswith(LEADING) and not NUMBER.match(v)]


def run_page(path: str) -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / path), default_timeout=120)
    at.session_state["user"] = ADMIN
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_download_of_any_page_has_a_live_formula(env, downloads):
    seen_text = set()
    per_page = {}
    for slug, path, *_ in nav.available():
        before = len(downloads)
        at = run_page(path)
        files = downloads[before:]
        buttons = at.get("download_button")
        tables = [(n, d) for n, d in files if n and n.endswith((".csv", ".xlsx"))]
        per_page[slug] = len(tables)
        assert len(files) == len(buttons), (slug, [n for n, _ in files])
        for name, data in tables:
            values = cells(name, data)
            assert live(values) == [], (slug, name, live(values)[:5])
            seen_text.update(v for v in values if v.startswith("'"))
    # the hostile names did reach the files (neutralised), so the check above was not vacuous
    for text in FORMULAS:
        assert any(v.startswith("'" + text) for v in seen_text), text
    # each analytics page offers its tables; meeting: the ranking as XLSX and CSV
    assert per_page["meeting"] == 2 and per_page["overview"] >= 2 and per_page["disputes"] >= 5, per_page



MARKDOWN_KINDS = ("markdown", "caption", "info", "warning", "error", "success", "subheader", "header",
                  "title")


def _bodies(at: AppTest) -> list[str]:
    out = []
    for kind in MARKDOWN_KINDS:
        out += [str(e.value) for e in getattr(at, kind)]
    return out


@pytest.mark.parametrize("path", ["pages/overview.py", "pages/village.py", "pages/disputes.py",
                                  "pages/volunteers.py", "pages/visits.py", "pages/map.py",
                                  "pages/meeting.py", "pages/completeness.py"])
def test_markdown_from_data_is_escaped(env, path):
    from dashboard import fmt
    at = run_page(path)
    bodies = _bodies(at)
    for body in bodies:
        for raw in MARKDOWN:
            assert raw not in body, (path, body)
        assert "](http" not in body and "![" not in body, (path, body)
    if path == "pages/overview.py":
        alerts = [b for b in (str(e.value) for e in at.markdown) if b.startswith("- ")]
        assert any(fmt.md(MARKDOWN[0]) in b for b in alerts), alerts      # the names did arrive
    if path == "pages/village.py":
        assert fmt.md(FORMULAS[0]) in at.subheader[0].value, at.subheader[0].value


def test_md_escapes_every_markdown_construct():
    from dashboard import fmt
    j = fmt.WORD_JOINER
    assert fmt.md(MARKDOWN[0]) == f"\\!\\[x\\]\\(http\\:\\/\\/{j}127\\.0\\.0\\.1\\:9\\/mdimg\\.png\\)村"
    assert fmt.md("[link](http://x)") == f"\\[link\\]\\(http\\:\\/\\/{j}x\\)"
    assert fmt.md("WWW.x.cn a@b.cn") == f"WWW{j}\\.x\\.cn a\\@{j}b\\.cn"
    assert fmt.md(":red[红]**粗**") == "\\:red\\[红\\]\\*\\*粗\\*\\*"
    assert fmt.md("a\n# b\r\n- c") == "a \\# b \\- c"
    assert fmt.md("www.x.cn $x$ <b>&amp;") == f"www{j}\\.x\\.cn \\$x\\$ \\<b\\>\\&amp\\;"
    assert fmt.md(None) == "" and fmt.md(float("nan")) == "" and fmt.md(12) == "12"
    assert fmt.md("红旗村（一组）") == "红旗村（一组）"          # Chinese text is untouched


def test_md_round_trips_and_leaves_no_bare_punctuation():
    from hypothesis import given
    from hypothesis import strategies as st

    from dashboard import fmt

    @given(st.text(max_size=60))
    def check(text):
        out = fmt.md(text)
        # every ASCII punctuation character is preceded by a backslash (an escape pair)
        assert re.fullmatch(r"(?:\\[!-/:-@\[-`{-~]|[^!-/:-@\[-`{-~])*", out, flags=re.S), out
        # CommonMark unescaping gives the text back (less the word joiners), line breaks as spaces
        back = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", out)
        assert re.sub(r"(://|www|@)" + fmt.WORD_JOINER, r"\1", back, flags=re.I) == re.sub(
            r"[\r\n\t\v\f\x85\u2028\u2029]+", " ", text)
    check()


def test_browser_fetches_nothing_from_a_name_and_shows_no_link(hostile_url, streamlit_server, browser_page):
    """Real Chromium: the overview and a village page with Markdown in village names request nothing
    from 127.0.0.1:9 and carry no <a href> or <img> made from data; the names read as typed."""
    server = streamlit_server(hostile_url, {"DASHBOARD_AUTH": "off"})
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(server.url + "/", wait_until="domcontentloaded")
    page.get_by_role("heading", name="总览").wait_for(timeout=90_000)
    page.get_by_text("mdimg.png)村").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    srcs = page.eval_on_selector_all("img[src]", "els => els.map(e => e.getAttribute('src'))")
    body = page.inner_text("body")
    page.goto(server.url + "/village", wait_until="domcontentloaded")
    page.locator("h1, h2, h3", has_text="=HYPERLINK(").first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)
    hrefs += page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    srcs += page.eval_on_selector_all("img[src]", "els => els.map(e => e.getAttribute('src'))")
    assert [u for u in requested if "127.0.0.1:9/" in u or "mdimg" in u] == [], requested
    assert [h for h in hrefs if "http://x" in h or "127.0.0.1:9" in h] == [], hrefs
    assert [s for s in srcs if "mdimg" in s] == [], srcs
    assert MARKDOWN[0] in body.replace("\u2060", "")     # shown as the text it is (word joiners aside)
    assert page.external_requests == [], page.external_requests
