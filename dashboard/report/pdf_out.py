"""The deck as an A4 PDF report: header block, one topic per page, page numbers, fonts embedded.

Charts are drawn with reportlab's own vector graphics (``reportlab.graphics``)
from the deck's numbers, not rendered as images by a browser: the PDF needs no
Chromium, is fast and deterministic, stays sharp when printed, and its chart
labels are real text in the embedded Chinese font. Only the map arrives as an
image (from dashboard.maps, which needs Chromium); without it the map page says
the map was left out.
"""
from __future__ import annotations

import io

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.charts.piecharts import Pie
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import (BaseDocTemplate, Frame, Image, KeepInFrame, KeepTogether, PageBreak,
                                PageTemplate, Paragraph, Spacer, Table, TableStyle)

from dashboard import fmt, i18n
from dashboard.i18n import t
from dashboard.report.deck import Chart, Deck, Slide
from dashboard.report.fonts import CJKFont, cjk_font

RED = colors.HexColor("#B22222")
GREY = colors.HexColor("#666666")
LIGHT = colors.HexColor("#F4F1EC")
PALETTE = [colors.HexColor("#" + c) for c in ("B22222", "1F4E79", "D98E04", "4F8A3C", "7B5EA7", "808080")]
MARGIN = 16 * mm
OWN_TEXT = ("meeting.pdf", "meeting.onepage", "meeting.slide_")   # catalogue strings the PDFs draw themselves


def _esc(s: str) -> str:
    return (s or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Styles:
    def __init__(self, regular: str, bold: str):
        base = dict(fontName=regular, leading=16, fontSize=11, wordWrap="CJK")
        self.body = ParagraphStyle("body", **base)
        self.lead = ParagraphStyle("lead", **{**base, "fontSize": 12.5, "leading": 20})
        self.title = ParagraphStyle("title", **{**base, "fontName": bold, "fontSize": 24, "leading": 32,
                                                "alignment": TA_CENTER, "textColor": RED})
        self.subtitle = ParagraphStyle("subtitle", **{**base, "fontSize": 16, "leading": 24,
                                                      "alignment": TA_CENTER})
        self.h1 = ParagraphStyle("h1", **{**base, "fontName": bold, "fontSize": 18, "leading": 26,
                                          "textColor": RED, "spaceAfter": 6})
        self.cell = ParagraphStyle("cell", **{**base, "fontSize": 9, "leading": 11})
        self.cell_r = ParagraphStyle("cell_r", **{**base, "fontSize": 9, "leading": 11, "alignment": 2})
        self.head = ParagraphStyle("head", **{**base, "fontName": bold, "fontSize": 9, "leading": 11,
                                              "textColor": colors.white, "alignment": TA_CENTER})
        self.big = ParagraphStyle("big", **{**base, "fontSize": 13, "leading": 18})
        self.big_r = ParagraphStyle("big_r", **{**base, "fontSize": 13, "leading": 18, "alignment": 2})
        self.big_head = ParagraphStyle("big_head", **{**base, "fontName": bold, "fontSize": 13, "leading": 18,
                                                      "textColor": colors.white, "alignment": TA_CENTER})
        self.note = ParagraphStyle("note", **{**base, "fontSize": 9.5, "leading": 13, "textColor": GREY})
        self.bullet = ParagraphStyle("bullet", **{**base, "fontSize": 12.5, "leading": 20, "leftIndent": 14,
                                                  "bulletIndent": 2, "spaceAfter": 6})
        self.demo = ParagraphStyle("demo", **{**base, "fontName": bold, "fontSize": 14, "leading": 20,
                                              "textColor": RED, "alignment": TA_CENTER})
        self.brief = ParagraphStyle("brief", **{**base, "fontSize": 13, "leading": 24, "firstLineIndent": 26,
                                                "spaceAfter": 8, "alignment": TA_LEFT})


def _numbered_canvas(deck: Deck, regular: str):
    """A canvas that knows the page count when it writes each page's footer (第 X 页 / 共 Y 页)."""
    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._pages = []
            self.setTitle(deck.title)
            self.setAuthor(deck.preparer or deck.unit)
            self.setSubject(deck.period_label)

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int):
            w, h = self._pagesize
            self.saveState()
            self.setFont(regular, 9)
            self.setFillColor(GREY)
            self.drawString(MARGIN, h - 10 * mm, f"{deck.title} · {deck.period_label}")
            self.drawRightString(w - MARGIN, h - 10 * mm, deck.unit)
            self.setStrokeColor(RED)
            self.setLineWidth(0.8)
            self.line(MARGIN, h - 11.5 * mm, w - MARGIN, h - 11.5 * mm)
            self.drawCentredString(w / 2, 8 * mm, t("meeting.pdf_page", deck.lang,
                                                    page=self._pageNumber, total=total))
            if deck.demo:  # every printed page says the figures are not real
                self.setFillColor(RED)
                self.drawString(MARGIN, 8 * mm, deck.mark)
            self.restoreState()

    return NumberedCanvas


# ---------------------------------------------------------------- charts

def _label(v, kind: str) -> str:
    return fmt.value(v, kind)


def chart_drawing(c: Chart, width: float, height: float, font: str, bold: str) -> Drawing:
    d = Drawing(width, height)
    d.add(String(width / 2, height - 14, c.title, fontName=bold, fontSize=11.5, textAnchor="middle"))
    legend_h = 18 if (len(c.series) > 1 or c.kind == "pie") else 0
    top = height - 26
    if c.kind == "pie":
        values = [float(v or 0) for v in c.series[0].values]
        total = sum(values)
        if total <= 0:
            d.add(String(width / 2, height / 2, fmt.NONE, fontName=font, fontSize=14, textAnchor="middle"))
            return d
        pie = Pie()
        size = min(width * 0.5, top - legend_h - 40)
        pie.x, pie.y = (width - size) / 2, legend_h + 18
        pie.width = pie.height = size
        pie.data = values
        pie.labels = [f"{_label(v, c.value_kind)}（{fmt.pct(v / total)}）" for v in values]
        pie.simpleLabels = 1
        pie.slices.fontName = font
        pie.slices.fontSize = 9
        pie.slices.strokeColor = colors.white
        pie.sideLabels = 1
        pie.slices.label_pointer_piePad = 6
        for i in range(len(values)):
            pie.slices[i].fillColor = PALETTE[i % len(PALETTE)]
        d.add(pie)
        leg = Legend()
        leg.colorNamePairs = [(PALETTE[i % len(PALETTE)], n) for i, n in enumerate(c.categories)]
    else:
        data = [[float(v) if v is not None else 0.0 for v in s.values] for s in c.series]
        cats = list(c.categories)
        if c.kind == "bar":
            ch = HorizontalBarChart()
            data = [list(reversed(row)) for row in data]
            cats = list(reversed(cats))
            ch.x, ch.y = 70, legend_h + 16
            ch.width, ch.height = width - 110, top - legend_h - 26
        else:
            ch = HorizontalLineChart() if c.kind == "line" else VerticalBarChart()
            ch.x, ch.y = 42, legend_h + 30
            ch.width, ch.height = width - 60, top - legend_h - 40
        ch.data = data
        ch.categoryAxis.categoryNames = cats
        ch.categoryAxis.labels.fontName = font
        ch.categoryAxis.labels.fontSize = 8.5
        ch.valueAxis.labels.fontName = font
        ch.valueAxis.labels.fontSize = 8
        ch.valueAxis.valueMin = 0
        ch.valueAxis.visibleGrid = True
        ch.valueAxis.gridStrokeColor = colors.HexColor("#DDDDDD")
        hi = max([v for row in data for v in row] + [1])
        ch.valueAxis.valueMax = hi * 1.15
        if len(cats) > 8 and c.kind != "bar":
            ch.categoryAxis.labels.angle = 30
            ch.categoryAxis.labels.boxAnchor = "ne"
        kind = c.value_kind
        if c.kind == "line":
            for i in range(len(data)):
                ch.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
                ch.lines[i].strokeWidth = 2
                ch.lines[i].symbol = makeMarker("FilledCircle")
            ch.lineLabelFormat = lambda v, k=kind: _label(v, k)
            ch.lineLabels.fontName = font
            ch.lineLabels.fontSize = 8
            ch.lineLabels.dy = 6
        else:
            for i in range(len(data)):
                ch.bars[i].fillColor = PALETTE[i % len(PALETTE)]
                ch.bars[i].strokeColor = None
            ch.barLabelFormat = lambda v, k=kind: _label(v, k)
            ch.barLabels.fontName = font
            ch.barLabels.fontSize = 7.5
            if c.kind == "bar":
                ch.barLabels.boxAnchor = "w"
                ch.barLabels.dx = 3
                ch.categoryAxis.labels.boxAnchor = "e"
            else:
                ch.barLabels.nudge = 7
            ch.groupSpacing = 6
            ch.barSpacing = 1
        d.add(ch)
        leg = Legend()
        leg.colorNamePairs = [(PALETTE[i % len(PALETTE)], s.name) for i, s in enumerate(c.series)]
    if legend_h:
        leg.fontName = font
        leg.fontSize = 9
        leg.alignment = "right"
        leg.columnMaximum = 1
        leg.x = width / 2 - 40 * len(leg.colorNamePairs)
        leg.y = 10
        leg.dx = leg.dy = 8
        leg.deltax = 80
        d.add(leg)
    return d


# ---------------------------------------------------------------- pages

def _header_block(deck: Deck, st: _Styles, width: float) -> Table:
    lang = deck.lang
    made = deck.generated_at.strftime("%Y-%m-%d")
    cells = [[t("meeting.pdf_header_unit", lang), deck.unit, t("meeting.pdf_header_period", lang), deck.period_label],
             [t("meeting.pdf_header_preparer", lang), deck.preparer or fmt.NONE,
              t("meeting.pdf_header_date", lang), made]]
    data = [[Paragraph(_esc(v), st.body) for v in row] for row in cells]
    tb = Table(data, colWidths=[width * 0.14, width * 0.36, width * 0.14, width * 0.36])
    tb.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, colors.black),
        ("BACKGROUND", (0, 0), (0, -1), LIGHT), ("BACKGROUND", (2, 0), (2, -1), LIGHT),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return tb


def _ems(text: str) -> float:
    """Width of a text in em: a CJK character one, anything else about half."""
    return sum(1.0 if ord(ch) > 0x2E7F else 0.55 for ch in text)


def _widths(columns, rows, width: float, font_size: float) -> list[float] | None:
    """A narrow first column (a rank) and a wider second (a name) share the page with the rest;
    a first column of codes (a case number, DS001-2024-0007) gets the width it needs, unbroken."""
    n = len(columns)
    if n <= 2:
        return None
    code = max([_ems(str(r[0])) for r in rows if r] or [0]) * font_size + 8
    first = min(width * 0.25, max(width * 0.06, code))
    second = width * 0.16
    rest = (width - first - second) / (n - 2)
    # a last column of short notes (the ranking's mark, header 说明) gets just its width, unbroken,
    # and leaves the rest to the figures: a wrapped cell doubles its row and pushes a table onto a
    # second page
    note = max([_ems(str(columns[-1]))] + [_ems(str(r[-1])) for r in rows if r]) * font_size + 14
    if n > 3 and note <= width * 0.12:
        rest = (width - first - second - note) / (n - 3)
        return [first, second] + [rest] * (n - 3) + [note]
    return [first, second] + [rest] * (n - 2)


def _table(columns, rows, numeric, highlight, st: _Styles, width: float, big: bool = False) -> Table:
    head, left, right = (st.big_head, st.big, st.big_r) if big else (st.head, st.cell, st.cell_r)
    pad = 6 if big else 1.8
    data = [[Paragraph(_esc(c), head) for c in columns]]
    for row in rows:
        data.append([Paragraph(_esc(v), right if (j < len(numeric) and numeric[j]) else left)
                     for j, v in enumerate(row)])
    tb = Table(data, colWidths=_widths(columns, rows, width, left.fontSize), repeatRows=1)
    style = [("BACKGROUND", (0, 0), (-1, 0), RED),
             ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#BBBBBB")),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
             ("TOPPADDING", (0, 0), (-1, -1), pad), ("BOTTOMPADDING", (0, 0), (-1, -1), pad)]
    for i in range(1, len(data)):
        if i % 2 == 0:
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#FAF8F5")))
    for h in highlight:
        style.append(("TEXTCOLOR", (0, h + 1), (-1, h + 1), RED))
    tb.setStyle(TableStyle(style))
    for h in highlight:  # Paragraph colour comes from its style, so recolour those cells
        for p in data[h + 1]:
            p.style = ParagraphStyle(f"{p.style.name}-red", parent=p.style, textColor=RED)
    return tb


def _charts_flow(s: Slide, font: str, bold: str, width: float, height: float, portrait: bool):
    if not s.charts:
        return []
    if portrait:
        h = min(height / len(s.charts) - 14, 300)
        out = []
        for c in s.charts:
            out += [chart_drawing(c, width, h, font, bold), Spacer(1, 12)]
        return out
    gap = 12
    w = (width - gap * (len(s.charts) - 1)) / len(s.charts)
    cells = [[chart_drawing(c, w, min(height, 400), font, bold) for c in s.charts]]
    tb = Table(cells, colWidths=[w + gap] * len(s.charts))
    tb.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [tb]


def _story(deck: Deck, st: _Styles, font: str, bold: str, width: float, height: float, portrait: bool):
    lang = deck.lang
    story = []
    for i, s in enumerate(deck.slides):
        if i:
            story.append(PageBreak())
        if s.kind == "title":
            story += [Spacer(1, height * (0.12 if portrait else 0.06)), Paragraph(_esc(s.title), st.title),
                      Spacer(1, 6), Paragraph(_esc(s.subtitle), st.subtitle), Spacer(1, 22),
                      _header_block(deck, st, width), Spacer(1, 18)]
            story += [Paragraph(_esc(x), st.lead) for x in s.lines[1:3]]
            if deck.demo:
                story += [Spacer(1, 10), Paragraph(_esc(t("meeting.line_demo", lang)), st.demo)]
            continue
        story.append(Paragraph(_esc(s.title), st.h1))
        if s.kind == "kpis":
            cols = [t(f"meeting.pdf_kpi_col_{k}", lang) for k in ("metric", "value", "unit", "mom", "yoy")]
            rows = [[k.name, k.text, k.unit, k.mom_text, k.yoy_text] for k in s.kpis]
            tb = _table(cols, rows, [False, True, False, True, True], [], st, width, big=True)
            tb._argW = [width * 0.30, width * 0.18, width * 0.12, width * 0.20, width * 0.20]
            story += [tb, Spacer(1, 10)] + [Paragraph(_esc(x), st.note) for x in s.lines]
        elif s.charts:
            story += [Paragraph(_esc(x), st.lead) for x in s.lines] + [Spacer(1, 8)]
            story += _charts_flow(s, font, bold, width, height - 90, portrait)
        elif s.kind == "map":
            story += [Paragraph(_esc(x), st.lead) for x in s.lines] + [Spacer(1, 6)]
            if s.map and s.map.png:
                from PIL import Image as PILImage
                im = PILImage.open(io.BytesIO(s.map.png))
                scale = min(width / im.width, (height - 110) / im.height)
                story.append(Image(io.BytesIO(s.map.png), im.width * scale, im.height * scale))
                story.append(Paragraph(_esc(s.map.note), st.note))
            else:
                story += [Spacer(1, 40), Paragraph(_esc(s.map.note if s.map else ""), st.subtitle)]
        elif s.table is not None:
            story += [Paragraph(_esc(x), st.note) for x in s.lines] + [Spacer(1, 4)]
            story.append(_table(s.table.columns, s.table.rows, s.table.numeric, s.table.highlight, st, width))
        elif s.kind == "alerts":
            story += [Paragraph(_esc(x), st.bullet, bulletText="•") for x in s.lines]
        else:
            story += [Paragraph(_esc(x), st.brief) for x in s.lines]
    return [KeepTogether([x]) if isinstance(x, Drawing) else x for x in story]


def pdf_font(deck: Deck, font_dirs=None) -> CJKFont:
    """The fonts the deck's PDF is drawn with: every character it prints (the deck's texts and
    the exporter's own labels) drawn by the faces under ``font_dirs`` (default: the
    DASHBOARD_FONT_DIRS setting); ``embedded`` False when the server lacks a Chinese font."""
    texts = deck.texts() + [v for k, v in i18n.catalogue(deck.lang).items() if k.startswith(OWN_TEXT)]
    return cjk_font("".join(texts), font_dirs)


def to_pdf(deck: Deck, orientation: str = "landscape", font_dirs=None) -> bytes:
    """A4 report, ``orientation`` landscape or portrait, one topic per page."""
    portrait = orientation == "portrait"
    size = A4 if portrait else landscape(A4)
    font = pdf_font(deck, font_dirs)
    st = _Styles(font.regular, font.bold)
    buf = io.BytesIO()
    doc = BaseDocTemplate(buf, pagesize=size, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=16 * mm,
                          bottomMargin=14 * mm, title=deck.title, author=deck.preparer or deck.unit,
                          subject=deck.period_label, lang="zh-CN" if deck.lang == "zh" else "en")
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    doc.addPageTemplates([PageTemplate("page", [frame])])
    doc.build(_story(deck, st, font.regular, font.bold, doc.width, doc.height, portrait),
              canvasmaker=_numbered_canvas(deck, font.regular))
    return buf.getvalue()


def _kpi_table(deck: Deck, st: _Styles, width: float, big: bool = True) -> Table:
    lang = deck.lang
    kpis = deck.slide("kpis").kpis
    cols = [t(f"meeting.pdf_kpi_col_{k}", lang) for k in ("metric", "value", "unit", "mom", "yoy")]
    rows = [[k.name, k.text, k.unit, k.mom_text, k.yoy_text] for k in kpis]
    tb = _table(cols, rows, [False, True, False, True, True], [], st, width, big=big)
    tb._argW = [width * 0.30, width * 0.18, width * 0.12, width * 0.20, width * 0.20]
    return tb


def to_onepage(deck: Deck, font_dirs=None) -> bytes:
    """一页纸: one A4 portrait page to print beside the full report — who and when, the
    headline figures with 环比/同比, one line per topic, what needs attention and the
    briefing's 下一步工作. Shrunk to fit, so it is one page whatever the township."""
    lang = deck.lang
    font = pdf_font(deck, font_dirs)
    st = _Styles(font.regular, font.bold)
    buf = io.BytesIO()
    doc = BaseDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=16 * mm,
                          bottomMargin=14 * mm, title=f"{deck.title} · {t('meeting.onepage_title', lang)}",
                          author=deck.preparer or deck.unit, subject=deck.period_label,
                          lang="zh-CN" if lang == "zh" else "en")
    w = doc.width
    title = deck.slide("title")
    small_h1 = ParagraphStyle("h1s", parent=st.h1, fontSize=13, leading=18, spaceBefore=6, spaceAfter=3)
    flow = [Paragraph(_esc(f"{deck.title}（{t('meeting.onepage_title', lang)}）"),
                      ParagraphStyle("t1", parent=st.title, fontSize=18, leading=24)),
            Paragraph(_esc(deck.period_label), ParagraphStyle("s1", parent=st.subtitle, fontSize=12, leading=18)),
            Spacer(1, 4)]
    flow += [Paragraph(_esc(x), st.note) for x in title.lines[1:3]]
    if deck.demo:
        flow.append(Paragraph(_esc(t("meeting.line_demo", lang)), ParagraphStyle("d1", parent=st.demo, fontSize=11)))
    flow += [Spacer(1, 6), Paragraph(_esc(t("meeting.slide_kpis", lang)), small_h1), _kpi_table(deck, st, w, False)]
    flow.append(Paragraph(_esc(t("meeting.onepage_topics", lang)), small_h1))
    for kind in ("disputes", "volunteers", "visits"):
        s = deck.slide(kind)
        flow += [Paragraph(_esc(x), st.body, bulletText="•") for x in s.lines]
    alerts = deck.slide("alerts").lines
    flow += [Paragraph(_esc(t("meeting.slide_alerts", lang)), small_h1)]
    flow += [Paragraph(_esc(x), st.body, bulletText="•") for x in alerts]
    lead = t("meeting.brief_next", lang, steps="\0").split("\0")[0]   # 下一步工作：
    steps = [x for x in deck.slide("briefing").lines if x.startswith(lead)]
    if steps:
        flow += [Spacer(1, 4)] + [Paragraph(_esc(x), st.body) for x in steps]
    flow += [Spacer(1, 6), Paragraph(_esc(f"{deck.unit} · {title.lines[4] if len(title.lines) > 4 else ''}"
                                          + (f" · {deck.mark}" if deck.demo else "")), st.note)]
    frame = Frame(doc.leftMargin, doc.bottomMargin, w, doc.height, id="body")
    doc.addPageTemplates([PageTemplate("page", [frame])])
    doc.build([KeepInFrame(w, doc.height, flow, mode="shrink")])
    return buf.getvalue()
