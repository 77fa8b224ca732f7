"""Pre-aggregated figures per village, grid and month, kept equal to the raw ledgers.

Two layers, both rebuilt from the raw rows for exactly the villages and months a
write touched (``refresh``), inside the writer's transaction:

* the **month layer** (any month-aligned period can be answered from it):
  ``agg_dispute_month``  disputes counted by reported month × resolved month × resolution
                         level per village and grid (``tail`` keeps the reported day when it
                         is the 29th–31st: that is all the overdue rule needs);
  ``agg_dispute_days``   the days-to-resolve histogram by reported × resolved month;
  ``agg_volunteer_month``, ``agg_visit_month``  sums by month.
* the **period layer** ``agg_period``: every base figure of ``metrics`` for each calendar
  month, quarter and year, one row per village (``grid_id = -1``), with the days histogram
  as text. A year for 500 villages is 500 rows to read. Grid figures (the map) are summed
  from the month layer: a county year is ~150,000 month rows, still a fraction of the raw rows.

``agg_state.dirty`` is set by triggers on every insert, update or delete of ledger rows
and cleared by ``refresh``. While it is set (someone wrote rows without refreshing), the
metrics read the raw rows, so a figure is never wrong, only slower, until the next
``refresh`` (``python -m dashboard aggregates``).

Month numbers are ``year * 12 + month - 1`` (2024-01 → 24288); ``res_month = 0`` means not
resolved, ``grid_id = 0`` no grid, ``level = ''`` none.
"""
from __future__ import annotations

import calendar
import json
from datetime import date, datetime, timedelta
from typing import Iterable

import sqlalchemy as sa

from dashboard.db.schema import metadata
from dashboard.settings import OVERDUE_DAYS

ROLLUP = -1         # agg_period.grid_id of a village's own row

agg_dispute_month = sa.Table(
    "agg_dispute_month", metadata,
    sa.Column("rep_month", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    sa.Column("grid_id", sa.Integer, primary_key=True),
    sa.Column("res_month", sa.Integer, primary_key=True),
    sa.Column("level", sa.String(10), primary_key=True),
    sa.Column("tail", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Index("ix_agg_dispute_month_village", "village_id", "rep_month"),
)

agg_dispute_days = sa.Table(
    "agg_dispute_days", metadata,
    sa.Column("rep_month", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    sa.Column("grid_id", sa.Integer, primary_key=True),
    sa.Column("res_month", sa.Integer, primary_key=True),
    sa.Column("days", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Index("ix_agg_dispute_days_village", "village_id", "rep_month"),
)

agg_volunteer_month = sa.Table(
    "agg_volunteer_month", metadata,
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    sa.Column("grid_id", sa.Integer, primary_key=True),
    sa.Column("activities", sa.Integer, nullable=False),
    sa.Column("participants", sa.BigInteger, nullable=False),
    sa.Column("hours", sa.Float, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Index("ix_agg_volunteer_month_village", "village_id", "month"),
)

agg_visit_month = sa.Table(
    "agg_visit_month", metadata,
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    sa.Column("visits", sa.Integer, nullable=False),
    sa.Column("voters", sa.BigInteger, nullable=False),
    sa.Column("suggestions", sa.BigInteger, nullable=False),
    sa.Column("resolved", sa.BigInteger, nullable=False),
    sa.Column("referred", sa.BigInteger, nullable=False),
    sa.Index("ix_agg_visit_month_village", "village_id", "month"),
)

SUMS = ("disputes_total", "disputes_resolved", "resolved_at_grid", "resolved_in_village",
        "overdue_open", "volunteer_activities", "volunteer_participants", "volunteer_hours",
        "volunteer_points", "rep_visits", "voters_contacted", "suggestions_collected",
        "issues_resolved", "issues_referred")
FLOAT_SUMS = ("volunteer_hours",)
# Base figures of the dispute *stock* at a period's end (and what was resolved within it, whatever
# the reported month): not stored per period (a case reported years ago counts in every period it
# stays open), but summed from the month layer by ``stock``.
STOCKS = ("disputes_resolved_in_period", "backlog_open", "backlog_overdue")
PACK_COLUMNS = ("village_id", *SUMS, "median_days")   # median NaN: no resolved dispute

agg_period = sa.Table(
    "agg_period", metadata,
    sa.Column("ps", sa.Integer, primary_key=True),
    sa.Column("pe", sa.Integer, primary_key=True),
    sa.Column("grid_id", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    *[sa.Column(k, sa.Float if k in FLOAT_SUMS else sa.BigInteger, nullable=False) for k in SUMS],
    sa.Column("hist", sa.Text),
    sa.Index("ix_agg_period_village", "village_id", "ps"),
)

agg_state = sa.Table(
    "agg_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dirty", sa.Integer, nullable=False, server_default="1"),
    sa.Column("refreshed_at", sa.DateTime),
    # replaced by a random value on every write to village or grid (triggers, migration 0003):
    # a process may keep the registry's static facts for as long as the token holds
    sa.Column("static_token", sa.String(32)),
)

# The pack layer: per calendar period, every village's base sums and median days in one
# binary row (float64 matrix, one row per village in id order: PACK_COLUMNS), and the median
# days of all villages together. A county year is one row to read, whatever the villages.
agg_pack = sa.Table(
    "agg_pack", metadata,
    sa.Column("ps", sa.Integer, primary_key=True),
    sa.Column("pe", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("town_median", sa.Float),
)

# The stock layer: per village (grid_id = -1) and grid (0: no grid) and month, the disputes resolved
# up to that month's end (cumulative: a period's are two rows apart) and, at its end, still open and
# open for more than OVERDUE_DAYS days (STOCKS). Rows run up to a horizon (a row village_id = 0,
# grid_id = -2) HORIZON months after the ledger's last reported or resolved month, past which
# nothing changes; rows whose figures are all 0 are left out. A period is two rows per village.
agg_stock = sa.Table(
    "agg_stock", metadata,
    sa.Column("month", sa.Integer, primary_key=True),
    sa.Column("grid_id", sa.Integer, primary_key=True),
    sa.Column("village_id", sa.Integer, primary_key=True),
    sa.Column("resolved", sa.BigInteger, nullable=False),
    sa.Column("still_open", sa.BigInteger, nullable=False),
    sa.Column("overdue", sa.BigInteger, nullable=False),
    sa.Index("ix_agg_stock_village", "village_id", "month"),
    sqlite_with_rowid=False,   # a period reads rows by primary key: no second lookup per row
)
HORIZON = 2     # months after the last event month: every open case is overdue from then on
_MARK = -2      # agg_stock.grid_id of the horizon row

TABLES = (agg_dispute_month, agg_dispute_days, agg_volunteer_month, agg_visit_month, agg_period,
          agg_pack, agg_stock, agg_state)
LEDGERS = ("dispute", "volunteer_activity", "rep_visit")


# ---------------------------------------------------------------- months and periods

def month_index(d) -> int:
    """2024-03-xx → 2024 * 12 + 2. Accepts dates, datetimes, (year, month), 'YYYY-MM[-DD]', ints."""
    if isinstance(d, int):
        return d
    if isinstance(d, (date, datetime)):
        return d.year * 12 + d.month - 1
    if isinstance(d, tuple):
        return int(d[0]) * 12 + int(d[1]) - 1
    s = str(d)
    return int(s[:4]) * 12 + int(s[5:7]) - 1


def month_start(m: int) -> date:
    return date(m // 12, m % 12 + 1, 1)


def month_end(m: int) -> date:
    y, mo = m // 12, m % 12 + 1
    return date(y, mo, calendar.monthrange(y, mo)[1])


def aligned(start: date, end: date) -> tuple[int, int] | None:
    """(first month, last month) when [start, end] is whole months, else None."""
    if start.day != 1 or end != month_end(month_index(end)):
        return None
    return month_index(start), month_index(end)


def is_calendar(ps: int, pe: int) -> bool:
    """A calendar month, quarter or year: the periods the period layer holds."""
    return ps == pe or (pe - ps == 2 and ps % 3 == 0) or (pe - ps == 11 and ps % 12 == 0)


def calendar_periods(months: Iterable[int]) -> set[tuple[int, int]]:
    out = set()
    for m in months:
        q0, y0 = m - m % 3, m - m % 12
        out |= {(m, m), (q0, q0 + 2), (y0, y0 + 11)}
    return out


def _overdue_bound(pe: int) -> tuple[int, int]:
    """(month, day) of the overdue boundary: reported before it and open at the end → overdue.

    The boundary is end − 30 days; for a month end that is the 1st of the same month or
    the 29th–31st of the month before. Returned so that ``rep_month < bm OR (rep_month = bm
    AND tail < bd)`` is exactly ``reported_on < boundary`` (tail = day when ≥ 29, else 0).
    """
    b = month_end(pe) - timedelta(days=OVERDUE_DAYS)
    if b.day == 1:
        return month_index(b), -1
    assert b.day >= 29, b
    return month_index(b), b.day


# ---------------------------------------------------------------- dialect pieces

def _sqlite(conn) -> bool:
    return conn.dialect.name == "sqlite"


def _ym(conn, col: str) -> str:
    if _sqlite(conn):  # dates are ISO text in SQLite: substr is several times faster than strftime
        return f"(CAST(substr({col}, 1, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER) - 1)"
    return f"(CAST(EXTRACT(YEAR FROM {col}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {col}) AS INTEGER) - 1)"


def _day(conn, col: str) -> str:
    if _sqlite(conn):
        return f"CAST(substr({col}, 9, 2) AS INTEGER)"
    return f"CAST(EXTRACT(DAY FROM {col}) AS INTEGER)"


def _days(conn, later: str, earlier: str) -> str:
    if _sqlite(conn):
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def _concat(conn, expr: str) -> str:
    # two of these in one aggregate see the rows in the same order (days and counts pair up)
    if _sqlite(conn):
        return f"group_concat({expr}, ',')"
    return f"string_agg({expr}, ',')"


def _ids(name: str, values) -> tuple[str, dict]:
    """An IN list as named parameters (portable, and fine for the sizes we pass)."""
    values = sorted(set(int(v) for v in values))
    if not values:
        return "1 = 0", {}
    keys = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in keys) + ")", keys


# ---------------------------------------------------------------- refresh

def refresh(conn, village_ids: Iterable[int] | None = None, months: Iterable | None = None) -> dict:
    """Recompute the aggregates of these villages and months from the raw rows.

    Call it inside the transaction that changed ledger rows, after the change, with
    every village and every month (of reported_on / held_on / visited_on) whose rows
    were inserted, updated or deleted — for an update or undo, the months before *and*
    after. ``None`` means all villages / all months. A full refresh (no arguments) clears
    the dirty flag; a partial one clears it only if the aggregates were fresh before this
    transaction (its own ledger writes set the flag through the triggers). Returns counts
    of what was recomputed.
    """
    vids = None if village_ids is None else sorted({int(v) for v in village_ids})
    mons = None if months is None else sorted({month_index(m) for m in months})
    if (vids is not None and not vids) or (mons is not None and not mons):
        # nothing of ours changed; a dirty flag set by someone else's write stays set
        return dict(villages=0, months=0, periods=0)
    partial = vids is not None or mons is not None
    vf_raw, p_v = "", {}
    if vids is not None:
        inl, p_v = _ids("v", vids)
        vf_raw = f" AND village_id IN {inl}"
    mf_agg, p_m = "", {}
    if mons is not None:
        mf_agg, p_m = _ids("m", mons)
        p_m.update(lo=month_start(mons[0]), hi=month_end(mons[-1]))
    params = {**p_v, **p_m}
    if not _sqlite(conn):
        # concurrent imports refresh one at a time (SQLite's writers already do): the same row
        # lock as the dirty triggers take, so two refreshes never interleave their DELETE/INSERT
        conn.execute(sa.text("SELECT dirty FROM agg_state WHERE id = 1 FOR UPDATE"))
    # A partial refresh covers only this transaction's changes. If the aggregates were already
    # stale before it (a bulk load or a hand-made fix committed without a refresh), they stay
    # marked stale until a full rebuild: read the committed flag through another connection
    # (after the lock above, so no other writer can commit in between).
    keep_dirty = partial and _committed_dirty(conn)
    big = _sqlite(conn) and (vids is None or len(vids) > 20 or mons is None or len(mons) > 12)
    if big:  # a county-wide rebuild sorts millions of rows: keep its pages in memory
        old_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql("PRAGMA cache_size = -262144")
    try:
        return _refresh(conn, vids, mons, vf_raw, p_v, mf_agg, params, keep_dirty)
    finally:
        if big:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(old_cache)}")


def _committed_dirty(conn) -> bool:
    """The dirty flag as committed (not as this transaction's own writes have set it)."""
    try:
        with conn.engine.connect() as other:
            v = other.execute(sa.text("SELECT dirty FROM agg_state WHERE id = 1")).scalar()
            other.rollback()
    except sa.exc.DBAPIError:  # pragma: no cover - cannot tell: assume stale, stay safe
        return True
    return v != 0


def _refresh(conn, vids, mons, vf_raw, p_v, mf_agg, params, keep_dirty=False) -> dict:
    def raw_where(col):
        w = f"WHERE 1 = 1{vf_raw}"
        if mons is not None:
            w += f" AND {col} BETWEEN :lo AND :hi"
        return w

    def month_cond(expr):
        return "" if mons is None else f" AND {expr} IN {mf_agg}"

    ex = conn.execute
    # month layer: delete, then insert from the raw rows
    for t, mcol in ((agg_dispute_month, "rep_month"), (agg_dispute_days, "rep_month"),
                    (agg_volunteer_month, "month"), (agg_visit_month, "month")):
        if vids is None and mons is None:  # no WHERE: SQLite's truncate optimisation applies
            ex(sa.text(f"DELETE FROM {t.name}"))
        else:
            ex(sa.text(f"DELETE FROM {t.name} WHERE 1 = 1{vf_raw}{month_cond(mcol)}"), params)

    rm, day = _ym(conn, "reported_on"), _day(conn, "reported_on")
    ex(sa.text(f"""
        INSERT INTO agg_dispute_month (rep_month, village_id, grid_id, res_month, level, tail, n)
        SELECT rm, village_id, gid, resm, lvl, tail, COUNT(*) FROM (
          SELECT {rm} AS rm, village_id, COALESCE(grid_id, 0) AS gid,
                 CASE WHEN resolved_on IS NULL THEN 0 ELSE {_ym(conn, 'resolved_on')} END AS resm,
                 CASE WHEN resolved_on IS NULL THEN '' ELSE COALESCE(level, '') END AS lvl,
                 CASE WHEN {day} >= 29 THEN {day} ELSE 0 END AS tail
          FROM dispute {raw_where('reported_on')}) s
        WHERE 1 = 1{month_cond('rm')}
        GROUP BY rm, village_id, gid, resm, lvl, tail"""), params)
    ex(sa.text(f"""
        INSERT INTO agg_dispute_days (rep_month, village_id, grid_id, res_month, days, n)
        SELECT rm, village_id, gid, resm, days, COUNT(*) FROM (
          SELECT {rm} AS rm, village_id, COALESCE(grid_id, 0) AS gid,
                 {_ym(conn, 'resolved_on')} AS resm, {_days(conn, 'resolved_on', 'reported_on')} AS days
          FROM dispute {raw_where('reported_on')} AND resolved_on IS NOT NULL) s
        WHERE 1 = 1{month_cond('rm')}
        GROUP BY rm, village_id, gid, resm, days"""), params)
    hm = _ym(conn, "held_on")
    ex(sa.text(f"""
        INSERT INTO agg_volunteer_month (month, village_id, grid_id, activities, participants, hours, points)
        SELECT mm, village_id, gid, COUNT(*), SUM(participants), SUM(participants * hours), SUM(points) FROM (
          SELECT {hm} AS mm, village_id, COALESCE(grid_id, 0) AS gid, participants, hours, points
          FROM volunteer_activity {raw_where('held_on')}) s
        WHERE 1 = 1{month_cond('mm')}
        GROUP BY mm, village_id, gid"""), params)
    vm = _ym(conn, "visited_on")
    ex(sa.text(f"""
        INSERT INTO agg_visit_month (month, village_id, visits, voters, suggestions, resolved, referred)
        SELECT mm, village_id, COUNT(*), SUM(voters), SUM(suggestions), SUM(resolved), SUM(referred) FROM (
          SELECT {vm} AS mm, village_id, voters, suggestions, resolved, referred
          FROM rep_visit {raw_where('visited_on')}) s
        WHERE 1 = 1{month_cond('mm')}
        GROUP BY mm, village_id"""), params)

    # period layer: every calendar month, quarter and year that holds one of the months
    if mons is None:
        lo_hi = []
        for t, c in ((agg_dispute_month, "rep_month"), (agg_volunteer_month, "month"), (agg_visit_month, "month")):
            lo_hi.append(ex(sa.text(f"SELECT MIN({c}), MAX({c}) FROM {t.name}")).one())
        los = [a for a, _ in lo_hi if a is not None]
        his = [b for _, b in lo_hi if b is not None]
        ex(sa.text(f"DELETE FROM agg_period WHERE 1 = 1{vf_raw}" if vids is not None else "DELETE FROM agg_period"),
           p_v)
        periods = calendar_periods(range(min(los), max(his) + 1)) if los else set()
    else:
        periods = calendar_periods(mons)
    for ps, pe in sorted(periods):
        if mons is not None:
            ex(sa.text(f"DELETE FROM agg_period WHERE ps = :ps AND pe = :pe{vf_raw}"),
               {**p_v, "ps": ps, "pe": pe})
        sel, p = _period_select(conn, ps, pe, "village", vids)
        cols = ", ".join(("ps", "pe", "village_id", "grid_id", *SUMS, "hist"))
        ex(sa.text(f"INSERT INTO agg_period ({cols}) SELECT :ps_, :pe_, u.* FROM ({sel}) u"),
           {**p, "ps_": ps, "pe_": pe})
    _build_packs(conn, periods, full=mons is None)
    _refresh_stock(conn, vids)
    if not keep_dirty:
        _clean(conn)
    return dict(villages=len(vids) if vids is not None else None,
                months=len(mons) if mons is not None else None, periods=len(periods))


def _build_packs(conn, periods, full: bool) -> None:
    """Rebuild the pack rows of these calendar periods from agg_period (all villages)."""
    import numpy as np
    from dashboard.metrics import hist_median
    if full:
        conn.execute(sa.text("DELETE FROM agg_pack"))
    periods = sorted(periods)
    if not periods:
        return
    cols = ", ".join(SUMS)
    if full:  # one pass over the period layer instead of one query per period
        rows = conn.execute(sa.text(
            f"SELECT ps, pe, village_id, {cols}, hist FROM agg_period WHERE grid_id = {ROLLUP} "
            f"ORDER BY ps, pe, village_id")).all()
        groups: dict = {}
        for r in rows:
            groups.setdefault((r[0], r[1]), []).append(r[2:])
    else:
        groups = {}
        for ps, pe in periods:
            conn.execute(sa.text("DELETE FROM agg_pack WHERE ps = :ps AND pe = :pe"), {"ps": ps, "pe": pe})
            groups[(ps, pe)] = [tuple(r) for r in conn.execute(sa.text(
                f"SELECT village_id, {cols}, hist FROM agg_period WHERE ps = :ps AND pe = :pe "
                f"AND grid_id = {ROLLUP} ORDER BY village_id"), {"ps": ps, "pe": pe})]
    hours = 1 + SUMS.index("volunteer_hours")
    out = []
    for (ps, pe), rows in groups.items():
        if not rows:
            continue
        mat = np.empty((len(rows), len(PACK_COLUMNS)), dtype=np.float64)
        mat[:, :-1] = [[float(x) for x in r[:-1]] for r in rows]
        mat[:, hours] = [round(float(r[hours]), 2) for r in rows]
        texts = [(i, r[-1]) for i, r in enumerate(rows) if r[-1]]
        mat[:, -1] = np.nan
        town = None
        if texts:
            parsed = json.loads("[" + ",".join(t for _, t in texts) + "]")
            for (i, _), (d, n) in zip(texts, parsed):
                m = hist_median(d, n)
                if m is not None:
                    mat[i, -1] = m
            town = hist_median([x for d, _ in parsed for x in d], [x for _, n in parsed for x in n])
        out.append({"ps": ps, "pe": pe, "n": len(rows), "data": mat.tobytes(), "town_median": town})
    if out:
        conn.execute(agg_pack.insert(), out)


def read_pack(conn, ps: int, pe: int):
    """(matrix with PACK_COLUMNS, town median) of a calendar period; (None, None) without rows."""
    import numpy as np
    r = conn.execute(sa.select(agg_pack.c.n, agg_pack.c.data, agg_pack.c.town_median)
                     .where(agg_pack.c.ps == ps, agg_pack.c.pe == pe)).first()
    if r is None:
        return None, None
    mat = np.frombuffer(bytes(r[1]), dtype=np.float64).reshape(int(r[0]), len(PACK_COLUMNS))
    return mat, r[2]


def state(conn) -> tuple[bool, str | None]:
    """(aggregates fresh, static token) in one round trip."""
    try:
        r = conn.execute(sa.text("SELECT dirty, static_token FROM agg_state WHERE id = 1")).first()
    except sa.exc.DBAPIError:  # pragma: no cover - a database not yet at revision 0003
        return False, None
    return (r is not None and r[0] == 0), (None if r is None else r[1])


DATE_COLUMN = {"dispute": "reported_on", "volunteer_activity": "held_on", "rep_visit": "visited_on"}


def touched(conn, batch_id: int) -> tuple[set[int], set[int]]:
    """(village ids, months) of the ledger rows an import batch wrote: their values now and,
    for updated rows, before. Call it after an import's writes, or *before* an undo changes
    anything, and pass the result to ``refresh``."""
    vids: set[int] = set()
    months: set[int] = set()
    for tname, dcol in DATE_COLUMN.items():
        rows = conn.execute(sa.text(
            f"SELECT DISTINCT t.village_id, {_ym(conn, 't.' + dcol)} FROM {tname} t "
            f"JOIN batch_change bc ON bc.row_id = t.id AND bc.table_name = :t WHERE bc.batch_id = :b"),
            {"t": tname, "b": int(batch_id)}).all()
        for v, m in rows:
            vids.add(int(v))
            months.add(int(m))
        for (before,) in conn.execute(sa.text(
                "SELECT before FROM batch_change WHERE batch_id = :b AND table_name = :t "
                "AND before IS NOT NULL"), {"t": tname, "b": int(batch_id)}):
            d = json.loads(before)
            if d.get("village_id") is not None:
                vids.add(int(d["village_id"]))
            if d.get(dcol):
                months.add(month_index(str(d[dcol])[:10]))
    if _unrecorded_inserts(conn, batch_id):
        # a bulk load (loaders: above REFRESH_MAX_ROWS) records no batch_change per inserted
        # row; its rows carry its batch id instead (a full scan: only for such batches)
        for tname, dcol in DATE_COLUMN.items():
            for v, m in conn.execute(sa.text(
                    f"SELECT DISTINCT village_id, {_ym(conn, dcol)} FROM {tname} WHERE batch_id = :b"),
                    {"b": int(batch_id)}):
                vids.add(int(v))
                months.add(int(m))
    if vids and not months:
        months = None  # pragma: no cover - a ledger row always has a date
    return vids, months


def _unrecorded_inserts(conn, batch_id: int) -> bool:
    """Whether the batch inserted more rows than batch_change records as inserted."""
    said = conn.execute(sa.text("SELECT inserted FROM import_batch WHERE id = :b"), {"b": int(batch_id)}).scalar()
    if not said:
        return False
    recorded = conn.execute(sa.text("SELECT COUNT(*) FROM batch_change WHERE batch_id = :b AND before IS NULL"),
                            {"b": int(batch_id)}).scalar()
    return int(said) > int(recorded or 0)


def refresh_batch(conn, batch_id: int) -> dict:
    """``refresh`` exactly what an import batch touched (call after its writes)."""
    vids, months = touched(conn, batch_id)
    return refresh(conn, vids, months)


def rebuild_if_stale(engine) -> float | None:
    """A full rebuild, in its own transaction, when the aggregates are stale; its seconds, or
    None when they were fresh. Callers of a bulk load (above loaders.ingest.REFRESH_MAX_ROWS the
    import commits with the aggregates stale, to keep its transaction short) run it after the
    commit: meanwhile the metrics read the raw rows, so no figure is ever wrong, only slower."""
    import time
    from dashboard.db.engine import write_txn
    with engine.connect() as conn:
        if is_fresh(conn):
            return None
    t0 = time.perf_counter()
    with write_txn(engine) as conn:
        if is_fresh(conn):  # someone else rebuilt them while this waited for the write lock
            return None
        refresh(conn)
    return time.perf_counter() - t0


def _clean(conn) -> None:
    now = datetime.now()
    r = conn.execute(sa.update(agg_state).where(agg_state.c.id == 1).values(dirty=0, refreshed_at=now))
    if r.rowcount == 0:
        conn.execute(sa.insert(agg_state).values(id=1, dirty=0, refreshed_at=now))


def is_fresh(conn) -> bool:
    """True when the aggregates reflect every ledger row (no write since the last refresh)."""
    try:
        v = conn.execute(sa.text("SELECT dirty FROM agg_state WHERE id = 1")).scalar()
    except sa.exc.DBAPIError:  # pragma: no cover - a database not yet at revision 0002
        return False
    return v == 0


# ---------------------------------------------------------------- reading

def _period_select(conn, ps: int, pe: int, by: str, village_ids) -> tuple[str, dict]:
    """SQL giving ``(key, grid_id, *SUMS, hist)`` per village (by='village': key = village_id,
    grid_id = -1) or per grid (key = grid_id, 0 for no grid) of the month-aligned period
    [ps, pe], from the month layer; hist is '[[days, …], [n, …]]' (JSON)."""
    bm, bd = _overdue_bound(pe)
    p = {"s": ps, "e": pe, "bm": bm, "bd": bd}
    vf = ""
    if village_ids is not None:
        inl, pv = _ids("pv", village_ids)
        vf = f" AND village_id IN {inl}"
        p.update(pv)
    k = "village_id" if by == "village" else "grid_id"
    res = "res_month > 0 AND res_month <= :e"
    hist = ("'[[' || " + _concat(conn, "CAST(days AS VARCHAR(12))") + " || '],[' || "
            + _concat(conn, "CAST(n AS VARCHAR(12))") + " || ']]'")
    z = "0"
    zf = "CAST(0 AS FLOAT)" if _sqlite(conn) else "CAST(0 AS DOUBLE PRECISION)"
    nul = "CAST(NULL AS TEXT)"
    parts = [f"""
      SELECT {k} AS k, SUM(n) AS a1,
             SUM(CASE WHEN {res} THEN n ELSE 0 END) AS a2,
             SUM(CASE WHEN {res} AND level = 'grid' THEN n ELSE 0 END) AS a3,
             SUM(CASE WHEN {res} AND level IN ('grid', 'village') THEN n ELSE 0 END) AS a4,
             SUM(CASE WHEN (res_month = 0 OR res_month > :e)
                       AND (rep_month < :bm OR (rep_month = :bm AND tail < :bd)) THEN n ELSE 0 END) AS a5,
             {z} AS a6, {z} AS a7, {zf} AS a8, {z} AS a9, {z} AS a10, {z} AS a11, {z} AS a12, {z} AS a13,
             {z} AS a14, {nul} AS h
      FROM agg_dispute_month WHERE rep_month BETWEEN :s AND :e{vf} GROUP BY {k}""",
             f"""
      SELECT k, {z}, {z}, {z}, {z}, {z}, {z}, {z}, {zf}, {z}, {z}, {z}, {z}, {z}, {z}, {hist}
      FROM (SELECT {k} AS k, days, SUM(n) AS n FROM agg_dispute_days
            WHERE rep_month BETWEEN :s AND :e AND res_month <= :e{vf} GROUP BY {k}, days) h
      GROUP BY k""",
             f"""
      SELECT {k} AS k, {z}, {z}, {z}, {z}, {z}, SUM(activities), SUM(participants),
             SUM(hours), SUM(points), {z}, {z}, {z}, {z}, {z}, {nul}
      FROM agg_volunteer_month WHERE month BETWEEN :s AND :e{vf} GROUP BY {k}"""]
    if by == "village":
        parts.append(f"""
      SELECT village_id AS k, {z}, {z}, {z}, {z}, {z}, {z}, {z}, {zf}, {z}, SUM(visits), SUM(voters),
             SUM(suggestions), SUM(resolved), SUM(referred), {nul}
      FROM agg_visit_month WHERE month BETWEEN :s AND :e{vf} GROUP BY village_id""")
    # PostgreSQL's SUM of a bigint is numeric: cast back, so both dialects return ints
    outer = ", ".join(f"SUM(a{i})" if i == 8 else f"CAST(SUM(a{i}) AS BIGINT)" for i in range(1, 15))
    sql = (f"SELECT k, {ROLLUP if by == 'village' else 'k'} AS grid_id, {outer}, MAX(h) FROM ("
           + " UNION ALL ".join(parts) + ") x GROUP BY k")
    return sql, p


def _overdue_from(rep: int, tail: int) -> int:
    """The first month at whose end a case reported in month ``rep`` (``tail`` as stored) and
    still open is overdue: never its own month (a month is at most 31 days), the next one when
    the boundary of that month's end falls after the reported day, else the one after."""
    bm, bd = _overdue_bound(rep + 1)
    return rep + 1 if rep < bm or (rep == bm and tail < bd) else rep + 2


def _stock_rows(rows, horizon: int) -> list[tuple]:
    """agg_stock rows ``(month, grid_id, village_id, resolved, still_open, overdue)`` (grids and
    village rollups) from month-layer rows ``(rep_month, village_id, grid_id, res_month, tail,
    n)``, months up to ``horizon``: each case adds to the months it is open (from its reported
    month until its resolved month) and overdue (from ``_overdue_from``), by difference arrays;
    resolved is cumulative."""
    import numpy as np
    if not len(rows):
        return []
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 6)
    rep, vid, gid, res, tail, n = (a[:, i] for i in range(6))
    lo = int(rep.min())
    width = horizon - lo + 1
    span = int(gid.max()) + 3
    keys = np.concatenate([vid * span + gid + 2, vid * span + ROLLUP + 2])
    uk, inv = np.unique(keys, return_inverse=True)
    reps = np.arange(lo, int(rep.max()) + 1)
    bounds = np.array([_overdue_bound(int(r) + 1) for r in reps], dtype=np.int64).reshape(-1, 2)
    bm, bd = bounds[rep - lo, 0], bounds[rep - lo, 1]
    od = np.where((rep < bm) | ((rep == bm) & (tail < bd)), rep + 1, rep + 2)
    end = np.where(res > 0, res, horizon + 1)                 # first month no longer open
    od = np.minimum(od, end)
    rep2, end2, od2, res2, n2 = (np.concatenate([x, x]) - (lo if i < 4 else 0)
                                 for i, x in enumerate((rep, end, od, res, n)))
    shape = (len(uk), width + 2)
    still_open, overdue, resolved = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    np.add.at(still_open, (inv, rep2), n2)
    np.add.at(still_open, (inv, end2), -n2)
    np.add.at(overdue, (inv, od2), n2)
    np.add.at(overdue, (inv, end2), -n2)
    hit = res2 >= 0                                            # res_month > 0: resolved
    np.add.at(resolved, (inv[hit], res2[hit]), n2[hit])
    still_open, overdue = np.cumsum(still_open, 1)[:, :width], np.cumsum(overdue, 1)[:, :width]
    resolved = np.cumsum(resolved, 1)[:, :width]
    ki, mi = np.nonzero((still_open != 0) | (overdue != 0) | (resolved != 0))
    out = np.stack([mi + lo, uk[ki] % span - 2, uk[ki] // span, resolved[ki, mi], still_open[ki, mi],
                    overdue[ki, mi]], 1)
    return [tuple(r) for r in out.tolist()]


def horizon(conn) -> int | None:
    """The stock layer's last month (None: no dispute)."""
    return conn.execute(sa.text("SELECT MAX(month) FROM agg_stock")).scalar()  # the horizon row's


def _refresh_stock(conn, vids) -> None:
    """Rebuild the stock layer of these villages (None: all) from the month layer; the horizon
    follows the whole ledger's last reported or resolved month."""
    ex = conn.execute
    old = horizon(conn)
    vf, p = "", {}
    if vids is not None:
        inl, p = _ids("v", vids)
        vf = f" WHERE village_id IN {inl}"
    result = ex(sa.text(
        f"SELECT rep_month, village_id, grid_id, res_month, tail, n FROM agg_dispute_month{vf}"), p)
    rows = result.cursor.fetchall()   # plain tuples: a county is 700,000 rows
    result.close()
    ex(sa.text(f"DELETE FROM agg_stock{vf}" if vids is not None else "DELETE FROM agg_stock"), p)
    ex(sa.text(f"DELETE FROM agg_stock WHERE grid_id = {_MARK}"))
    last = ex(sa.text("SELECT MAX(rep_month), MAX(res_month) FROM agg_dispute_month")).one()
    if last[0] is None:
        return
    new = max(last) + HORIZON
    if vids is not None and old is not None and new > old:
        # the other villages have nothing after old − HORIZON: their open cases stay as at old
        for m in range(old + 1, new + 1):
            ex(sa.text(f"INSERT INTO agg_stock (grid_id, month, village_id, resolved, still_open, overdue) "
                       f"SELECT grid_id, :m, village_id, resolved, still_open, overdue FROM agg_stock "
                       f"WHERE month = :old"), {"m": m, "old": old})
    elif vids is not None and old is not None and new < old:
        ex(sa.text("DELETE FROM agg_stock WHERE month > :new"), {"new": new})
    out = _stock_rows(rows, new)
    out.append((new, _MARK, 0, 0, 0, 0))
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"   # the driver's executemany: no
    conn.exec_driver_sql(                                        # per-row parameter compiling
        f"INSERT INTO agg_stock (month, grid_id, village_id, resolved, still_open, overdue) "
        f"VALUES ({', '.join([mark] * 6)})", out)


def stock_matrix(conn, ps: int, pe: int, village_ids, by: str):
    """The stock layer's figures of the month-aligned period [ps, pe] per village (or grid; 0 =
    no grid), as a float64 matrix ``(id, *STOCKS)`` sorted by id: resolved within the period
    (any reported month), open at its end and, of those, open for more than OVERDUE_DAYS days.
    Ids without any are left out."""
    import numpy as np
    h = horizon(conn)
    if h is None:
        return np.zeros((0, 1 + len(STOCKS)))
    p = {"b": min(ps - 1, h), "e": min(pe, h)}
    vf = ""
    if village_ids is not None:
        inl, pv = _ids("sv", village_ids)
        vf = f" AND village_id IN {inl}"
        p.update(pv)
    k, g = ("village_id", f"grid_id = {ROLLUP}") if by == "village" else ("grid_id", "grid_id >= 0")
    sql = f"""
      SELECT {k},
             CAST(SUM(CASE WHEN month = :e THEN resolved ELSE -resolved END) AS BIGINT),
             CAST(SUM(CASE WHEN month = :e THEN still_open ELSE 0 END) AS BIGINT),
             CAST(SUM(CASE WHEN month = :e THEN overdue ELSE 0 END) AS BIGINT)
      FROM agg_stock WHERE {g} AND month IN (:b, :e){vf}
      GROUP BY {k} ORDER BY {k}"""
    result = conn.execute(sa.text(sql), p)
    rows = result.cursor.fetchall()
    result.close()
    mat = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(STOCKS))
    if p["b"] == p["e"]:  # the whole period is past the horizon: nothing resolved in it
        mat[:, 1] = 0
    return mat


def stock(conn, ps: int, pe: int, village_ids, by: str) -> dict:
    """``stock_matrix`` as ``{village or grid id: {STOCKS name: count}}`` (grid id None: no grid)."""
    out = {}
    for r in stock_matrix(conn, ps, pe, village_ids, by).tolist():
        key = int(r[0])
        if key == 0 and by == "grid":
            key = None
        out[key] = {name: int(v) for name, v in zip(STOCKS, r[1:])}
    return out


def _parse_hist(text: str | None) -> dict[int, int]:
    """'[[days, …], [n, …]]' → {days: n}."""
    if not text:
        return {}
    d, n = json.loads(text)
    return dict(zip(d, n))


def _parse_hists(texts: list[str]) -> list[dict[int, int]]:
    """Many histograms with one JSON parse (500 villages × a year: the C parser, not int())."""
    return [dict(zip(d, n)) for d, n in json.loads("[" + ",".join(texts) + "]")]


def fetch(conn, start: date, end: date, village_ids, by: str):
    """Base sums and days histograms of a month-aligned period from the aggregates.

    Returns ``(base, hist)`` shaped like ``metrics._fetch_base``'s raw path, or None
    when the period is not month-aligned or the aggregates are not fresh.
    """
    span = aligned(start, end)
    if span is None or not is_fresh(conn):
        return None
    ps, pe = span
    if is_calendar(ps, pe) and by == "village":
        cond = "grid_id = -1"
        p = {"ps": ps, "pe": pe}
        vf = ""
        if village_ids is not None:
            inl, pv = _ids("pv", village_ids)
            vf = f" AND village_id IN {inl}"
            p.update(pv)
        key = "village_id" if by == "village" else "grid_id"
        sql = (f"SELECT {key}, {', '.join(SUMS)}, hist FROM agg_period "
               f"WHERE ps = :ps AND pe = :pe AND {cond}{vf}")
        rows = conn.execute(sa.text(sql), p).all()
    else:
        sql, p = _period_select(conn, ps, pe, by, village_ids)
        rows = [(r[0], *r[2:]) for r in conn.execute(sa.text(sql), p).all()]
    keys = SUMS if by == "village" else SUMS[:9]
    n = len(keys)
    base: dict = {}
    hist: dict = {}
    with_hist = []
    for r in rows:  # 500 rows for a county year: keep this loop lean
        k = r[0]
        if k == 0 and by == "grid":
            k = None
        vals = dict(zip(keys, r[1:n + 1]))   # integer sums come back as ints on both dialects
        vals["volunteer_hours"] = round(float(vals["volunteer_hours"] or 0), 2)
        base[k] = vals
        if r[-1]:
            with_hist.append((k, r[-1]))
    if with_hist:
        hist = dict(zip((k for k, _ in with_hist), _parse_hists([t for _, t in with_hist])))
    for k, vals in stock(conn, ps, pe, village_ids, by).items():
        base.setdefault(k, {}).update(vals)
    return base, hist


# ---------------------------------------------------------------- checking

def _month_rows(conn, table: sa.Table) -> dict:
    cols = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    vals = [c for c in cols if c not in keys]
    out = {}
    for r in conn.execute(sa.select(table)).mappings():
        v = tuple(round(float(r[c]), 6) if c == "hours" else int(r[c]) for c in vals)
        out[tuple(r[k] for k in keys)] = v
    return out


def snapshot(conn) -> dict:
    """Every aggregate row as comparable Python values (tests compare two snapshots)."""
    out = {t.name: _month_rows(conn, t) for t in (agg_dispute_month, agg_dispute_days,
                                                   agg_volunteer_month, agg_visit_month)}
    per = {}
    for r in conn.execute(sa.select(agg_period)).mappings():
        key = (r["ps"], r["pe"], r["grid_id"], r["village_id"])
        per[key] = tuple(round(float(r[k]), 6) if k in FLOAT_SUMS else int(r[k]) for k in SUMS) + \
            (tuple(sorted(_parse_hist(r["hist"]).items())),)
    out["agg_period"] = per
    out["agg_stock"] = _month_rows(conn, agg_stock)
    out["agg_pack"] = {(r["ps"], r["pe"]): (int(r["n"]), bytes(r["data"]), r["town_median"])
                       for r in conn.execute(sa.select(agg_pack)).mappings()}
    return out


def recomputed(conn) -> dict:
    """What the aggregates would hold if rebuilt from the raw rows now (rolled back)."""
    nested = conn.begin_nested()
    try:
        refresh(conn)
        return snapshot(conn)
    finally:
        nested.rollback()


# ---------------------------------------------------------------- triggers (migration 0002)

def trigger_ddl(dialect: str) -> list[str]:
    """Statements creating the triggers that mark the aggregates dirty on any ledger write."""
    out = []
    if dialect == "sqlite":
        for t in LEDGERS:
            for ev in ("INSERT", "UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER agg_dirty_{t}_{ev.lower()} AFTER {ev} ON {t} "
                    f"WHEN (SELECT dirty FROM agg_state WHERE id = 1) = 0 "
                    f"BEGIN UPDATE agg_state SET dirty = 1 WHERE id = 1; END")
        return out
    out.append("""CREATE OR REPLACE FUNCTION agg_mark_dirty() RETURNS trigger AS $$
BEGIN
  UPDATE agg_state SET dirty = 1 WHERE id = 1 AND dirty = 0;
  RETURN NULL;
END $$ LANGUAGE plpgsql""")
    for t in LEDGERS:
        out.append(f"CREATE TRIGGER agg_dirty_{t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION agg_mark_dirty()")
    return out


STATIC = ("village", "grid")


def static_trigger_ddl(dialect: str) -> list[str]:
    """Statements creating the triggers that replace agg_state.static_token on any write to
    village or grid (migration 0003): a cache of static facts keyed on it cannot go stale."""
    if dialect == "sqlite":
        return [f"CREATE TRIGGER agg_static_{t}_{ev.lower()} AFTER {ev} ON {t} "
                f"BEGIN UPDATE agg_state SET static_token = lower(hex(randomblob(8))) WHERE id = 1; END"
                for t in STATIC for ev in ("INSERT", "UPDATE", "DELETE")]
    out = ["""CREATE OR REPLACE FUNCTION agg_static_changed() RETURNS trigger AS $$
BEGIN
  UPDATE agg_state SET static_token = md5(random()::text || clock_timestamp()::text) WHERE id = 1;
  RETURN NULL;
END $$ LANGUAGE plpgsql"""]
    for t in STATIC:
        out.append(f"CREATE TRIGGER agg_static_{t} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION agg_static_changed()")
    return out


def drop_trigger_ddl(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS agg_dirty_{t}_{ev}" for t in LEDGERS
                for ev in ("insert", "update", "delete")]
    return [f"DROP TRIGGER IF EXISTS agg_dirty_{t} ON {t}" for t in LEDGERS] + \
        ["DROP FUNCTION IF EXISTS agg_mark_dirty()"]
