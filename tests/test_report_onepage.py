"""一页纸 (issue 14): one A4 portrait page holding the headline figures, for printing beside
the full report; shrunk to fit however long the lists are."""
import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from dashboard import periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, to_onepage

Q = periods.quarter(2025, 3)


@pytest.fixture(scope="module")
def deck(demo_url):
    with get_engine(demo_url).connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, preparer="王五", with_map=False)


def _one_page_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)   # A4 portrait
    return reader.pages[0].extract_text().replace("\n", "")


def test_one_a4_page_with_the_headline_figures(deck):
    text = _one_page_text(to_onepage(deck))
    assert "青山镇基层治理工作汇报（一页纸）" in text and "2025年第3季度" in text
    for k in deck.slide("kpis").kpis:
        assert k.name in text and k.text in text and k.mom_text in text and k.yoy_text in text, k.name
    title = deck.slide("title").lines
    assert title[1] in text and title[2] in text                     # 数据截至, 统计范围
    assert "演示数据：本报告数字由程序生成，仅用于演示，不是真实统计。" in text
    assert "下一步工作：" in text


def test_long_lists_still_fit_one_page(deck):
    long = [replace(s, lines=s.lines * 12) if s.kind in ("alerts", "briefing") else s for s in deck.slides]
    text = _one_page_text(to_onepage(replace(deck, slides=long)))
    assert deck.slide("kpis").kpis[0].text in text


def test_command_line_writes_the_one_page(demo_url, tmp_path):
    from dashboard.__main__ import main
    out = tmp_path / "one.pdf"
    assert main(["report", "--db", demo_url, "--format", "onepage", "--from", "2025-07-01",
                 "--to", "2025-09-30", "--out", str(out), "--no-map"]) == 0
    assert "受理纠纷" in _one_page_text(out.read_bytes())
