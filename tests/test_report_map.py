"""The grid map in the exports: a picture in the PPTX, an image on the PDF's map page, an inlined
document in the HTML (needs dashboard.maps and Debian's Chromium)."""
import io

import pytest
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE
from pypdf import PdfReader

from dashboard import periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, to_html, to_pdf, to_pptx


@pytest.fixture(scope="module")
def deck(demo_url, chromium):
    pytest.importorskip("dashboard.maps")
    with get_engine(demo_url).connect() as conn:
        d = build_deck(conn, periods.quarter(2025, 3), None, "zh", 0.9, with_map=True)
    m = d.slide("map").map
    assert m.png and m.png.startswith(b"\x89PNG"), m.note
    return d


def test_pptx_has_the_map_picture(deck):
    prs = Presentation(io.BytesIO(to_pptx(deck)))
    kinds = [s.kind for s in deck.slides]
    slide = prs.slides[kinds.index("map")]
    pics = [sh for sh in slide.shapes if sh.shape_type == MSO_SHAPE_TYPE.PICTURE]
    assert len(pics) == 1 and pics[0].image.blob == deck.slide("map").map.png


def test_pdf_map_page_has_an_image(deck):
    reader = PdfReader(io.BytesIO(to_pdf(deck)))
    page = reader.pages[[s.kind for s in deck.slides].index("map")]
    assert len(page.images) == 1
    assert "网格地图" in page.extract_text()


def test_html_inlines_the_map_document(deck):
    page = to_html(deck)
    assert "<iframe" in page and "srcdoc=" in page


def test_without_a_browser_the_exports_say_the_map_was_left_out(demo_url, monkeypatch, tmp_path):
    pytest.importorskip("dashboard.maps")
    monkeypatch.setenv("DASHBOARD_CHROMIUM", str(tmp_path / "no-chromium"))
    with get_engine(demo_url).connect() as conn:
        d = build_deck(conn, periods.quarter(2025, 3), None, "zh", 0.9, with_map=True)
    m = d.slide("map").map
    assert m.png is None and "地图未包含" in m.note and "Chromium" in m.note
    prs = Presentation(io.BytesIO(to_pptx(d)))
    assert any(m.note in sh.text_frame.text for s in prs.slides for sh in s.shapes if sh.has_text_frame)
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(d))).pages)
    assert "地图未包含" in text


def test_map_image_queries_the_layers_once(demo_url, chromium, monkeypatch):
    pytest.importorskip("dashboard.maps")
    from dashboard.queries import map as qmap
    from dashboard.report import map_image
    calls = []
    real = qmap.layers
    monkeypatch.setattr(qmap, "layers", lambda *a, **k: calls.append(a[1:]) or real(*a, **k))
    with get_engine(demo_url).connect() as conn:
        m = map_image(conn, periods.quarter(2025, 3), None, "zh", True)
    assert m.png and m.png.startswith(b"\x89PNG") and m.html and "leaflet" in m.html.lower()
    assert len(calls) == 1


def test_map_image_uses_layers_it_is_given(demo_url, monkeypatch):
    pytest.importorskip("dashboard.maps")
    from dashboard.queries import map as qmap
    from dashboard.report import map_image
    monkeypatch.setenv("DASHBOARD_CHROMIUM", "/nonexistent/chromium")
    q = periods.quarter(2025, 3)
    with get_engine(demo_url).connect() as conn:
        data = qmap.layers(conn, q, "resolution_rate")
        monkeypatch.setattr(qmap, "layers", lambda *a, **k: pytest.fail("layers queried again"))
        m = map_image(conn, q, None, "zh", True, layers=data)
    assert m.html and m.png is None and "Chromium" in m.note
