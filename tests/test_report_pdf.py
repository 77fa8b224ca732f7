"""PDF export read back with pypdf and rendered with pdftoppm: pages, header block, page numbers,
village names and figures in the text, the Chinese font embedded."""
import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from dashboard import fmt, periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, fonts, to_pdf

Q = periods.quarter(2025, 3)


@pytest.fixture(scope="module")
def deck(demo_url):
    with get_engine(demo_url).connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, preparer="王五", with_map=False)


@pytest.fixture(scope="module", params=["landscape", "portrait"])
def pdf(request, deck):
    return request.param, to_pdf(deck, request.param)


def _pages(data: bytes) -> list[str]:
    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


def test_one_topic_per_page_on_a4(pdf, deck):
    orientation, data = pdf
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == len(deck.slides)
    w, h = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert sorted((round(w), round(h))) == [595, 842]
    assert (w > h) == (orientation == "landscape")


def test_header_block_and_page_numbers(pdf, deck):
    _, data = pdf
    pages = _pages(data)
    first = pages[0]
    for label in ("填报单位", "报告期", "制表人", "制表日期"):
        assert label in first
    assert "青山镇人民政府" in first and "2025年第3季度" in first and "王五" in first
    assert deck.generated_at.strftime("%Y-%m-%d") in first
    n = len(pages)
    for i, text in enumerate(pages, start=1):
        assert f"第 {i} 页 / 共 {n} 页" in text


def test_text_holds_village_names_and_figures(pdf, deck):
    _, data = pdf
    pages = _pages(data)
    text = "\n".join(pages)
    for name in deck.village_names:
        assert name in text, name
    tw = deck.values["township"]
    for v in (fmt.num(tw["disputes_total"]), fmt.pct(tw["resolution_rate"]), fmt.num(tw["volunteer_hours"], 1)):
        assert v in text
    ranking = pages[[s.kind for s in deck.slides].index("ranking")]
    top = deck.slide("ranking").table.rows[0]
    assert top[1] in ranking and top[4] in ranking
    assert deck.slide("briefing").lines[0][:20] in text.replace("\n", "")


def test_chinese_font_is_embedded(pdf):
    _, data = pdf
    reader = PdfReader(io.BytesIO(data))
    embedded = set()
    for page in reader.pages:
        for f in page["/Resources"]["/Font"].values():
            f = f.get_object()
            desc = f.get("/FontDescriptor")
            if desc is not None and ("/FontFile2" in desc.get_object() or "/FontFile3" in desc.get_object()):
                embedded.add(str(f["/BaseFont"]))
    assert any("CJK" in n or "Noto" in n or "wqy" in n.lower() for n in embedded), embedded


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdftoppm_renders_every_page(pdf, tmp_path):
    orientation, data = pdf
    src = tmp_path / f"report-{orientation}.pdf"
    src.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(src), str(tmp_path / "p")], check=True, timeout=120)
    pngs = sorted(tmp_path.glob("p-*.png"))
    assert len(pngs) == len(PdfReader(io.BytesIO(data)).pages)
    from PIL import Image
    im = Image.open(pngs[2]).convert("L")
    assert im.getextrema()[0] < 100      # something dark was drawn (charts, text)


def test_cid_fallback_when_no_cjk_font_file(deck, tmp_path):
    # the font search pointed at a folder without fonts (was: the candidate list emptied)
    f = fonts.cjk_font("青山镇", [tmp_path])
    assert f.regular == fonts.CID_FALLBACK and not f.embedded
    data = to_pdf(deck, "portrait", font_dirs=[tmp_path])
    assert len(PdfReader(io.BytesIO(data)).pages) == len(deck.slides)


def test_consecutive_reports_each_draw_their_own_characters(demo_url):
    """Each document's converted font subset has its own PostScript name (reportlab shares faces
    by that name, so a second report once drew its new characters as blanks)."""
    with get_engine(demo_url).connect() as conn:
        texts = []
        for who in ("甲乙丙", "丁戊己"):
            d = build_deck(conn, Q, None, "zh", 0.9, preparer=who, with_map=False)
            texts.append(PdfReader(io.BytesIO(to_pdf(d))).pages[0].extract_text())
    assert "甲乙丙" in texts[0] and "丁戊己" in texts[1]
