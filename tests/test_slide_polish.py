"""Chart polish seen by leaders, checked in the PPTX XML and in Figure.to_dict(): pie slices
labelled in words, value axes from zero, no crowded line labels, the ranking paged (27 villages
in halves, a county's 500 as top and bottom), and the slide geometry legible at 1080p."""
import io

import pytest
from pptx import Presentation
from pptx.oxml.ns import qn

from dashboard import periods, settings
from dashboard.db.engine import get_engine
from dashboard.report import build_deck, paging, to_pptx
from dashboard.report.deck import Chart, Series, Slide, Table
from dashboard.report.figures import figure, labelled_points

Q4 = periods.quarter(2025, 4)
C = "{http://schemas.openxmlformats.org/drawingml/2006/chart}"


@pytest.fixture(scope="module")
def q4(demo_url):
    with get_engine(demo_url).connect() as conn:
        deck = build_deck(conn, Q4, None, "zh", 0.9, with_map=False)
    return deck, Presentation(io.BytesIO(to_pptx(deck)))


def _charts(prs):
    return [sh.chart for s in prs.slides for sh in s.shapes if sh.has_chart]


def _labels(chart) -> list[str]:
    return ["".join(t.text for t in d.iter(qn("a:t"))) for d in chart._chartSpace.iter(C + "dLbl")
            if d.find(C + "tx") is not None]


def test_pie_labels_name_the_slice_and_its_value(q4):
    deck, prs = q4
    pies = [c for c in _charts(prs) if c.chart_type is not None and "PIE" in str(c.chart_type)]
    # 2025 Q4 in the demo: 64 resolved disputes, 45 at the grid, 11 in the village, 8 above
    assert _labels(pies[0]) == ["网格 45（70.3%）", "村级 11（17.2%）", "乡镇及以上 8（12.5%）"]
    for pie in pies:    # PowerPoint's own "value; percentage" labels are off
        plot_dl = pie._chartSpace.find(f".//{C}pieChart/{C}dLbls")
        assert plot_dl.find(C + "showVal").get("val") == "0" and plot_dl.find(C + "showPercent").get("val") == "0"
        assert len(_labels(pie)) == 3 and all("; " not in x and "（" in x for x in _labels(pie))


def test_value_axes_start_at_zero(q4):
    _, prs = q4
    for chart in _charts(prs):
        if "PIE" in str(chart.chart_type):
            continue
        assert chart.value_axis.minimum_scale == 0, chart.chart_title.text_frame.text
    deck, _ = q4
    line = next(c for c in deck.charts() if c.kind == "line")
    assert min(v for v in line.series[0].values) > 2900       # the Q4 hours line that started at 3,000
    assert figure(line).to_dict()["layout"]["yaxis"]["range"][0] == 0


def test_a_year_of_months_labels_only_first_last_highest_lowest(demo_url):
    values = [5, 9, 3, 7, 8, 6, 4, 10, 2, 6, 7, 8]
    assert labelled_points(values) == {0, 11, 7, 8}
    assert labelled_points([1, 2, 3]) == {0, 1, 2}
    c = Chart("line", "时长", [f"{m}月" for m in range(1, 13)], [Series("时长", values)], value_kind="hours")
    text = figure(c).to_dict()["data"][0]["text"]
    assert [i for i, x in enumerate(text) if x] == [0, 7, 8, 11]
    with get_engine(demo_url).connect() as conn:
        deck = build_deck(conn, periods.year(2025), None, "zh", 0.9, with_map=False)
    prs = Presentation(io.BytesIO(to_pptx(deck)))
    [line] = [c for c in _charts(prs) if "LINE" in str(c.chart_type)]
    deleted = [d.find(C + "idx").get("val") for d in line._chartSpace.iter(C + "dLbl")
               if d.find(C + "delete") is not None]
    keep = labelled_points(next(c for c in deck.charts() if c.kind == "line").series[0].values)
    assert len(keep) <= 4 and len(deleted) == 12 - len(keep) and not {int(i) for i in deleted} & keep


def _table_slide(n: int) -> Slide:
    rows = [[str(i + 1), f"村{i + 1}", "1"] for i in range(n)]
    return Slide("ranking", "村（社区）排名", "2025年第4季度",
                 table=Table(["排名", "村", "指数"], rows, [True, False, True], highlight=[1, n - 1],
                             raw=[[i + 1] for i in range(n)]))


def test_ranking_pages():
    one = paging.table_pages(_table_slide(20), "zh")
    assert [s.title for s in one] == ["村（社区）排名"]
    halves = paging.table_pages(_table_slide(27), "zh")
    assert [s.title for s in halves] == ["村（社区）排名（1/2）", "村（社区）排名（2/2）"]
    assert [len(s.table.rows) for s in halves] == [14, 13]
    assert halves[0].table.highlight == [1] and halves[1].table.highlight == [12]
    county = paging.table_pages(_table_slide(500), "zh")
    assert [s.title for s in county] == ["村（社区）排名：前10名", "村（社区）排名：后10名（末位在前）"]
    assert [r[0] for r in county[0].table.rows] == [str(i) for i in range(1, 11)]
    assert [r[0] for r in county[1].table.rows] == [str(i) for i in range(500, 490, -1)]   # worst first
    assert county[1].table.highlight == [0] and county[1].table.raw[0] == [500]


def test_long_text_is_paged_at_item_boundaries_and_inside_a_too_long_item():
    names = "、".join(f"村{i:03d}（50.0%）" for i in range(400))
    pages = paging.text_pages(["短句一。", names, "短句二。"], chars_per_line=60, rows_per_page=15)
    assert pages[0][0] == "短句一。" and pages[-1][-1] == "短句二。"
    assert "".join(x for p in pages for x in p) == "短句一。" + names + "短句二。"    # nothing lost
    for p in pages:
        assert sum(paging._rows(x, 60) + 0.5 for x in p) <= 15


def test_pptx_ranking_of_a_county_is_top_and_bottom(q4):
    deck, _ = q4
    from dataclasses import replace
    big = replace(deck, slides=[_table_slide(500) if s.kind == "ranking" else s for s in deck.slides])
    prs = Presentation(io.BytesIO(to_pptx(big)))
    titles = [sh.text_frame.text for s in prs.slides for sh in s.shapes
              if sh.has_text_frame and sh.text_frame.text.startswith("村（社区）排名")]
    assert titles == ["村（社区）排名：前10名", "村（社区）排名：后10名（末位在前）"]


def test_pptx_text_is_legible_at_1080p():
    # 7.5 in = 540 pt on a 1080-pixel screen: 1 pt = 2 px, so the smallest PPTX text (11 pt in
    # tables and chart labels) is 22 px there, above the 20 px minimum
    assert 11 * settings.SLIDE_HEIGHT_PX / 540 >= settings.SLIDE_MIN_FONT_PX
