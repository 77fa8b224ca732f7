"""HTML export: one self-contained file, no external URL loads anything, typed text escaped;
and the exports survive hostile village names (escaping, formula injection)."""
import io
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from dashboard import periods
from dashboard.db import schema as S
from dashboard.db.engine import bump_version, get_engine, write_txn
from dashboard.report import build_deck, to_html, to_pdf, to_pptx

Q = periods.quarter(2025, 3)
EVIL = '<script>alert(1)</script>=HYPERLINK("http://evil.example")'


@pytest.fixture(scope="module")
def deck(demo_url):
    with get_engine(demo_url).connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, with_map=False)


@pytest.fixture(scope="module")
def page(deck):
    return to_html(deck)


class Resources(HTMLParser):
    """Every URL the document would fetch: src/href/poster/data/srcset attributes, CSS url() and @import."""
    ATTRS = {"src", "href", "poster", "data", "srcset", "action", "background"}

    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self._in_style = [], 0, False

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self._in_style = tag == "style"
        for k, v in attrs:
            if k in self.ATTRS and v:
                self.urls.append(v)
            if k == "style" and v:
                self.urls += re.findall(r"url\(([^)]*)\)", v)

    def handle_endtag(self, tag):
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data):
        if self._in_style:
            self.urls += re.findall(r"url\(([^)]*)\)", data) + re.findall(r"@import\s+([^;]+)", data)


def test_no_external_resource(page):
    p = Resources()
    p.feed(page)
    assert [u for u in p.urls if re.match(r"\s*['\"]?(https?:)?//", u)] == []
    # plotly.js itself is inlined, not linked
    assert "<script src" not in page and "cdn.plot.ly/plotly" not in page.split("<body>")[1]
    assert page.count("Plotly.newPlot") == 6


def test_one_file_with_every_slide_and_village(page, deck):
    assert page.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in page
    assert page.count('<section class="slide') == len(deck.slides)
    for name in deck.village_names:
        assert name in page
    assert deck.slide("briefing").lines[0] in page


def test_map_slide_inlines_the_map_when_there_is_one(deck):
    from dataclasses import replace
    from dashboard.report.deck import MapImage
    s = deck.slide("map")
    with_png = replace(deck, slides=[replace(x, map=MapImage(png=b"\x89PNG fake", note="图"))
                                     if x is s else x for x in deck.slides])
    assert 'src="data:image/png;base64,' in to_html(with_png)
    doc = '<html><body><p class="x">地图 & "quotes"</p></body></html>'
    with_html = replace(deck, slides=[replace(x, map=MapImage(html=doc, note="图")) if x is s else x
                                      for x in deck.slides])
    out = to_html(with_html)
    assert 'srcdoc="&lt;html&gt;&lt;body&gt;&lt;p class=&quot;x&quot;&gt;地图 &amp; &quot;quotes&quot;' in out


@pytest.fixture
def evil_deck(demo_copy_url):
    eng = get_engine(demo_copy_url)
    with write_txn(eng) as conn:
        vid = conn.execute(sa.select(S.village.c.id).order_by(S.village.c.id)).scalars().first()
        conn.execute(sa.update(S.village).where(S.village.c.id == vid).values(name=EVIL))
        bump_version(conn)
    with eng.connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, preparer="<b>x</b>", with_map=False)


def test_typed_text_is_escaped_everywhere(evil_deck):
    page = to_html(evil_deck)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    from pptx import Presentation
    prs = Presentation(io.BytesIO(to_pptx(evil_deck)))
    cells = [c.text for s in prs.slides for sh in s.shapes if sh.has_table for r in sh.table.rows for c in r.cells]
    assert EVIL in cells                           # shown literally, as text
    from pypdf import PdfReader
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(evil_deck))).pages)
    assert "alert(1)" in text and "<b>x</b>" in text


def test_html_opens_offline_in_chromium(page, chromium, tmp_path):
    from playwright.sync_api import sync_playwright
    f = tmp_path / "report.html"
    f.write_text(page, encoding="utf-8")
    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--headless=new", "--no-sandbox",
                                                                    "--disable-gpu"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:", "blob:"))
                  else (blocked.append(r.request.url), r.abort()))
        pg = ctx.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f.as_uri())
        pg.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6",
                             timeout=30_000)
        pg.keyboard.press("ArrowRight")
        pg.screenshot(path=str(tmp_path / "report.png"))
        browser.close()
    assert blocked == [] and errors == []
