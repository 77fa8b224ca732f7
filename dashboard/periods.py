"""Reporting periods: month, quarter, year or custom [start, end] (both inclusive).

环比 compares with the period just before (same length, same kind); 同比 with the
same period one year earlier.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

GRANULARITIES = ("month", "quarter", "year", "custom")


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    kind: str = "custom"

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("period end before start")
        if self.kind not in GRANULARITIES:
            raise ValueError(f"unknown period kind {self.kind}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        if self.kind == "month":
            return month(*_ym(_add_months(self.start, -1)))
        if self.kind == "quarter":
            s = _add_months(self.start, -3)
            return quarter(s.year, (s.month - 1) // 3 + 1)
        if self.kind == "year":
            return year(self.start.year - 1)
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def year_ago(self) -> "Period":
        if self.kind == "month":
            return month(self.start.year - 1, self.start.month)
        if self.kind == "quarter":
            return quarter(self.start.year - 1, (self.start.month - 1) // 3 + 1)
        if self.kind == "year":
            return year(self.start.year - 1)
        return Period(_shift_year(self.start), _shift_year(self.end))

    def label(self, lang: str = "zh") -> str:
        from dashboard.i18n import t
        if self.kind == "month":
            return t("filter.month_label", lang, year=self.start.year, month=self.start.month)
        if self.kind == "quarter":
            return t("filter.quarter_label", lang, year=self.start.year,
                     q=(self.start.month - 1) // 3 + 1)
        if self.kind == "year":
            return t("filter.year_label", lang, year=self.start.year)
        return t("filter.period_label", lang, start=self.start.isoformat(),
                 end=self.end.isoformat())


# ---------------------------------------------------------------- month numbers
# ``year * 12 + month - 1`` (2024-01 → 24288): how the pre-aggregated tables key months.

def month_index(d) -> int:
    """2024-03-xx → 2024 * 12 + 2. Accepts dates, datetimes, (year, month), 'YYYY-MM[-DD]', ints."""
    if isinstance(d, int):
        return d
    if isinstance(d, date):   # a datetime is a date too
        return d.year * 12 + d.month - 1
    if isinstance(d, tuple):
        return int(d[0]) * 12 + int(d[1]) - 1
    s = str(d)
    return int(s[:4]) * 12 + int(s[5:7]) - 1


def month_start(m: int) -> date:
    return date(m // 12, m % 12 + 1, 1)


def month_end(m: int) -> date:
    return _month_end(m // 12, m % 12 + 1)


def _ym(d: date) -> tuple[int, int]:
    return d.year, d.month


def _shift_year(d: date) -> date:
    y = d.year - 1
    return date(y, d.month, min(d.day, calendar.monthrange(y, d.month)[1]))


def month(y: int, m: int) -> Period:
    return Period(date(y, m, 1), _month_end(y, m), "month")


def quarter(y: int, q: int) -> Period:
    m0 = 3 * (q - 1) + 1
    return Period(date(y, m0, 1), _month_end(y, m0 + 2), "quarter")


def year(y: int) -> Period:
    return Period(date(y, 1, 1), date(y, 12, 31), "year")


def latest_complete(kind: str, last_data_day: date | None, today: date | None = None) -> Period:
    """The latest complete period of this kind that has data.

    "Complete" means it ended on or before the last day with data (and before
    today), so a fresh demo never opens on an empty or half-filled month.
    """
    today = today or date.today()
    ref = min(last_data_day or today, today)
    if kind == "month":
        p = month(ref.year, ref.month)
    elif kind == "quarter":
        p = quarter(ref.year, (ref.month - 1) // 3 + 1)
    else:
        p = year(ref.year)
    if p.end > ref:
        p = p.previous()
    return p


def options(kind: str, first: date, last: date) -> list[Period]:
    """All periods of a kind between two days, newest first (for a select box)."""
    out: list[Period] = []
    p = latest_complete(kind, last, today=date.max)
    # include the running (incomplete) period too: leaders look at "this month so far"
    cur = {"month": lambda d: month(d.year, d.month),
           "quarter": lambda d: quarter(d.year, (d.month - 1) // 3 + 1),
           "year": lambda d: year(d.year)}[kind](last)
    if cur != p:
        out.append(cur)
    while p.end >= first:
        out.append(p)
        p = p.previous()
    return out


def parse(kind: str, value: str) -> Period:
    """Parse the compact form used in URLs and the CLI: 2025-03, 2025Q3, 2025, 2025-01-01..2025-03-31."""
    if kind == "month":
        y, m = value.split("-")
        return month(int(y), int(m))
    if kind == "quarter":
        y, q = value.upper().split("Q")
        return quarter(int(y), int(q))
    if kind == "year":
        return year(int(value))
    a, b = value.split("..")
    return Period(date.fromisoformat(a), date.fromisoformat(b))


def compact(p: Period) -> str:
    if p.kind == "month":
        return f"{p.start.year}-{p.start.month:02d}"
    if p.kind == "quarter":
        return f"{p.start.year}Q{(p.start.month - 1) // 3 + 1}"
    if p.kind == "year":
        return str(p.start.year)
    return f"{p.start.isoformat()}..{p.end.isoformat()}"
