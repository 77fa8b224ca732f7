"""PPTX export read back with python-pptx: slides, native charts with the registry's values,
tables as tables, East Asian fonts on every run."""
import io

import pytest
from pptx import Presentation
from pptx.enum.chart import XL_CHART_TYPE
from pptx.oxml.ns import qn

from dashboard import metrics, periods
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, to_pptx
from dashboard.report.pptx_out import FONT, ROWS_PER_TABLE_SLIDE, slide_count

Q = periods.quarter(2025, 3)


@pytest.fixture(scope="module")
def built(demo_url):
    with get_engine(demo_url).connect() as conn:
        deck = build_deck(conn, Q, None, "zh", 0.9, with_map=False)
        months = [metrics.compute(conn, periods.month(2025, m))["township"] for m in (7, 8, 9)]
    return deck, Presentation(io.BytesIO(to_pptx(deck))), months


def _charts(prs):
    return [sh.chart for s in prs.slides for sh in s.shapes if sh.has_chart]


def _texts(prs):
    out = []
    for s in prs.slides:
        for sh in s.shapes:
            if sh.has_text_frame:
                out.append(sh.text_frame.text)
            if sh.has_table:
                out += [c.text for r in sh.table.rows for c in r.cells]
    return "\n".join(out)


def test_slide_count(built):
    deck, prs, _ = built
    n_rank = -(-len(deck.slide("ranking").table.rows) // ROWS_PER_TABLE_SLIDE)
    assert len(prs.slides) == slide_count(deck) == len(deck.slides) - 1 + n_rank
    assert prs.slide_width > prs.slide_height  # 16:9


def test_native_charts_hold_the_registry_values(built):
    deck, prs, months = built
    charts = _charts(prs)
    assert [c.chart_type for c in charts] == [
        XL_CHART_TYPE.COLUMN_CLUSTERED, XL_CHART_TYPE.PIE, XL_CHART_TYPE.LINE_MARKERS,
        XL_CHART_TYPE.BAR_CLUSTERED, XL_CHART_TYPE.COLUMN_CLUSTERED, XL_CHART_TYPE.PIE]
    disputes = charts[0].plots[0]
    assert list(disputes.categories) == ["7月", "8月", "9月"]
    assert list(disputes.series[0].values) == [m["disputes_total"] for m in months]
    assert list(disputes.series[1].values) == [m["disputes_resolved_in_period"] for m in months]  # 本期办结
    assert disputes.series[1].name == metrics.METRICS["disputes_resolved_in_period"].zh
    assert disputes.series[0].name == metrics.METRICS["disputes_total"].zh
    tw = deck.values["township"]
    assert list(charts[1].plots[0].series[0].values) == [
        tw["resolved_at_grid"], tw["resolved_in_village"] - tw["resolved_at_grid"],
        tw["disputes_resolved"] - tw["resolved_in_village"]]
    assert list(charts[2].plots[0].series[0].values) == pytest.approx([m["volunteer_hours"] for m in months])
    top = sorted(deck.values["villages"].values(), key=lambda m: -m["volunteer_hours"])[:10]
    assert list(charts[3].plots[0].series[0].values) == pytest.approx([m["volunteer_hours"] for m in top])
    assert list(charts[4].plots[0].series[0].values) == [m["rep_visits"] for m in months]
    assert sum(charts[5].plots[0].series[0].values) == tw["suggestions_collected"]


def test_charts_are_editable_with_embedded_workbooks(built):
    _, prs, _ = built
    for c in _charts(prs):
        assert c.part.chart_workbook.xlsx_part is not None   # "Edit data" opens this workbook


def test_ranking_is_a_table_with_every_village(built):
    deck, prs, _ = built
    every = [sh.table for s in prs.slides for sh in s.shapes if sh.has_table]
    assert every and every[0].cell(0, 0).text == "排名"
    tables = [t for t in every if t.cell(0, 0).text == "排名"]    # the 督办 table follows them
    names = [r.cells[1].text for t in tables for r in list(t.rows)[1:]]
    assert names == [r[1] for r in deck.slide("ranking").table.rows]
    sup = [t for t in every if t.cell(0, 0).text == "案件编号"]
    assert len(sup) == 1
    assert [[c.text for c in r.cells] for r in list(sup[0].rows)[1:]] == deck.slide("supervision").table.rows


def test_kpis_and_briefing_text_are_on_the_slides(built):
    deck, prs, _ = built
    text = _texts(prs)
    for k in deck.slide("kpis").kpis:
        assert k.name in text and k.text in text and k.mom_text in text
    for line in deck.slide("briefing").lines:
        assert line in text
    assert "青山镇基层治理工作汇报" in text and "2025年第3季度" in text


def test_every_run_and_chart_sets_the_east_asian_font(built):
    _, prs, _ = built
    runs = 0
    for s in prs.slides:
        for r in s.shapes._spTree.iter(qn("a:r")):
            rpr = r.find(qn("a:rPr"))
            assert rpr is not None and rpr.find(qn("a:ea")).get("typeface") == FONT
            assert rpr.find(qn("a:ea")).get("charset") == "-122"
            runs += 1
    assert runs > 100
    for c in _charts(prs):
        ea = c._chartSpace.find(".//" + qn("c:txPr")).find(".//" + qn("a:ea"))
        assert ea is not None and ea.get("typeface") == FONT


def test_map_slide_says_it_was_left_out(built):
    deck, prs, _ = built
    assert deck.slide("map").map.note in _texts(prs)


def test_geometry_is_whole_emus_inside_the_slide(built):
    """PowerPoint refuses a file with a fractional coordinate (python-pptx writes floats as-is)."""
    import re
    import zipfile
    deck, prs, _ = built
    z = zipfile.ZipFile(io.BytesIO(to_pptx(deck)))
    attr = re.compile(r'<(?:a|p):(?:off|ext|chOff|chExt)\s([^>]*)/>|<a:gridCol w="([^"]*)"|<a:tr h="([^"]*)"')
    for name in z.namelist():
        if name.startswith("ppt/slides/slide") and name.endswith(".xml"):
            xml = z.read(name).decode("utf-8")
            for m in attr.finditer(xml):
                values = re.findall(r'(?:x|y|cx|cy)="([^"]*)"', m.group(1) or "") + [v for v in m.groups()[1:] if v]
                assert all(re.fullmatch(r"-?\d+", v) for v in values), (name, m.group(0))
    W, H = prs.slide_width, prs.slide_height
    for s in prs.slides:
        for sh in s.shapes:
            assert 0 <= sh.left and 0 <= sh.top and sh.left + sh.width <= W and sh.top + sh.height <= H, sh.name
