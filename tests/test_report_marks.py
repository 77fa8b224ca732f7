"""Exports say what they are (issue 14): 演示数据 on every export of the demo township and on
none of a real one; 数据截至 is the last ledger row in scope; the cover names the villages."""
import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pptx import Presentation
from pypdf import PdfReader

from dashboard import export, periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, ranking_frame, to_html, to_pdf, to_pptx
from tests.test_metrics import seed

Q = periods.quarter(2025, 3)
MARK = "演示数据"
LINE = "演示数据：本报告数字由程序生成，仅用于演示，不是真实统计。"


@pytest.fixture(scope="module")
def demo_deck(demo_url):
    with get_engine(demo_url).connect() as conn:
        return build_deck(conn, Q, None, "zh", 0.9, with_map=False)


@pytest.fixture
def town(engine):
    """test_metrics' hand-built township (not the demo): Q1 2025, villages A村, B社区, C村."""
    ids = seed(engine)
    return engine, ids


def _slide_texts(pptx: bytes) -> list[str]:
    out = []
    for slide in Presentation(io.BytesIO(pptx)).slides:
        out.append("\n".join(sh.text_frame.text for sh in slide.shapes if sh.has_text_frame))
    return out


def test_demo_pdf_says_so_on_the_cover_and_every_page(demo_deck):
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(demo_deck))).pages]
    assert LINE in pages[0].replace("\n", "")
    assert all(MARK in p for p in pages), [i for i, p in enumerate(pages) if MARK not in p]


def test_demo_pptx_says_so_on_every_slide(demo_deck):
    texts = _slide_texts(to_pptx(demo_deck))
    assert len(texts) >= len(demo_deck.slides)
    assert all(MARK in t for t in texts)
    assert LINE in texts[0]


def test_demo_html_says_so_on_every_slide(demo_deck):
    page = to_html(demo_deck)
    assert page.count(f'<span class="demo">{MARK}</span>') == len(demo_deck.slides)
    assert LINE in page


def test_demo_ranking_downloads_say_so_on_every_row(demo_deck):
    df = ranking_frame(demo_deck)
    assert list(df["数据性质"]) == [MARK] * len(demo_deck.village_names)
    csv = export.table_to_csv(df).decode("utf-8-sig")
    assert csv.splitlines()[0].endswith(",数据性质")
    assert all(line.endswith(f",{MARK}") for line in csv.splitlines()[1:])
    ws = load_workbook(io.BytesIO(export.table_to_xlsx(df, "排名"))).active
    assert [c.value for c in ws[2]][-1] == MARK


def test_real_township_exports_say_nothing_of_demo(town):
    engine, _ = town
    with engine.connect() as conn:
        d = build_deck(conn, periods.quarter(2025, 1), None, "zh", 0.9, with_map=False)
    assert not d.demo and d.mark == ""
    assert MARK not in "".join(p.extract_text() for p in PdfReader(io.BytesIO(to_pdf(d))).pages)
    assert MARK not in "".join(_slide_texts(to_pptx(d)))
    assert MARK not in to_html(d)
    assert "数据性质" not in ranking_frame(d).columns


@pytest.mark.parametrize("villages, period, last, scope", [
    # a2, v2 and r2 on 03-31; a6, v5, r4 on 04-01 are after the period
    (None, periods.quarter(2025, 1), "2025-03-31", "全部村（社区），共 3 个"),
    # B社区: b4 on 03-15 is its last row in Q1
    (["B"], periods.quarter(2025, 1), "2025-03-15", "B社区"),
    # C村: one visit on 2024-12-31, nothing since
    (["C"], periods.quarter(2025, 1), "2024-12-31", "C村"),
    # a whole year: B's last row is v5 on 04-01
    (["B", "C"], periods.year(2025), "2025-04-01", "B社区、C村"),
])
def test_as_of_is_the_last_ledger_row_in_scope(town, villages, period, last, scope):
    engine, ids = town
    with engine.connect() as conn:
        d = build_deck(conn, period, None if villages is None else [ids[v] for v in villages], "zh", 0.9,
                       with_map=False)
    assert d.last_day == date.fromisoformat(last)
    lines = d.slide("title").lines
    assert lines[1].startswith(f"数据截至：{last}（范围内最后一条台账记录的日期）；数据更新于 ")
    assert lines[2] == f"统计范围：{scope}"


def test_cover_counts_a_long_list_of_villages(demo_url):
    from dashboard.queries import summary
    with get_engine(demo_url).connect() as conn:
        vs = summary.villages(conn)
        d = build_deck(conn, Q, [v["id"] for v in vs[:10]], "zh", 0.9, with_map=False)
    names = "、".join(v["name"] for v in vs[:3])
    assert d.slide("title").lines[2] == f"统计范围：{names}等 10 个村（社区）（全镇共 {len(vs)} 个）"
