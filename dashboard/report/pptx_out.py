"""The deck as PowerPoint: native, editable charts; tables as tables; the map as a picture.

Chinese text: PowerPoint and WPS choose the font for Chinese characters from the
run's East Asian font (``a:ea``), not from ``a:latin`` (which is all python-pptx's
``font.name`` sets), so every run, chart text body and table cell gets ``a:latin``,
``a:ea`` and ``a:cs`` set to 微软雅黑 with its PANOSE and the GB2312 charset
(-122). The charset is the fallback: on a machine without 微软雅黑, PowerPoint
substitutes another installed GB2312 font rather than a Latin one; the theme's
East Asian and ``Hans`` script fonts are set too, for text typed later.
"""
from __future__ import annotations

import io

from lxml import etree
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.opc.constants import RELATIONSHIP_TYPE as RT
from pptx.oxml.ns import qn
from pptx.util import Emu, Inches, Pt

from dashboard import fmt, settings
from dashboard.i18n import t
from dashboard.report import paging
from dashboard.report.deck import Chart, Deck, Slide
from dashboard.report.figures import labelled_points

FONT = "微软雅黑"
PANOSE = "020B0503020204020204"
CHARSET = "-122"          # GB2312_CHARSET: substitute with a Chinese font when 微软雅黑 is absent
RED = RGBColor(0xB2, 0x22, 0x22)
DARK = RGBColor(0x22, 0x22, 0x22)
GREY = RGBColor(0x66, 0x66, 0x66)
GOOD = RGBColor(0x1B, 0x7F, 0x3B)
WHITE = RGBColor(0xFF, 0xFF, 0xFF)
PALETTE = ["B22222", "1F4E79", "D98E04", "4F8A3C", "7B5EA7", "808080"]
ROWS_PER_TABLE_SLIDE = settings.SLIDE_TABLE_ROWS   # most rows on one slide (paging splits longer ones)

W, H = Inches(13.333), Inches(7.5)
BAND = Inches(0.95)
MARGIN = Inches(0.5)

_CHART_TYPES = {"column": XL_CHART_TYPE.COLUMN_CLUSTERED, "bar": XL_CHART_TYPE.BAR_CLUSTERED,
                "line": XL_CHART_TYPE.LINE_MARKERS, "pie": XL_CHART_TYPE.PIE}


# ---------------------------------------------------------------- fonts

def set_ea(rPr, typeface: str = FONT) -> None:
    """Give a run-properties element (a:rPr / a:defRPr / a:endParaRPr) latin, ea and cs fonts."""
    for tag in ("a:latin", "a:ea", "a:cs"):
        old = rPr.find(qn(tag))
        if old is not None:
            rPr.remove(old)
    # schema order inside rPr: ln, fills, effects, highlight, uLnTx/uLn, uFillTx/uFill, latin, ea, cs, sym, ...
    after = [qn(x) for x in ("a:sym", "a:hlinkClick", "a:hlinkMouseOver", "a:rtl", "a:extLst")]
    anchor = next((c for c in rPr if c.tag in after), None)
    for tag in ("a:latin", "a:ea", "a:cs"):
        el = etree.SubElement(rPr, qn(tag))
        el.set("typeface", typeface)
        el.set("panose", PANOSE)
        el.set("pitchFamily", "34")
        el.set("charset", CHARSET)
        if anchor is not None:
            anchor.addprevious(el)


def style(font, size: float | None = None, bold: bool | None = None, color: RGBColor | None = None):
    if size:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    if color is not None:
        font.color.rgb = color
    set_ea(font._rPr)  # noqa: SLF001 - python-pptx exposes no API for a:ea


def _theme_fonts(prs) -> None:
    part = prs.slide_masters[0].part.part_related_by(RT.THEME)
    xml = part.blob.decode("utf-8")
    xml = xml.replace('<a:ea typeface=""/>', f'<a:ea typeface="{FONT}"/>')
    xml = xml.replace('<a:font script="Hans" typeface="宋体"/>', f'<a:font script="Hans" typeface="{FONT}"/>')
    part._blob = xml.encode("utf-8")  # noqa: SLF001 - the theme is a plain part in python-pptx


# ---------------------------------------------------------------- building blocks

def _emu(*values) -> list[Emu]:
    """Whole EMUs: the file format takes integers only ("457200.0" makes PowerPoint refuse the file)."""
    return [Emu(int(round(v))) for v in values]


def _text(slide, x, y, w, h, lines, size=18, bold=False, color=DARK, align=PP_ALIGN.LEFT,
          anchor=MSO_ANCHOR.TOP, space=6):
    box = slide.shapes.add_textbox(*_emu(x, y, w, h))
    tf = box.text_frame
    tf.word_wrap = True
    tf.vertical_anchor = anchor
    for i, line in enumerate([lines] if isinstance(lines, str) else lines):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.alignment = align
        p.space_after = Pt(space)
        r = p.add_run()
        r.text = line
        style(r.font, size, bold, color)
    return box


def _demo_mark(slide, deck: Deck) -> None:
    """演示数据 in the footer of every slide of a demo deck (a slide copied alone still says it)."""
    if deck.demo:
        _text(slide, Inches(6.2), H - Inches(0.45), Inches(2.6), Inches(0.35), deck.mark, 12, True, RED,
              PP_ALIGN.CENTER)


def _frame(prs, deck: Deck, s: Slide, number: int, total: int, title: str | None = None):
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    band = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, 0, 0, W, BAND)
    band.fill.solid()
    band.fill.fore_color.rgb = RED
    band.line.fill.background()
    _text(slide, MARGIN, Inches(0.12), Inches(8.8), Inches(0.75), title or s.title, 30, True, WHITE,
          anchor=MSO_ANCHOR.MIDDLE)
    _text(slide, Inches(9.2), Inches(0.12), Inches(3.6), Inches(0.75), s.subtitle, 16, False, WHITE,
          PP_ALIGN.RIGHT, MSO_ANCHOR.MIDDLE)
    _text(slide, MARGIN, H - Inches(0.45), Inches(8), Inches(0.35), f"{deck.township} · {deck.period_label}",
          11, False, GREY)
    _text(slide, W - Inches(2.5), H - Inches(0.45), Inches(2), Inches(0.35), f"{number} / {total}", 11,
          False, GREY, PP_ALIGN.RIGHT)
    _demo_mark(slide, deck)
    _notes(slide, s)
    return slide


def _notes(slide, s: Slide) -> None:
    """Speaker notes: the slide's sentences and its notes (the data-quality count), for the presenter."""
    if s.lines or s.notes:
        notes = slide.notes_slide.notes_text_frame
        notes.text = "\n".join([*s.lines, *s.notes])
        for p in notes.paragraphs:
            for r in p.runs:
                style(r.font, 14)


def add_chart(slide, c: Chart, x, y, w, h):
    data = CategoryChartData(number_format=c.number_format)
    data.categories = c.categories
    for se in c.series:
        data.add_series(se.name, [None if v is None else float(v) for v in se.values])
    chart = slide.shapes.add_chart(_CHART_TYPES[c.kind], *_emu(x, y, w, h), data).chart
    chart.font.size = Pt(12)
    set_ea(chart.font._rPr)  # noqa: SLF001
    chart.has_title = True
    chart.chart_title.text_frame.text = c.title
    for p in chart.chart_title.text_frame.paragraphs:
        for r in p.runs:
            style(r.font, 16, True, DARK)
    plot = chart.plots[0]
    plot.has_data_labels = True
    dl = plot.data_labels
    dl.font.size = Pt(11)
    set_ea(dl.font._rPr)  # noqa: SLF001
    if c.kind == "pie":
        # each slice labelled in words, "网格 45（70.3%）": value and percentage share one number
        # format in PowerPoint's own labels, which printed "45; 1"
        dl.show_value = dl.show_percentage = dl.show_category_name = False
        dl.position = XL_LABEL_POSITION.OUTSIDE_END
        chart.has_legend = True
        chart.legend.position = XL_LEGEND_POSITION.BOTTOM
        chart.legend.include_in_layout = False
        for i, point in enumerate(plot.series[0].points):
            point.format.fill.solid()
            point.format.fill.fore_color.rgb = RGBColor.from_string(PALETTE[i % len(PALETTE)])
            point.data_label.text_frame.text = pie_label(c, i)
            point.data_label.position = XL_LABEL_POSITION.OUTSIDE_END
            for p in point.data_label.text_frame.paragraphs:
                for r in p.runs:
                    style(r.font, 11, False, DARK)
    else:
        dl.number_format = c.number_format
        dl.number_format_is_linked = False
        chart.has_legend = len(c.series) > 1
        if chart.has_legend:
            chart.legend.position = XL_LEGEND_POSITION.BOTTOM
            chart.legend.include_in_layout = False
        va = chart.value_axis
        va.minimum_scale = 0          # counts and hours from zero: a 13 % rise never looks fourfold
        va.has_major_gridlines = True
        va.tick_labels.number_format = c.number_format
        va.tick_labels.number_format_is_linked = False
        if c.kind == "bar":
            chart.category_axis.reverse_order = True   # the first (largest) bar on top
        for i, se in enumerate(plot.series):
            color = RGBColor.from_string(PALETTE[i % len(PALETTE)])
            if c.kind == "line":
                se.format.line.color.rgb = color
                se.format.line.width = Pt(2.5)
                se.smooth = False
                _sparse_labels(se, c.series[i].values)
            else:
                se.format.fill.solid()
                se.format.fill.fore_color.rgb = color
        if c.kind in ("column", "bar"):
            plot.gap_width = 60
    return chart


def pie_label(c: Chart, i: int) -> str:
    values = [v or 0 for v in c.series[0].values]
    total = sum(values)
    share = fmt.pct(values[i] / total) if total else fmt.NONE
    return f"{c.categories[i]} {fmt.value(values[i], c.value_kind)}（{share}）"


def _sparse_labels(se, values) -> None:
    """Only figures.labelled_points keep a data label on a long line (a year's months)."""
    keep = labelled_points(values)
    for i in range(len(values)):
        if i in keep:
            continue
        dLbl = se.points[i].data_label._get_or_add_dLbl()  # noqa: SLF001 - no API to hide one label
        for child in list(dLbl)[1:]:
            dLbl.remove(child)
        etree.SubElement(dLbl, qn("c:delete")).set("val", "1")


def add_table(slide, columns, rows, x, y, w, numeric=(), highlight=(), size=11):
    n_rows = len(rows) + 1
    row_h = Inches(0.22 if size <= 11 else 0.3)
    shape = slide.shapes.add_table(n_rows, len(columns), *_emu(x, y, w, row_h * n_rows))
    table = shape.table
    if len(columns) > 3:  # narrow rank column, wider name column, the figures evenly
        first, second = Inches(0.6), Inches(1.7)
        rest = int((w - first - second) / (len(columns) - 2))
        for j, col in enumerate(table.columns):
            col.width = Emu(int(first if j == 0 else second if j == 1 else rest))
    for j, name in enumerate(columns):
        cell = table.cell(0, j)
        cell.text = name
        cell.fill.solid()
        cell.fill.fore_color.rgb = RED
        for p in cell.text_frame.paragraphs:
            p.alignment = PP_ALIGN.CENTER
            for r in p.runs:
                style(r.font, size - 1, True, WHITE)
    for i, row in enumerate(rows, start=1):
        for j, v in enumerate(row):
            cell = table.cell(i, j)
            cell.text = v
            cell.margin_top = cell.margin_bottom = Inches(0.02)
            for p in cell.text_frame.paragraphs:
                p.alignment = PP_ALIGN.RIGHT if (j < len(numeric) and numeric[j]) else PP_ALIGN.LEFT
                for r in p.runs:
                    style(r.font, size, False, RED if (i - 1) in highlight else DARK)
        table.rows[i].height = row_h
    table.rows[0].height = row_h
    return table


# ---------------------------------------------------------------- slides

def _title_slide(prs, deck: Deck, s: Slide):
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    band = slide.shapes.add_shape(MSO_SHAPE.RECTANGLE, 0, Inches(2.0), W, Inches(1.7))
    band.fill.solid()
    band.fill.fore_color.rgb = RED
    band.line.fill.background()
    _text(slide, MARGIN, Inches(2.05), W - 2 * MARGIN, Inches(1.0), s.title, 40, True, WHITE, PP_ALIGN.CENTER,
          MSO_ANCHOR.MIDDLE)
    _text(slide, MARGIN, Inches(2.95), W - 2 * MARGIN, Inches(0.7), s.subtitle, 26, False, WHITE,
          PP_ALIGN.CENTER, MSO_ANCHOR.MIDDLE)
    # 16 pt: six lines (seven with 演示数据, the 数据截至 line wraps) fit above the footer
    _text(slide, Inches(2.5), Inches(4.2), W - Inches(5), Inches(2.8), s.lines, 16, False, DARK, space=8)
    _demo_mark(slide, deck)
    _notes(slide, s)


def _kpi_slide(prs, deck, s, number, total):
    slide = _frame(prs, deck, s, number, total)
    per_row = 4
    cw, ch = Inches(2.95), Inches(2.55)
    gap = (W - 2 * MARGIN - per_row * cw) / (per_row - 1)
    for i, k in enumerate(s.kpis):
        x = MARGIN + (i % per_row) * (cw + gap)
        y = Inches(1.25) + (i // per_row) * (ch + Inches(0.25))
        card = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, *_emu(x, y, cw, ch))
        card.adjustments[0] = 0.06
        card.fill.solid()
        card.fill.fore_color.rgb = RGBColor(0xF7, 0xF3, 0xEE)
        card.line.color.rgb = RGBColor(0xD8, 0xCF, 0xC4)
        _text(slide, x + Inches(0.15), y + Inches(0.1), cw - Inches(0.3), Inches(0.5), k.name, 18, True, DARK)
        box = _text(slide, x + Inches(0.15), y + Inches(0.6), cw - Inches(0.3), Inches(0.9), k.text, 32,
                    True, RED)
        if k.unit != "%":  # the unit smaller, so 8,255.5 小时 stays on one line
            r = box.text_frame.paragraphs[0].add_run()
            r.text = f" {k.unit}"
            style(r.font, 16, False, RED)
        lines = [f"{t('meeting.mom', deck.lang)} {k.mom_text}", f"{t('meeting.yoy', deck.lang)} {k.yoy_text}"]
        box = _text(slide, x + Inches(0.15), y + Inches(1.55), cw - Inches(0.3), Inches(0.9), lines, 15, False,
                    GREY, space=2)
        for p, change in zip(box.text_frame.paragraphs, (k.mom, k.yoy)):
            if change and k.direction != "neutral":
                good = (change > 0) == (k.direction == "higher")
                for r in p.runs:
                    r.font.color.rgb = GOOD if good else RED
    _text(slide, MARGIN, H - Inches(0.95), W - 2 * MARGIN, Inches(0.45), s.lines, 13, False, GREY)


def _topic_slide(prs, deck, s, number, total):
    slide = _frame(prs, deck, s, number, total)
    _text(slide, MARGIN, Inches(1.1), W - 2 * MARGIN, Inches(0.8), s.lines, 17, False, DARK)
    n = len(s.charts)
    cw = (W - 2 * MARGIN - Inches(0.3) * (n - 1)) / max(n, 1)
    for i, c in enumerate(s.charts):
        add_chart(slide, c, MARGIN + i * (cw + Inches(0.3)), Inches(1.95), cw, H - Inches(2.55))


def _map_slide(prs, deck, s, number, total):
    slide = _frame(prs, deck, s, number, total)
    _text(slide, MARGIN, Inches(1.1), W - 2 * MARGIN, Inches(0.5), s.lines, 17, False, DARK)
    m = s.map
    if m and m.png:
        from PIL import Image
        im = Image.open(io.BytesIO(m.png))
        box_w, box_h = W - 2 * MARGIN, H - Inches(2.6)
        scale = min(box_w / im.width, box_h / im.height)
        pw, ph = int(im.width * scale), int(im.height * scale)
        slide.shapes.add_picture(io.BytesIO(m.png), int((W - pw) / 2), Inches(1.65), pw, ph)
    _text(slide, MARGIN, H - Inches(0.95) if (m and m.png) else Inches(3.2), W - 2 * MARGIN, Inches(0.5),
          m.note if m else "", 14 if (m and m.png) else 22, False, GREY,
          PP_ALIGN.CENTER)


def _table_slides(prs, deck, s, number, total):
    for ci, part in enumerate(paging.table_pages(s, deck.lang)):
        tb = part.table
        slide = _frame(prs, deck, part, number + ci, total)
        _text(slide, MARGIN, Inches(1.02), W - 2 * MARGIN, Inches(0.4), s.lines, 13, False, GREY)
        add_table(slide, tb.columns, tb.rows, MARGIN, Inches(1.45), W - 2 * MARGIN, tb.numeric,
                  tb.highlight, size=11)


def _text_slide(prs, deck, s, number, total, size):
    slide = _frame(prs, deck, s, number, total)
    _text(slide, Inches(0.8), Inches(1.3), W - Inches(1.6), H - Inches(2.0),
          [("• " + x if s.kind == "alerts" else x) for x in s.lines], size, False, DARK, space=14)


def _slides_for(s: Slide) -> int:
    return len(paging.table_pages(s, "zh")) if s.table is not None else 1


def slide_count(deck: Deck) -> int:
    """PowerPoint slides for the deck (a long table takes more than one)."""
    return sum(_slides_for(s) for s in deck.slides)


def to_pptx(deck: Deck) -> bytes:
    prs = Presentation()
    prs.slide_width, prs.slide_height = W, H
    _theme_fonts(prs)
    prs.core_properties.title = deck.title
    prs.core_properties.subject = deck.period_label
    prs.core_properties.author = deck.preparer or deck.unit
    prs.core_properties.language = "zh-CN" if deck.lang == "zh" else "en-US"
    total = slide_count(deck)
    number = 1
    for s in deck.slides:
        if s.kind == "title":
            _title_slide(prs, deck, s)
        elif s.kind == "kpis":
            _kpi_slide(prs, deck, s, number, total)
        elif s.charts:
            _topic_slide(prs, deck, s, number, total)
        elif s.kind == "map":
            _map_slide(prs, deck, s, number, total)
        elif s.table is not None:
            _table_slides(prs, deck, s, number, total)
            number += _slides_for(s) - 1
        else:
            _text_slide(prs, deck, s, number, total, 22 if s.kind == "briefing" else 20)
        number += 1
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()
