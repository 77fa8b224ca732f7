"""The business rules of the dispute figures, each written once.

The registry (dashboard.metrics) names the figures; the base-sum layer (dashboard.aggregates)
counts them, from the raw ledger or from the pre-aggregated month tables; pages, the 督办 list,
the deck and the benchmark's references ask here what "resolved by the end", "open" and
"overdue" mean. The rules come in two forms: SQLAlchemy predicates on the dispute ledger, and
the same rule on month numbers (what the month layer stores), kept equal by
tests/test_aggregates.py. docs/rules.md lists every rule and its home.

This module imports nothing of the metrics or the aggregates (it sits below both).
"""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import sqlalchemy as sa

from dashboard.db import schema as S
from dashboard.periods import month_end, month_index
from dashboard.settings import OVERDUE_DAYS

# The resolution levels that count as "in the grid" and "in the village" (小事不出网格，大事不出村).
WITHIN_GRID = ("grid",)
WITHIN_VILLAGE = ("grid", "village")


# ---------------------------------------------------------------- on the dispute ledger

def reported_within(start, end, D=S.dispute):
    """Reported within [start, end] (both days included): the period's cases (受理)."""
    return D.c.reported_on.between(start, end)


def resolved_by(end, D=S.dispute):
    """Resolved on or before ``end``."""
    return sa.and_(D.c.resolved_on.is_not(None), D.c.resolved_on <= end)


def resolved_within(start, end, D=S.dispute):
    """Resolved within [start, end] (both days included), whatever the reported date."""
    return D.c.resolved_on.between(start, end)


def open_at(end, D=S.dispute):
    """Reported on or before ``end`` and not resolved by it (resolved later, or not at all)."""
    return sa.and_(D.c.reported_on <= end, sa.or_(D.c.resolved_on.is_(None), D.c.resolved_on > end))


def overdue_before(end):
    """The first reported date that is not overdue at ``end``: open longer than OVERDUE_DAYS."""
    return end - timedelta(days=OVERDUE_DAYS)


def overdue_at(end, D=S.dispute):
    """Open at ``end`` for more than OVERDUE_DAYS days (the 督办 list)."""
    return sa.and_(open_at(end, D), D.c.reported_on < overdue_before(end))


def days_open(end, reported) -> int:
    """A case's age in days at ``end`` (the 督办 list's 已受理天数)."""
    return (end - reported).days


# ---------------------------------------------------------------- on month numbers
# A month end minus OVERDUE_DAYS (30) falls on the 1st of the same month or the 29th–31st of the
# one before, so the month layer keeps a reported day only from TAIL_FROM on (``tail``).
TAIL_FROM = 29

def overdue_bound(pe: int) -> tuple[int, int]:
    """(month, day) of the overdue boundary at the end of month ``pe``: reported before it and
    open at the end → overdue.

    The boundary is ``overdue_before(month end)``; for a month end that is the 1st of the same
    month or the 29th–31st of the month before. Returned so that ``rep_month < bm OR (rep_month
    = bm AND tail < bd)`` is exactly ``reported_on < boundary`` (tail = day when ≥ 29, else 0:
    all the month layer keeps of the reported day).
    """
    b = overdue_before(month_end(pe))
    if b.day == 1:
        return month_index(b), -1
    assert b.day >= TAIL_FROM, b
    return month_index(b), b.day


def tail(day: int) -> int:
    """What the month layer keeps of a reported day: the day when it is the 29th–31st, else 0."""
    return day if day >= TAIL_FROM else 0


# ---------------------------------------------------------------- the median

def hist_median(days, counts) -> float | None:
    """Exact median days of a histogram given as parallel sequences (days ≥ 0, counts ≥ 0; a day
    may repeat, its counts add up); the mean of the middle two for an even count. The one
    implementation of median_days_to_resolve, for villages, grids, packs and the township
    (``hist_medians``, of which this is the case of one histogram)."""
    if len(days) == 0:
        return None
    m = hist_medians(np.zeros(len(days), dtype=np.int64), days, counts, 1)[0]
    return None if np.isnan(m) else float(m)


def hist_medians(group, days, counts, groups: int) -> np.ndarray:
    """``hist_median`` of many histograms at once, given as parallel arrays (``group`` in
    [0, groups): which histogram each (day, count) belongs to); NaN for a histogram without
    cases. A pack is 500 villages in each of 85 periods: one sort instead of 42,500 calls."""
    g = np.asarray(group, dtype=np.int64)
    d = np.asarray(days, dtype=np.int64)
    c = np.asarray(counts, dtype=np.int64)
    out = np.full(groups, np.nan)
    if not len(g):
        return out
    order = np.argsort(d, kind="stable") if groups == 1 else np.lexsort((d, g))
    g, d, c = g[order], d[order], c[order]
    cum = np.cumsum(c)                               # non-decreasing: counts are ≥ 0
    n = np.bincount(g, weights=c, minlength=groups).round().astype(np.int64) if groups > 1 else cum[-1:]
    before = np.concatenate([[0], np.cumsum(n)[:-1]])   # cases of the histograms before each
    has = n > 0
    # the day of the case at (0-based) position k of a histogram: the first entry whose running
    # count passes before + k
    lo = d[np.searchsorted(cum, before[has] + (n[has] - 1) // 2, side="right")]
    hi = d[np.searchsorted(cum, before[has] + n[has] // 2, side="right")]
    out[has] = (lo + hi) / 2
    return out


def median_from_hist(hist: dict[int, int]) -> float | None:
    """Exact median of a {value: count} histogram (``hist_median``)."""
    return hist_median(list(hist), list(hist.values()))
