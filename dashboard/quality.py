"""Data-quality flags (数据质量): what looks wrong before a leader presents it.

One function per rule, each ``rule(conn, period, village_ids) -> list[Flag]``. A flag carries the
rule's id (its written rule comes from the catalogue, ``quality.rule.<id>``, with the thresholds of
``dashboard.settings``), the village (and grid), the ledger kind, the period it is about, the
figures that tripped it and the rows behind it: record numbers and dates, never a person's name.

Flags never change a figure: the metric registry counts every stored row as it is; a flag only
says which rows to check. The counting is done in SQL (GROUP BY village and month, CASE sums);
only the small per-village month series of the spike rule are read into Python for the median.

Rules:

* ``spike``: a village's monthly count of a kind far from its own history (robust z-score);
* ``same_day``: a village-month whose every case was resolved, all on one single date;
* ``rest_days``: most of a village's resolutions dated on weekends or statutory holidays;
* ``silent``: no row of a kind (and no zero report) for the last full months after a busy year;
* ``grid_no_dispute``: a grid that never had a dispute while its village's grids average many;
* ``ledger_logic``: stored rows that break the ledger's own rules (intake refuses such rows now).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dashboard import aggregates, fmt, settings
from dashboard.db import schema as S
from dashboard.i18n import has, t
from dashboard.db.dialect import in_villages, month_expr
from dashboard.periods import Period, month_end, month_index, month_start
from loaders import spec

RULES = ("spike", "same_day", "rest_days", "silent", "grid_no_dispute", "ledger_logic")
RULE_SETTINGS = {   # the constants each rule's text shows (one home: dashboard.settings)
    "spike": ("QUALITY_Z", "QUALITY_MIN_HISTORY", "QUALITY_MIN_JUMP"),
    "same_day": ("QUALITY_SAME_DAY_MIN",),
    "rest_days": ("QUALITY_REST_SHARE", "QUALITY_REST_MIN"),
    "silent": ("QUALITY_SILENT_MONTHS", "QUALITY_SILENT_MIN_MONTHLY"),
    "grid_no_dispute": ("QUALITY_GRID_MIN_AVG",),
    "ledger_logic": ("EARLIEST_DATE", "MAX_HOURS_PER_PERSON"),
}
ROWS_SHOWN = 200    # rows listed under one flag (the count is always complete)


@dataclass(frozen=True)
class Flag:
    rule: str                       # one of RULES
    village_id: int
    village: str
    kind: str                       # ledger kind (loaders.spec): disputes | volunteers | visits
    start: date | None              # the period the flag is about (None: every stored row)
    end: date | None
    values: dict = field(default_factory=dict)   # the figures that tripped the rule
    rows: tuple = ()                # rows behind it: {id, no, date columns, check}
    grid_id: int | None = None
    grid: str | None = None
    n_rows: int = 0                 # rows behind it in all (rows may list fewer: ROWS_SHOWN)

    def key(self) -> tuple:
        return (self.rule, self.village_id, self.kind, self.grid_id or 0, self.start or date.min,
                self.values.get("check", ""))


# ---------------------------------------------------------------- ledgers and places

def _ledger(kind: str):
    table = S.metadata.tables[spec.TABLES[kind]]
    return table, table.c[spec.DATE_FIELD[kind]], table.c[spec.RECORD_NO[kind]]


def _kinds() -> tuple[str, ...]:
    """Every ledger kind of the registry with a table, a date and a record number (a kind added
    there, such as suggestions, is judged by the spike and silent rules at once)."""
    return tuple(k for k in spec.LEDGER_KINDS if spec.TABLES.get(k) in S.metadata.tables
                 and k in spec.DATE_FIELD and k in spec.RECORD_NO)


def _names(conn) -> dict[int, str]:
    return dict(conn.execute(sa.select(S.village.c.id, S.village.c.name)).all())


def _ids(village_ids):
    return None if village_ids is None else sorted({int(v) for v in village_ids})


def _d(v) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _row(r, kind: str, **extra) -> dict:
    """A row behind a flag: id, record number and the ledger's dates (no names)."""
    out = {"id": int(r["id"]), "no": r["no"], "date": _d(r["dt"])}
    if kind == "disputes" and "resolved_on" in r:
        out["resolved_on"] = _d(r["resolved_on"])
    out.update(extra)
    return out


def _rows(conn, kind: str, where, extra_cols=(), order=None) -> tuple[list[dict], int]:
    table, dcol, ncol = _ledger(kind)
    cols = [table.c.id, ncol.label("no"), dcol.label("dt")]
    if kind == "disputes":
        cols.append(table.c.resolved_on)
    cols += list(extra_cols)
    n = conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
    q = sa.select(*cols).where(where).order_by(*(order or (dcol, table.c.id))).limit(ROWS_SHOWN)
    return [dict(r) for r in conn.execute(q).mappings()], int(n)


def _by(col):
    """A column to GROUP BY over many rows: ``col + 0``, so SQLite scans the table once instead of
    walking the village index and fetching every row from it (12 s against 1.1 s for a year of a
    1,000,000-dispute county); PostgreSQL plans both alike."""
    return (col + 0)


AGG_COUNTS = {   # kind -> its count in the period layer's month rows (one row per village and month)
    "disputes": "disputes_total", "volunteers": "volunteer_activities", "visits": "rep_visits"}


def monthly_counts(conn, kind: str, first: int | None, last: int, village_ids=None) -> dict[int, dict[int, int]]:
    """{village id: {month number: rows}} of a ledger for months in [first, last] (None: from the
    start): the period layer's month rows when the aggregates are fresh, else GROUP BY over the
    raw rows."""
    if kind in AGG_COUNTS and aggregates.is_fresh(conn):
        P = aggregates.agg_period
        cond = [P.c.ps == P.c.pe, P.c.pe <= last, P.c.grid_id == aggregates.ROLLUP,
                in_villages(P.c.village_id, village_ids)]
        if first is not None:
            cond.append(P.c.ps >= first)
        q = sa.select(P.c.village_id, P.c.ps, P.c[AGG_COUNTS[kind]]).where(*cond)
        rows = [(v, int(mm), n) for v, mm, n in conn.execute(q)]
    else:
        table, dcol, _ = _ledger(kind)
        mo = month_expr(conn, dcol)
        cond = [dcol <= month_end(last), in_villages(table.c.village_id, village_ids)]
        if first is not None:
            cond.append(dcol >= month_start(first))
        v = _by(table.c.village_id)
        q = sa.select(v, mo, sa.func.count()).where(*cond).group_by(v, mo)
        rows = [(vv, _m(ym), n) for vv, ym, n in conn.execute(q)]
    out: dict[int, dict[int, int]] = {}
    for vid, m, n in rows:
        if n:
            out.setdefault(int(vid), {})[m] = int(n)
    return out


def _months(period: Period) -> list[int]:
    """Month numbers (month_index) of the full months in the period that are over."""
    today = date.today()
    a, b = month_index(period.start), month_index(period.end)
    out = []
    for m in range(a, b + 1):
        if month_start(m) >= period.start and month_end(m) <= min(period.end, today):
            out.append(m)
    return out


def _m(ym: str) -> int:
    return month_index(ym)


# ---------------------------------------------------------------- (a) spike

def robust_z(x: float, history) -> float:
    """0.6745 · (x − median) / MAD of the history; with MAD 0, (x − median) / (1.2533 · mean
    absolute deviation) (Iglewicz & Hoaglin); with both 0, ±inf unless x is the median."""
    h = np.asarray(history, dtype=float)
    med = float(np.median(h))
    mad = float(np.median(np.abs(h - med)))
    if mad > 0:
        return 0.6745 * (x - med) / mad
    mean_ad = float(np.mean(np.abs(h - med)))
    if mean_ad > 0:
        return (x - med) / (1.253314 * mean_ad)
    return 0.0 if x == med else math.copysign(math.inf, x - med)


def _matrix(counts: dict[int, dict[int, int]], last: int):
    """Villages × months from the ledger's first month to ``last``: NaN before a village's first
    row of the ledger, 0 in a month without rows."""
    vids = sorted(counts)
    m0 = min(min(by) for by in counts.values())
    mat = np.full((len(vids), last - m0 + 1), np.nan)
    for i, vid in enumerate(vids):
        by = counts[vid]
        mat[i, min(by) - m0:] = 0
        for m, n in by.items():
            if m <= last:
                mat[i, m - m0] = n
    return vids, mat, m0


def robust_z_columns(hist: np.ndarray, x: np.ndarray):
    """robust_z for every row of ``hist`` (NaN: not in the history) against x: (x, median, z,
    months of history)."""
    import warnings
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)     # rows without history are all NaN
        n_hist = (~np.isnan(hist)).sum(axis=1)
        med = np.nanmedian(hist, axis=1)
        dev = np.abs(hist - med[:, None])
        mad, mean_ad = np.nanmedian(dev, axis=1), np.nanmean(dev, axis=1)
        diff = x - med
        z = np.where(mad > 0, 0.6745 * diff / np.where(mad > 0, mad, 1),
                     np.where(mean_ad > 0, diff / (1.253314 * np.where(mean_ad > 0, mean_ad, 1)),
                              np.where(diff == 0, 0.0, np.sign(diff) * np.inf)))
    z = np.where(np.isnan(x) | (n_hist == 0), 0.0, z)
    return np.nan_to_num(x), np.nan_to_num(med), z, n_hist


def spike(conn, period: Period, village_ids=None) -> list[Flag]:
    """A village-month of the period whose count of a kind is far outside the village's own
    history: every month from its first row of that kind up to the month before (months without
    rows count as 0), at least QUALITY_MIN_HISTORY of them; |robust z| > QUALITY_Z and at least
    QUALITY_MIN_JUMP rows from the median. Kinds in QUALITY_SPIKE_EXCLUDE are not judged."""
    months = _months(period)
    if not months:
        return []
    ids, names, out = _ids(village_ids), _names(conn), []
    for kind in _kinds():
        if kind in settings.QUALITY_SPIKE_EXCLUDE:
            continue
        table, dcol, _ = _ledger(kind)
        counts = monthly_counts(conn, kind, None, months[-1], ids)
        if not counts:
            continue
        vids, mat, m0 = _matrix(counts, months[-1])
        for m in months:
            j = m - m0
            if j < settings.QUALITY_MIN_HISTORY:
                continue
            x, med, z, n_hist = robust_z_columns(mat[:, :j], mat[:, j])
            hit = (n_hist >= settings.QUALITY_MIN_HISTORY) & (np.abs(z) > settings.QUALITY_Z) \
                & (np.abs(x - med) >= settings.QUALITY_MIN_JUMP)
            for i in np.flatnonzero(hit):
                vid = vids[i]
                s, e = month_start(m), month_end(m)
                rows, n = _rows(conn, kind, sa.and_(table.c.village_id == vid, dcol.between(s, e)))
                zi = float(z[i])
                out.append(Flag("spike", vid, names.get(vid, str(vid)), kind, s, e,
                                {"count": int(x[i]), "median": float(med[i]),
                                 "z": None if math.isinf(zi) else round(zi, 1), "history": int(n_hist[i])},
                                tuple(_row(r, kind) for r in rows), n_rows=n))
    return out


# ---------------------------------------------------------------- (b) same day

def same_day(conn, period: Period, village_ids=None) -> list[Flag]:
    """A village-month (disputes reported in it, within the period) of at least
    QUALITY_SAME_DAY_MIN cases, every one resolved, all on one single date."""
    D, ids = S.dispute, _ids(village_ids)
    mo = month_expr(conn, D.c.reported_on)
    resolved = sa.func.sum(sa.case((D.c.status == "resolved", 1), else_=0))
    v = _by(D.c.village_id)
    q = (sa.select(v, mo.label("m"), sa.func.count().label("n"),
                   sa.func.min(D.c.resolved_on).label("day"))
         .where(D.c.reported_on.between(period.start, period.end), in_villages(D.c.village_id, ids))
         .group_by(v, mo)
         .having(sa.and_(sa.func.count() >= settings.QUALITY_SAME_DAY_MIN, resolved == sa.func.count(),
                         sa.func.min(D.c.resolved_on) == sa.func.max(D.c.resolved_on))))
    names, out = _names(conn), []
    for vid, ym, n, day in conn.execute(q).all():
        m = _m(ym)
        s, e = max(month_start(m), period.start), min(month_end(m), period.end)
        rows, total = _rows(conn, "disputes", sa.and_(D.c.village_id == vid,
                                                      D.c.reported_on.between(s, e)))
        out.append(Flag("same_day", int(vid), names.get(vid, str(vid)), "disputes", s, e,
                        {"count": int(n), "day": _d(day)}, tuple(_row(r, "disputes") for r in rows),
                        n_rows=total))
    return out


# ---------------------------------------------------------------- (c) weekends and holidays

def holidays_known(year: int) -> bool:
    """Whether the statutory holidays (and make-up working days, 调休) of ``year`` are known
    (the chinese-calendar package covers the years the State Council has published)."""
    try:
        import chinese_calendar
        chinese_calendar.is_holiday(date(year, 6, 1))
        return True
    except (ImportError, NotImplementedError):
        return False


def rest_days(start: date, end: date) -> list[date]:
    """Days off in [start, end]: Saturdays, Sundays and statutory holidays, less the make-up
    working days (调休); weekends only for a year whose holidays are not known."""
    out, d, known = [], start, {}
    while d <= end:
        if d.year not in known:
            known[d.year] = holidays_known(d.year)
        if known[d.year]:
            import chinese_calendar
            off = chinese_calendar.is_holiday(d)
        else:
            off = d.weekday() >= 5
        if off:
            out.append(d)
        d += timedelta(days=1)
    return out


def weekends_only_years(period: Period) -> list[int]:
    """Years of the period judged on weekends alone (holidays not known)."""
    return [y for y in range(period.start.year, period.end.year + 1) if not holidays_known(y)]


def rest_day_resolutions(conn, period: Period, village_ids=None) -> list[Flag]:
    """A village whose resolutions dated in the period (at least QUALITY_REST_MIN) fall on days
    off in a share above QUALITY_REST_SHARE."""
    D, ids = S.dispute, _ids(village_ids)
    off = rest_days(period.start, period.end)
    if not off:
        return []
    is_off = D.c.resolved_on.in_(off)
    n_off = sa.func.sum(sa.case((is_off, 1), else_=0))
    v = _by(D.c.village_id)
    q = (sa.select(v, sa.func.count().label("n"), n_off.label("off"))
         .where(D.c.resolved_on.between(period.start, period.end), in_villages(D.c.village_id, ids))
         .group_by(v)
         .having(sa.func.count() >= settings.QUALITY_REST_MIN))
    names, out = _names(conn), []
    for vid, n, k in conn.execute(q).all():
        n, k = int(n), int(k or 0)
        if k / n <= settings.QUALITY_REST_SHARE:
            continue
        rows, total = _rows(conn, "disputes", sa.and_(D.c.village_id == vid, is_off),
                            order=(D.c.resolved_on, D.c.id))
        out.append(Flag("rest_days", int(vid), names.get(vid, str(vid)), "disputes",
                        period.start, period.end,
                        {"resolved": n, "rest": k, "share": k / n,
                         "weekends_only": weekends_only_years(period)},
                        tuple(_row(r, "disputes") for r in rows), n_rows=total))
    return out


# ---------------------------------------------------------------- (d) silent

def silent_months(period: Period) -> list[int]:
    """The last QUALITY_SILENT_MONTHS full months at the period's end (and over by today)."""
    end = min(period.end, date.today())
    m = month_index(end)
    if end != month_end(m):
        m -= 1
    return list(range(m - settings.QUALITY_SILENT_MONTHS + 1, m + 1))


def zero_reports(conn, kind: str, months: list[int], village_ids=None) -> set[int]:
    """Villages with a zero report (零报告) of ``kind`` for any of ``months``, when the database
    has a ``zero_report`` table (read by reflection: the rule works with or without it)."""
    insp = sa.inspect(conn)
    if not insp.has_table("zero_report"):
        return set()
    z = sa.Table("zero_report", sa.MetaData(), autoload_with=conn)
    col = next((z.c[c] for c in ("month", "period", "ym", "month_start", "month_no") if c in z.c), None)
    if col is None or "village_id" not in z.c:
        return set()
    q = sa.select(z.c.village_id, col).where(in_villages(z.c.village_id, _ids(village_ids)))
    if "kind" in z.c:
        q = q.where(z.c.kind == kind)
    for c, ok in (("state", "applied"),):
        if c in z.c:
            q = q.where(z.c[c] == ok)
    if "undone" in z.c:
        q = q.where(sa.not_(z.c.undone))
    if "batch_id" in z.c:
        b = S.import_batch
        q = q.where(sa.or_(z.c.batch_id.is_(None), z.c.batch_id.in_(
            sa.select(b.c.id).where(b.c.state == "applied"))))
    want, out = set(months), set()
    for vid, v in conn.execute(q):
        if _zero_month(v) in want:
            out.add(int(vid))
    return out


def _zero_month(v) -> int | None:
    """A zero report's month as a month number: a date, 'YYYY-MM', YYYYMM or a month number."""
    try:
        if isinstance(v, int):
            return month_index((v // 100, v % 100)) if 190001 <= v <= 999912 else v
        return month_index(v)
    except (TypeError, ValueError):
        return None


def silent(conn, period: Period, village_ids=None) -> list[Flag]:
    """A village with no row of a kind (and no zero report) in the last QUALITY_SILENT_MONTHS
    full months at the period's end, after the 12 months before averaged at least
    QUALITY_SILENT_MIN_MONTHLY rows a month."""
    months = silent_months(period)
    s, e = month_start(months[0]), month_end(months[-1])
    ids, names, out = _ids(village_ids), _names(conn), []
    for kind in _kinds():
        table, dcol, _ = _ledger(kind)
        counts = monthly_counts(conn, kind, months[0] - 12, months[-1], ids)
        hits = []
        for vid, by in sorted(counts.items()):
            before = sum(n for m, n in by.items() if m < months[0])
            if before >= 12 * settings.QUALITY_SILENT_MIN_MONTHLY and not any(m >= months[0] for m in by):
                hits.append((vid, before))
        if not hits:
            continue
        zero = zero_reports(conn, kind, months, [h[0] for h in hits])
        for vid, n_before in hits:
            if vid in zero:
                continue
            last = conn.execute(sa.select(sa.func.max(dcol)).where(table.c.village_id == vid,
                                                                   dcol < s)).scalar_one()
            rows, _ = _rows(conn, kind, sa.and_(table.c.village_id == vid, dcol == last))
            out.append(Flag("silent", vid, names.get(vid, str(vid)), kind, s, e,
                            {"before": n_before, "last": _d(last), "months": len(months)},
                            tuple(_row(r, kind) for r in rows), n_rows=len(rows)))
    return out


# ---------------------------------------------------------------- (e) grids without disputes

def grid_no_dispute(conn, period: Period, village_ids=None) -> list[Flag]:
    """A grid with no dispute ever (reported on or before the period's end) while its village's
    disputes with a grid average at least QUALITY_GRID_MIN_AVG per grid."""
    D, G, ids = S.dispute, S.grid, _ids(village_ids)
    last = month_index(period.end)
    if period.end == month_end(last) and aggregates.is_fresh(conn):
        A = aggregates.agg_dispute_month
        per_grid = (sa.select(A.c.grid_id, sa.func.sum(A.c.n).label("n"))
                    .where(A.c.rep_month <= last, A.c.grid_id > 0, in_villages(A.c.village_id, ids))
                    .group_by(A.c.grid_id).subquery())
    else:
        g = _by(D.c.grid_id)
        per_grid = (sa.select(g.label("grid_id"), sa.func.count().label("n"))
                    .where(D.c.reported_on <= period.end, D.c.grid_id.is_not(None),
                           in_villages(D.c.village_id, ids)).group_by(g).subquery())
    q = (sa.select(G.c.id, G.c.village_id, G.c.code, G.c.name, G.c.households,
                   sa.func.coalesce(per_grid.c.n, 0).label("n"))
         .select_from(G.outerjoin(per_grid, per_grid.c.grid_id == G.c.id))
         .where(in_villages(G.c.village_id, ids)))
    by_village: dict[int, list] = {}
    for r in conn.execute(q).mappings():
        by_village.setdefault(int(r["village_id"]), []).append(r)
    names, out = _names(conn), []
    for vid, grids in sorted(by_village.items()):
        total = sum(int(g["n"]) for g in grids)
        avg = total / len(grids)
        if len(grids) < 2 or avg < settings.QUALITY_GRID_MIN_AVG:
            continue
        for g in sorted(grids, key=lambda g: g["code"]):
            if int(g["n"]) == 0:
                out.append(Flag("grid_no_dispute", vid, names.get(vid, str(vid)), "disputes", None,
                                period.end, {"village_total": total, "grids": len(grids),
                                             "average": avg, "households": int(g["households"] or 0)},
                                ({"id": int(g["id"]), "no": g["code"], "date": None},),
                                grid_id=int(g["id"]), grid=g["name"], n_rows=0))
    return out


# ---------------------------------------------------------------- (f) the ledger's own logic

def _logic_checks(conn) -> dict[str, list[tuple[str, object]]]:
    """(check code, SQL condition) per ledger kind: what intake refuses today (loaders.validate)."""
    D, V, R = S.dispute, S.volunteer_activity, S.rep_visit
    today, earliest = date.today(), date.fromisoformat(settings.EARLIEST_DATE)
    lon, lat = settings.CHINA_LON, settings.CHINA_LAT

    def dates(col):
        return [("future_date", col > today), ("old_date", col < earliest)]
    return {
        "disputes": [
            ("resolved_before_reported", D.c.resolved_on < D.c.reported_on),
            ("resolved_needs_date", sa.and_(D.c.status == "resolved",
                                            sa.or_(D.c.resolved_on.is_(None), D.c.level.is_(None)))),
            ("date_but_open", sa.and_(D.c.status != "resolved", D.c.resolved_on.is_not(None))),
            ("negative", D.c.parties < 0),
            ("bad_coord", sa.or_(D.c.lon < lon[0], D.c.lon > lon[1], D.c.lat < lat[0], D.c.lat > lat[1])),
            *dates(D.c.reported_on), *dates(D.c.resolved_on)],
        "volunteers": [
            ("hours_per_person", V.c.hours > settings.MAX_HOURS_PER_PERSON),
            ("negative", sa.or_(V.c.participants < 0, V.c.hours < 0, V.c.points < 0,
                                V.c.beneficiaries < 0)),
            *dates(V.c.held_on)],
        "visits": [
            ("outcomes_exceed", R.c.resolved + R.c.referred > R.c.suggestions),
            ("negative", sa.or_(R.c.voters < 0, R.c.suggestions < 0, R.c.resolved < 0, R.c.referred < 0)),
            *dates(R.c.visited_on)],
    }


LOGIC_COLUMNS = {"disputes": ("status", "level", "parties", "lon", "lat"),
                 "volunteers": ("participants", "hours", "points"),
                 "visits": ("suggestions", "resolved", "referred")}


def ledger_logic(conn, period: Period | None = None, village_ids=None) -> list[Flag]:
    """Stored rows (any date) that break a rule intake now refuses: resolved + referred more than
    the suggestions, resolved before reported, a resolved case without date or level, an open one
    with a resolution date, negative counts, hours per person above MAX_HOURS_PER_PERSON,
    coordinates outside China, dates in the future or before EARLIEST_DATE. One flag per village,
    kind and check, counted in one GROUP BY per ledger."""
    ids, names, out = _ids(village_ids), _names(conn), []
    for kind, checks in _logic_checks(conn).items():
        table, dcol, _ = _ledger(kind)
        merged: dict[str, object] = {}
        for code, cond in checks:   # one column per check code (two date conditions share one)
            merged[code] = sa.or_(merged[code], cond) if code in merged else cond
        sums = [sa.func.sum(sa.case((sa.func.coalesce(c, False), 1), else_=0)).label(f"c_{k}")
                for k, c in merged.items()]
        v = _by(table.c.village_id)
        q = (sa.select(v.label("village_id"), *sums)     # the WHERE leaves the few wrong rows to group
             .where(in_villages(table.c.village_id, ids), sa.or_(*merged.values()))
             .group_by(v))
        for r in conn.execute(q).mappings():
            vid = int(r["village_id"])
            for code, cond in merged.items():
                n = int(r[f"c_{code}"] or 0)
                if not n:
                    continue
                extra = [table.c[c] for c in LOGIC_COLUMNS[kind]]
                rows, _ = _rows(conn, kind, sa.and_(table.c.village_id == vid,
                                                    sa.func.coalesce(cond, False)), extra)
                shown = tuple(_row(x, kind, check=code, **{c: x[c] for c in LOGIC_COLUMNS[kind]})
                              for x in rows)
                out.append(Flag("ledger_logic", vid, names.get(vid, str(vid)), kind, None, None,
                                {"check": code, "count": n}, shown, n_rows=n))
    return out


RULE_FUNCTIONS = {"spike": spike, "same_day": same_day, "rest_days": rest_day_resolutions,
                  "silent": silent, "grid_no_dispute": grid_no_dispute, "ledger_logic": ledger_logic}


PERIOD_RULES = RULES[:-1]   # ledger_logic looks at every stored row, whatever the period


def ordered(fl: list[Flag]) -> list[Flag]:
    """Flags in rule order, then by village."""
    order = {r: i for i, r in enumerate(RULES)}
    return sorted(fl, key=lambda f: (order[f.rule], f.village, f.key()))


def flags(conn, period: Period, village_ids=None, rules=RULES) -> list[Flag]:
    """Every rule's flags for the villages (None = all), in rule order, then by village."""
    out = []
    for rule in rules:
        out.extend(RULE_FUNCTIONS[rule](conn, period, village_ids))
    return ordered(out)


def count(conn, period: Period, village_ids=None) -> int:
    return len(flags(conn, period, village_ids))


# ---------------------------------------------------------------- who sees which flags

def visible_villages(user: dict | None, village_ids=None):
    """The villages whose flags ``user`` sees within the chosen ones (None = all): a leader's or
    an admin's scope is the township; a clerk's, their own villages (dashboard.auth.checks_scope)."""
    from dashboard import auth
    mine = auth.checks_scope(user)
    if mine is None:
        return None if village_ids is None else tuple(sorted(village_ids))
    chosen = mine if village_ids is None else mine & set(village_ids)
    return tuple(sorted(chosen))


# ---------------------------------------------------------------- words and tables

def _params(lang: str) -> dict:
    return dict(z=fmt.num(settings.QUALITY_Z, 1), history=settings.QUALITY_MIN_HISTORY,
                jump=settings.QUALITY_MIN_JUMP, same_day=settings.QUALITY_SAME_DAY_MIN,
                share=fmt.pct(settings.QUALITY_REST_SHARE), rest_min=settings.QUALITY_REST_MIN,
                months=settings.QUALITY_SILENT_MONTHS, monthly=settings.QUALITY_SILENT_MIN_MONTHLY,
                grid_avg=settings.QUALITY_GRID_MIN_AVG, earliest=settings.EARLIEST_DATE,
                hours=settings.MAX_HOURS_PER_PERSON)


def rule_text(rule: str, lang: str = "zh") -> str:
    """The written rule with its thresholds (from dashboard.settings)."""
    return t(f"quality.rule.{rule}", lang, **_params(lang))


def period_text(f: Flag, lang: str = "zh") -> str:
    if f.start is None and f.end is None:
        return t("quality.all_rows", lang)
    if f.start is None:
        return t("quality.until", lang, end=f.end.isoformat())
    if f.start.day == 1 and f.end == month_end(month_index(f.start)):
        return t("quality.month", lang, year=f.start.year, month=f.start.month)
    return f"{f.start.isoformat()} – {f.end.isoformat()}"


def place_text(f: Flag, lang: str = "zh") -> str:
    return f"{f.village} · {f.grid}" if f.grid else f.village


def detail(f: Flag, lang: str = "zh") -> str:
    """What tripped the rule, with the figures (one sentence)."""
    v, kind = f.values, t(f"loader.kind.{f.kind}", lang)
    if f.rule == "spike":
        return t("quality.detail.spike", lang, kind=kind, count=fmt.num(v["count"]),
                 median=fmt.num(v["median"], 1), history=v["history"],
                 z=fmt.NONE if v["z"] is None else fmt.num(v["z"], 1))
    if f.rule == "same_day":
        return t("quality.detail.same_day", lang, count=v["count"], day=v["day"].isoformat())
    if f.rule == "rest_days":
        s = t("quality.detail.rest_days", lang, resolved=v["resolved"], rest=v["rest"],
              share=fmt.pct(v["share"]))
        if v["weekends_only"]:
            s += t("quality.weekends_only", lang, years="、".join(str(y) for y in v["weekends_only"]))
        return s
    if f.rule == "silent":
        return t("quality.detail.silent", lang, kind=kind, months=v["months"], before=v["before"],
                 last=v["last"].isoformat() if v["last"] else fmt.NONE)
    if f.rule == "grid_no_dispute":
        return t("quality.detail.grid_no_dispute", lang, total=v["village_total"], grids=v["grids"],
                 average=fmt.num(v["average"], 1))
    return t("quality.detail.ledger_logic", lang, kind=kind, count=v["count"],
             check=t(f"quality.check.{v['check']}", lang, **_params(lang)))


def summary_frame(fl: list[Flag], lang: str = "zh") -> pd.DataFrame:
    """One line per flag: rule, place, period, what tripped it, how many rows."""
    cols = [t(f"quality.col.{c}", lang) for c in ("rule", "place", "kind", "period", "detail", "rows")]
    rows = [[t(f"quality.name.{f.rule}", lang), place_text(f, lang), t(f"loader.kind.{f.kind}", lang),
             period_text(f, lang), detail(f, lang), f.n_rows] for f in fl]
    out = pd.DataFrame(rows, columns=cols)
    out.index = range(1, len(out) + 1)
    return out


def rows_frame(fl: list[Flag], lang: str = "zh") -> pd.DataFrame:
    """Every row behind the flags, one line each, for the download (record numbers and dates)."""
    cols = ["rule", "rule_text", "village", "grid", "kind", "period", "id", "no", "date",
            "resolved_on", "check"]
    rows = []
    for f in fl:
        base = [t(f"quality.name.{f.rule}", lang), rule_text(f.rule, lang), f.village, f.grid or "",
                t(f"loader.kind.{f.kind}", lang), period_text(f, lang)]
        for r in f.rows or ({},):
            rows.append(base + [r.get("id"), r.get("no"), r.get("date"), r.get("resolved_on"),
                                t(f"quality.check.{r['check']}", lang, **_params(lang))
                                if r.get("check") else ""])
    out = pd.DataFrame(rows, columns=cols)
    out.columns = [t(f"quality.col.{c}", lang) for c in cols]
    return out


def behind_frame(f: Flag, lang: str = "zh") -> pd.DataFrame:
    """The rows behind one flag, for the panel."""
    keys = ["id", "no", "date"] + [k for k in ("resolved_on", "check", *LOGIC_COLUMNS.get(f.kind, ()))
                                   if any(k in r for r in f.rows)]
    data = [[(t(f"quality.check.{r[k]}", lang, **_params(lang)) if k == "check" else r.get(k))
             for k in keys] for r in f.rows]
    no_key = "quality.no.grid" if f.rule == "grid_no_dispute" else f"quality.no.{f.kind}"
    label = {"no": t(no_key if has(no_key) else "quality.col.no", lang)}
    return pd.DataFrame(data, columns=[label.get(k) or t(f"quality.col.{k}", lang) for k in keys])


def sees_township_panel(user: dict | None) -> bool:
    """The overview's flags panel is for leaders and admins (a clerk sees their village's flags
    on its profile)."""
    return bool(user) and not user.get("disabled") and user.get("role") in ("leader", "admin")
