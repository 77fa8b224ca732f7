"""The deck model: what a meeting report says, independent of how it is drawn.

``build_deck`` fills these dataclasses once from the metric registry; the
PowerPoint, PDF and HTML exporters and the presentation page only lay them out.
Charts carry their numbers (not pictures), so PPTX gets native editable charts,
the PDF draws them with reportlab and the HTML with plotly, all from the same
values. Everything here is plain data and pickles (for Streamlit's cache).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dashboard.periods import Period

SLIDE_KINDS = ("title", "kpis", "disputes", "volunteers", "visits", "map", "ranking", "supervision",
               "completeness", "alerts", "briefing")


@dataclass
class Series:
    name: str
    values: list[float | None]
    metric: str = ""                 # registry key the values come from ("" for derived shares)


@dataclass
class Chart:
    kind: str                        # column | bar (horizontal) | line | pie
    title: str
    categories: list[str]
    series: list[Series]
    number_format: str = "#,##0"     # Excel-style, used by PPTX data labels and axes
    value_kind: str = "count"        # registry kind of the values: count | rate | hours | ...
    target: float | None = None      # reference line (rates), drawn where the medium allows


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]            # formatted text, ready to print
    numeric: list[bool] = field(default_factory=list)   # right-align these columns
    highlight: list[int] = field(default_factory=list)  # row indexes to mark (below target)
    raw: list[list] = field(default_factory=list)       # the same cells as numbers, for Excel/CSV


@dataclass
class Kpi:
    key: str
    name: str
    value: float | None
    text: str                        # formatted value
    unit: str
    mom: float | None
    mom_text: str
    yoy: float | None
    yoy_text: str
    direction: str                   # higher | lower | neutral


@dataclass
class MapImage:
    png: bytes | None = None
    html: str | None = None          # a self-contained document for the HTML export
    note: str = ""                   # why the map is missing, or its legend/caption


@dataclass
class Slide:
    kind: str
    title: str
    subtitle: str = ""
    lines: list[str] = field(default_factory=list)      # key figures, bullets or paragraphs
    kpis: list[Kpi] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    table: Table | None = None
    map: MapImage | None = None
    notes: list[str] = field(default_factory=list)      # speaker notes only, never on the slide


@dataclass
class Deck:
    township: str
    unit: str                        # 填报单位
    period: Period
    period_label: str
    lang: str
    as_of: datetime | None           # when the data last changed (import or undo)
    last_day: object                 # 数据截至: last day with a ledger row in scope (villages, ≤ period end)
    generated_at: datetime
    filters: str                     # human sentence for the village filter
    preparer: str                    # 制表人
    title: str
    slides: list[Slide] = field(default_factory=list)
    values: dict = field(default_factory=dict)          # registry output the deck was built from
    village_names: list[str] = field(default_factory=list)
    demo: bool = False               # the demo township (summary.is_demo): every export says so

    @property
    def mark(self) -> str:
        """演示数据 on a demo deck (footers of every page and slide), else ""."""
        from dashboard.i18n import t
        return t("meeting.demo_mark", self.lang) if self.demo else ""

    def slide(self, kind: str) -> Slide | None:
        return next((s for s in self.slides if s.kind == kind), None)

    def charts(self) -> list[Chart]:
        return [c for s in self.slides for c in s.charts]

    def texts(self) -> list[str]:
        """Every string the deck prints (for font subsetting and tests)."""
        from dashboard.i18n import t
        out = [self.township, self.unit, self.period_label, self.filters, self.preparer, self.title,
               self.mark, t("meeting.line_demo", self.lang) if self.demo else ""]
        for s in self.slides:
            out += [s.title, s.subtitle, *s.lines]
            for k in s.kpis:
                out += [k.name, k.text, k.unit, k.mom_text, k.yoy_text]
            for c in s.charts:
                out += [c.title, *c.categories, *(x.name for x in c.series)]
            if s.table:
                out += s.table.columns + [v for r in s.table.rows for v in r]
            if s.map:
                out.append(s.map.note)
        return [x for x in out if x]
