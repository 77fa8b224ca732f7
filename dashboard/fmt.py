"""Numbers the Chinese way: percent with one decimal, thousands separators, — for undefined."""
from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

NONE = "—"


def is_none(v) -> bool:
    """None, NaN or pandas' NA: an undefined value (shown as —)."""
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    try:
        return bool(v != v)   # NaN-like scalars (numpy) differ from themselves
    except (TypeError, ValueError):
        return True           # pd.NA refuses to be a bool


def _q(v, digits: int, scale: int = 1) -> Decimal:
    """v × scale rounded half up (四舍五入), as leaders round: 6.25% → 6.3%, never 6.2%.

    Going through the float's shortest repr keeps 0.0285 as 0.0285 (×100 in binary
    floating point would give 2.8499999… and round the wrong way).
    """
    d = Decimal(repr(float(v))) * scale
    q = d.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return abs(q) if q == 0 else q  # no "-0"


def cell(v, kind: str, digits: int | None = None):
    """A value as a spreadsheet number in its column's unit (rates in %, to 1 decimal; days,
    ratios, hours and scores to 2), rounded half up exactly as the text shows it; counts as
    ints; None for undefined. The one rounding of every CSV/XLSX/PPTX number."""
    if is_none(v):
        return None
    if kind == "rate":
        return float(_q(v, 1 if digits is None else digits, 100))
    if kind in ("days", "ratio", "hours", "score"):
        return float(_q(v, 2 if digits is None else digits))
    return int(v)


def pct(v, digits: int = 1) -> str:
    return NONE if is_none(v) else f"{_q(v, digits, 100):.{digits}f}%"


def num(v, digits: int = 0) -> str:
    if is_none(v):
        return NONE
    return f"{_q(v, digits):,.{digits}f}"


def pp(v, digits: int = 1) -> str:
    """A change in percentage points, signed: +2.3 / −1.0."""
    if is_none(v):
        return NONE
    return f"{_q(v, digits, 100):+.{digits}f}".replace("-", "−")


def signed_pct(v, digits: int = 1) -> str:
    if is_none(v):
        return NONE
    return f"{_q(v, digits, 100):+,.{digits}f}%".replace("-", "−")


def value(v, unit_kind: str) -> str:
    """Format a metric value by its kind (see dashboard.metrics.Metric.kind)."""
    if unit_kind == "rate":
        return pct(v)
    if unit_kind in ("days", "ratio", "hours"):
        return num(v, 1)
    return num(v)


def wan(v, digits: int = 1) -> str:
    """Large counts the Chinese way: 12,345 → 1.2万 (below 10,000 with separators)."""
    if is_none(v):
        return NONE
    return f"{_q(v / 10000, digits):,.{digits}f}万" if abs(v) >= 10000 else num(v)


ENUM_KINDS = {"level": "enum.level", "status": "enum.status", "rep_type": "enum.rep_type",
              "form": "enum.form", "kind": "enum.kind", "direction": "analytics.direction",
              "rep_level": "enum.rep_level", "funnel_stage": "visits.stage"}


def frame(df, spec, lang: str = "zh", export: bool = False):
    """A copy of df for people: chosen columns, translated headers, Chinese number formats.

    spec: [(column, label, kind)] where label is a metric key (kind None: the registry gives
    name, unit and kind) or a catalogue key with kind one of text, count, rate, days, ratio,
    hours, score, date, level, status, rep_type, form, kind.
    export=True keeps numbers as numbers (rates as percent with one decimal, header marked %),
    for CSV downloads that open cleanly in Excel/WPS.
    """
    import pandas as pd

    from dashboard import metrics
    from dashboard.i18n import t
    out = pd.DataFrame(index=range(len(df)))
    for col, label, kind in spec:
        if kind is None:
            m = metrics.METRICS[label]
            kind, unit = m.kind, m.unit(lang)
            header = f"{m.name(lang)}（{unit}）" if lang == "zh" else f"{m.name(lang)} ({unit})"
            if m.kind == "rate":
                header = f"{m.name(lang)}（%）" if lang == "zh" else f"{m.name(lang)} (%)"
        else:
            header = t(label, lang)
            if kind == "rate" and export:
                header += "（%）" if lang == "zh" else " (%)"
        values = list(df[col])
        if kind in ENUM_KINDS:
            cells = [NONE if is_none(v) else t(f"{ENUM_KINDS[kind]}.{v}", lang) for v in values]
        elif kind == "text":
            cells = ["" if is_none(v) else str(v) for v in values]
        elif kind == "date":
            cells = ["" if is_none(v) else str(v)[:10] for v in values]
        elif export:
            cells = [cell(v, kind) for v in values]
        else:
            cells = [num(v, 1) if kind == "score" else value(v, kind) for v in values]
        out[header] = cells
    out.index = range(1, len(out) + 1)
    return out


_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")     # every ASCII punctuation character
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\u0085\u2028\u2029]+")
# GFM turns http(s)://host.tld, www.host.tld and a@b.tld into links after parsing, on the
# unescaped text, so backslashes cannot stop it; a word joiner (U+2060, invisible, no break)
# after "://", "www" and "@" does.
_AUTOLINK = re.compile(r"(?i)(://|www(?=\.)|@)")
WORD_JOINER = "\u2060"


def md(text) -> str:
    """Text from data (a village, team or person's name, a file's column or sheet, an error)
    made literal inside Markdown: st.markdown, st.caption, st.info/warning/error, headings,
    widget labels. The one escaping helper for everything Streamlit renders as Markdown.

    Every ASCII punctuation character gets a backslash: in CommonMark an escaped punctuation
    character is that character and never markup, so ``![x](http://…)`` shows as typed and
    fetches nothing, ``[link](http://x)`` is no link, and raw HTML, autolinks (``http\\:\\/\\/``),
    Streamlit's ``:red[…]`` directives and ``$…$`` formulas are broken up too. Line breaks become
    spaces, so a name cannot start a heading, list or table of its own. GFM's autolinks are
    made after parsing (escapes do not stop them): an invisible word joiner after ``://``,
    ``www`` and ``@`` does, so ``http://host.cn`` shows as typed and is no link.
    """
    if is_none(text):
        return ""
    text = _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _LINE_BREAKS.sub(" ", str(text)))
    return _MD_SPECIAL.sub(r"\\\1", text)
