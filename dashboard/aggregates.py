"""The base-sum layer: the pre-aggregated tables, and the one answer to "the base sums of these
villages (or their grids) in this period" (``base``, ``sums``; ``raw_sums`` from the raw ledger),
with named columns. The registry (dashboard.metrics) derives every figure from them and is never
imported here; the rules come from dashboard.rules, the SQL dialect pieces from dashboard.db.dialect.

Pre-aggregated figures per village, grid and month, kept equal to the raw ledgers.

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

import json
from dataclasses import dataclass
from itertools import chain
from datetime import date, datetime
from typing import Iterable

import numpy as np
import sqlalchemy as sa

from dashboard import rules
from dashboard import suggestions as suggestion_rules
from dashboard.db import schema as S
from dashboard.db.dialect import big_cache, concat, day as day_of, days as days_between, days_expr, float_zero, \
    ids as _ids, in_villages, indexes_built_after, is_postgres, is_sqlite, literal_list, mark, ym
from dashboard.db.schema import metadata
from dashboard.periods import Period, month_end, month_index, month_start
from dashboard.settings import OVERDUE_DAYS  # noqa: F401 - re-exported (tests compare the two)

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
    sqlite_with_rowid=False,   # read and written by primary key only: one b-tree (migration 0009)
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
    sqlite_with_rowid=False,
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
MONTH_LAYER = (agg_dispute_month, agg_dispute_days, agg_volunteer_month, agg_visit_month)
REBUILT = (*MONTH_LAYER, agg_period, agg_pack, agg_stock)   # by a full refresh (agg_state stays)
LEDGERS = ("dispute", "volunteer_activity", "rep_visit")


# ---------------------------------------------------------------- months and periods

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
    if not is_sqlite(conn):
        # concurrent imports refresh one at a time (SQLite's writers already do): the same row
        # lock as the dirty triggers take, so two refreshes never interleave their DELETE/INSERT
        conn.execute(sa.text("SELECT dirty FROM agg_state WHERE id = 1 FOR UPDATE"))
    # A partial refresh covers only this transaction's changes. If the aggregates were already
    # stale before it (a bulk load or a hand-made fix committed without a refresh), they stay
    # marked stale until a full rebuild: read the committed flag through another connection
    # (after the lock above, so no other writer can commit in between).
    keep_dirty = partial and _committed_dirty(conn)
    # A full rebuild fills the tables with their indexes dropped and builds those once at the
    # end. On PostgreSQL that DDL locks the tables until commit: only while the committed flag
    # says stale, when no reader uses them (the metrics read the raw rows meanwhile).
    bulk = not partial and (is_sqlite(conn) or _committed_dirty(conn))
    # a county-wide rebuild sorts millions of rows: keep its pages in memory
    with big_cache(conn, vids is None or len(vids) > 20 or mons is None or len(mons) > 12):
        return _refresh(conn, vids, mons, vf_raw, p_v, mf_agg, params, keep_dirty, bulk)


def _committed_dirty(conn) -> bool:
    """The dirty flag as committed (not as this transaction's own writes have set it)."""
    try:
        with conn.engine.connect() as other:
            v = other.execute(sa.text("SELECT dirty FROM agg_state WHERE id = 1")).scalar()
            other.rollback()
    except sa.exc.DBAPIError:  # pragma: no cover - cannot tell: assume stale, stay safe
        return True
    return v != 0


def _refresh(conn, vids, mons, vf_raw, p_v, mf_agg, params, keep_dirty=False, bulk=False) -> dict:
    if bulk and is_postgres(conn):   # no dead rows to leave behind (the tables are locked anyway)
        conn.exec_driver_sql(f"TRUNCATE {', '.join(t.name for t in REBUILT)}")
    with indexes_built_after(conn, [t.name for t in MONTH_LAYER], on=bulk):
        _month_layer(conn, vids, mons, vf_raw, mf_agg, params)
    # the period layer reads the month layer by its primary key: built by now
    with indexes_built_after(conn, (agg_period.name, agg_stock.name), on=bulk):
        periods = _period_layer(conn, vids, mons, vf_raw, p_v)
        _build_packs(conn, periods, full=mons is None)
        _refresh_stock(conn, vids)
    if not keep_dirty:
        _clean(conn)
    return dict(villages=len(vids) if vids is not None else None,
                months=len(mons) if mons is not None else None, periods=len(periods))


def _month_layer(conn, vids, mons, vf_raw, mf_agg, params) -> None:
    """Delete, then insert from the raw rows, the month layer of these villages and months."""
    def raw_where(col):
        w = f"WHERE 1 = 1{vf_raw}"
        if mons is not None:
            w += f" AND {col} BETWEEN :lo AND :hi"
        return w

    def month_cond(expr):
        return "" if mons is None else f" AND {expr} IN {mf_agg}"

    ex = conn.execute
    for t, mcol in ((agg_dispute_month, "rep_month"), (agg_dispute_days, "rep_month"),
                    (agg_volunteer_month, "month"), (agg_visit_month, "month")):
        if vids is None and mons is None:  # no WHERE: SQLite's truncate optimisation applies
            ex(sa.text(f"DELETE FROM {t.name}"))
        else:
            ex(sa.text(f"DELETE FROM {t.name} WHERE 1 = 1{vf_raw}{month_cond(mcol)}"), params)

    rm, day = ym(conn, "reported_on"), day_of(conn, "reported_on")
    ex(sa.text(f"""
        INSERT INTO agg_dispute_month (rep_month, village_id, grid_id, res_month, level, tail, n)
        SELECT rm, village_id, gid, resm, lvl, tail, COUNT(*) FROM (
          SELECT {rm} AS rm, village_id, COALESCE(grid_id, 0) AS gid,
                 CASE WHEN resolved_on IS NULL THEN 0 ELSE {ym(conn, 'resolved_on')} END AS resm,
                 CASE WHEN resolved_on IS NULL THEN '' ELSE COALESCE(level, '') END AS lvl,
                 CASE WHEN {day} >= {rules.TAIL_FROM} THEN {day} ELSE 0 END AS tail
          FROM dispute {raw_where('reported_on')}) s
        WHERE 1 = 1{month_cond('rm')}
        GROUP BY rm, village_id, gid, resm, lvl, tail"""), params)
    ex(sa.text(f"""
        INSERT INTO agg_dispute_days (rep_month, village_id, grid_id, res_month, days, n)
        SELECT rm, village_id, gid, resm, days, COUNT(*) FROM (
          SELECT {rm} AS rm, village_id, COALESCE(grid_id, 0) AS gid,
                 {ym(conn, 'resolved_on')} AS resm, {days_between(conn, 'resolved_on', 'reported_on')} AS days
          FROM dispute {raw_where('reported_on')} AND resolved_on IS NOT NULL) s
        WHERE 1 = 1{month_cond('rm')}
        GROUP BY rm, village_id, gid, resm, days"""), params)
    hm = ym(conn, "held_on")
    ex(sa.text(f"""
        INSERT INTO agg_volunteer_month (month, village_id, grid_id, activities, participants, hours, points)
        SELECT mm, village_id, gid, COUNT(*), SUM(participants), SUM(participants * hours), SUM(points) FROM (
          SELECT {hm} AS mm, village_id, COALESCE(grid_id, 0) AS gid, participants, hours, points
          FROM volunteer_activity {raw_where('held_on')}) s
        WHERE 1 = 1{month_cond('mm')}
        GROUP BY mm, village_id, gid"""), params)
    vm = ym(conn, "visited_on")
    ex(sa.text(f"""
        INSERT INTO agg_visit_month (month, village_id, visits, voters, suggestions, resolved, referred)
        SELECT mm, village_id, COUNT(*), SUM(voters), SUM(suggestions), SUM(resolved), SUM(referred) FROM (
          SELECT {vm} AS mm, village_id, voters, suggestions, resolved, referred
          FROM rep_visit {raw_where('visited_on')}) s
        WHERE 1 = 1{month_cond('mm')}
        GROUP BY mm, village_id"""), params)


def _period_layer(conn, vids, mons, vf_raw, p_v) -> set:
    """Rebuild the period layer of these villages for every calendar month, quarter and year
    that holds one of the months (all: None); returns those periods."""
    ex = conn.execute
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
    return periods


def _build_packs(conn, periods, full: bool) -> None:
    """Rebuild the pack rows of these calendar periods from agg_period (all villages)."""
    if full:
        conn.execute(sa.text("DELETE FROM agg_pack"))
    periods = sorted(periods)
    if not periods:
        return
    cols = ", ".join(SUMS)
    sel = f"SELECT ps, pe, village_id, {cols}, hist FROM agg_period WHERE grid_id = {ROLLUP}"
    if full:  # one pass over the period layer instead of one query per period
        result = conn.execute(sa.text(f"{sel} ORDER BY ps, pe, village_id"))
        rows = result.cursor.fetchall()
        result.close()
    else:
        rows = []
        for ps, pe in periods:
            conn.execute(sa.text("DELETE FROM agg_pack WHERE ps = :ps AND pe = :pe"), {"ps": ps, "pe": pe})
            rows += [tuple(r) for r in conn.execute(sa.text(
                f"{sel} AND ps = :ps AND pe = :pe ORDER BY village_id"), {"ps": ps, "pe": pe})]
    if not rows:
        return
    # every village's sums of every period in one matrix, rows in (period, village) order
    mat = np.empty((len(rows), len(PACK_COLUMNS)), dtype=np.float64)
    mat[:, :-1] = [r[2:-1] for r in rows]
    hours = 1 + SUMS.index("volunteer_hours")
    mat[:, hours] = [round(float(r[2 + hours]), 2) for r in rows]
    keys = np.array([(r[0], r[1]) for r in rows], dtype=np.int64)
    first = np.flatnonzero(np.concatenate([[True], (keys[1:] != keys[:-1]).any(1)]))
    period = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(rows))))
    # every histogram's median (and each period's, all villages together) by one sort
    with_hist = [i for i, r in enumerate(rows) if r[-1]]
    parsed = json.loads("[" + ",".join(rows[i][-1] for i in with_hist) + "]")
    owner = np.repeat(np.array(with_hist, dtype=np.int64), [len(d) for d, _ in parsed])
    days = np.fromiter(chain.from_iterable(d for d, _ in parsed), dtype=np.int64, count=len(owner))
    counts = np.fromiter(chain.from_iterable(n for _, n in parsed), dtype=np.int64, count=len(owner))
    mat[:, -1] = rules.hist_medians(owner, days, counts, len(rows))
    town = rules.hist_medians(period[owner], days, counts, len(first))
    out = []
    for j, (lo, hi) in enumerate(zip(first, np.append(first[1:], len(rows)))):
        out.append({"ps": int(keys[lo, 0]), "pe": int(keys[lo, 1]), "n": int(hi - lo),
                    "data": mat[lo:hi].tobytes(), "town_median": None if np.isnan(town[j]) else float(town[j])})
    conn.execute(agg_pack.insert(), out)


def read_pack(conn, ps: int, pe: int):
    """(matrix with PACK_COLUMNS, town median) of a calendar period; (None, None) without rows."""
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
            f"SELECT DISTINCT t.village_id, {ym(conn, 't.' + dcol)} FROM {tname} t "
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
                    f"SELECT DISTINCT village_id, {ym(conn, dcol)} FROM {tname} WHERE batch_id = :b"),
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

# Each base sum of the period layer as the SQL summed over the month table it comes from (rows of
# the period's months; :e is its last month, :bm / :bd its overdue bound, rules.overdue_bound). The
# dispute rules on month numbers (rules.resolved_by / overdue_at, kept equal to the raw ledger's by
# tests/test_aggregates.py):
RESOLVED_BY_END = "res_month > 0 AND res_month <= :e"
OVERDUE_AT_END = "(res_month = 0 OR res_month > :e) AND (rep_month < :bm OR (rep_month = :bm AND tail < :bd))"


MONTH_SUMS = {
    agg_dispute_month.name: {
        "disputes_total": "n",
        "disputes_resolved": f"CASE WHEN {RESOLVED_BY_END} THEN n ELSE 0 END",
        "resolved_at_grid": f"CASE WHEN {RESOLVED_BY_END} AND level IN {literal_list(rules.WITHIN_GRID)} "
                            f"THEN n ELSE 0 END",
        "resolved_in_village": f"CASE WHEN {RESOLVED_BY_END} AND level IN {literal_list(rules.WITHIN_VILLAGE)} "
                               f"THEN n ELSE 0 END",
        "overdue_open": f"CASE WHEN {OVERDUE_AT_END} THEN n ELSE 0 END"},
    agg_volunteer_month.name: {
        "volunteer_activities": "activities", "volunteer_participants": "participants",
        "volunteer_hours": "hours", "volunteer_points": "points"},
    agg_visit_month.name: {
        "rep_visits": "visits", "voters_contacted": "voters", "suggestions_collected": "suggestions",
        "issues_resolved": "resolved", "issues_referred": "referred"},
}
_MONTH_COLUMN = {agg_dispute_month.name: "rep_month", agg_volunteer_month.name: "month",
                 agg_visit_month.name: "month"}
assert tuple(k for t in MONTH_SUMS.values() for k in t) == SUMS
# the base sums a grid has (the visit ledger has no grid)
GRID_SUMS = tuple(k for t, sums in MONTH_SUMS.items() if "grid_id" in metadata.tables[t].c for k in sums)


def _period_select(conn, ps: int, pe: int, by: str, village_ids) -> tuple[str, dict]:
    """SQL giving ``(k, grid_id, *SUMS, hist)`` (columns so named) per village (by='village':
    k = village_id, grid_id = -1) or per grid (k = grid_id, 0 for no grid) of the month-aligned
    period [ps, pe], from the month layer (MONTH_SUMS); hist is '[[days, …], [n, …]]' (JSON)."""
    bm, bd = rules.overdue_bound(pe)
    p = {"s": ps, "e": pe, "bm": bm, "bd": bd}
    vf = ""
    if village_ids is not None:
        inl, pv = _ids("pv", village_ids)
        vf = f" AND village_id IN {inl}"
        p.update(pv)
    k = "village_id" if by == "village" else "grid_id"
    hist = ("'[[' || " + concat(conn, "CAST(days AS VARCHAR(12))") + " || '],[' || "
            + concat(conn, "CAST(n AS VARCHAR(12))") + " || ']]'")
    zero = {n: float_zero(conn) if n in FLOAT_SUMS else "0" for n in SUMS}
    nul = "CAST(NULL AS TEXT)"

    def columns(sums: dict) -> str:
        return ", ".join(f"SUM({sums[n]}) AS {n}" if n in sums else f"{zero[n]} AS {n}" for n in SUMS)

    parts = [f"""
      SELECT {k} AS k, {columns(sums)}, {nul} AS h
      FROM {t} WHERE {_MONTH_COLUMN[t]} BETWEEN :s AND :e{vf} GROUP BY {k}"""
             for t, sums in MONTH_SUMS.items() if by == "village" or "grid_id" in metadata.tables[t].c]
    parts.append(f"""
      SELECT k, {columns({})}, {hist} AS h
      FROM (SELECT {k} AS k, days, SUM(n) AS n FROM agg_dispute_days
            WHERE rep_month BETWEEN :s AND :e AND res_month <= :e{vf} GROUP BY {k}, days) h
      GROUP BY k""")
    # PostgreSQL's SUM of a bigint is numeric: cast back, so both dialects return ints
    outer = ", ".join(f"SUM({n}) AS {n}" if n in FLOAT_SUMS else f"CAST(SUM({n}) AS BIGINT) AS {n}"
                      for n in SUMS)
    sql = (f"SELECT k, {ROLLUP if by == 'village' else 'k'} AS grid_id, {outer}, MAX(h) AS hist FROM ("
           + " UNION ALL ".join(parts) + ") x GROUP BY k")
    return sql, p


def _stock_rows(rows, horizon: int) -> np.ndarray:
    """agg_stock rows ``(month, grid_id, village_id, resolved, still_open, overdue)`` (grids and
    village rollups; an int64 matrix in primary-key order) from month-layer rows ``(rep_month, village_id, grid_id, res_month, tail,
    n)``, months up to ``horizon``: each case adds to the months it is open (from its reported
    month until its resolved month) and overdue (from the first month whose end is past
    ``rules.overdue_bound``), by difference arrays;
    resolved is cumulative."""
    if not len(rows):
        return np.zeros((0, 6), dtype=np.int64)
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 6)
    rep, vid, gid, res, tail, n = (a[:, i] for i in range(6))
    lo = int(rep.min())
    width = horizon - lo + 1
    span = int(gid.max()) + 3
    keys = np.concatenate([vid * span + gid + 2, vid * span + ROLLUP + 2])
    uk, inv = np.unique(keys, return_inverse=True)
    reps = np.arange(lo, int(rep.max()) + 1)
    bounds = np.array([rules.overdue_bound(int(r) + 1) for r in reps], dtype=np.int64).reshape(-1, 2)
    bm, bd = bounds[rep - lo, 0], bounds[rep - lo, 1]
    od = np.where((rep < bm) | ((rep == bm) & (tail < bd)), rep + 1, rep + 2)
    end = np.where(res > 0, res, horizon + 1)                 # first month no longer open
    od = np.minimum(od, end)
    rep2, end2, od2, res2, n2 = (np.concatenate([x, x]) - (lo if i < 4 else 0)
                                 for i, x in enumerate((rep, end, od, res, n)))
    w2 = width + 2
    row = inv * w2

    def running(at, weights, stop=None):
        """Counts per key and month, cumulative: +weight from month ``at`` on (and -weight from
        ``stop`` on); one bincount over the flat (key, month) index (np.add.at loops)."""
        idx, w = (at, weights) if stop is None else (np.concatenate([at, stop]),
                                                     np.concatenate([weights, -weights]))
        flat = np.bincount(idx, weights=w, minlength=len(uk) * w2).round().astype(np.int64)
        return np.cumsum(flat.reshape(len(uk), w2), 1)[:, :width]

    f = n2.astype(np.float64)
    still_open = running(row + rep2, f, row + end2)
    overdue = running(row + od2, f, row + end2)
    hit = res2 >= 0                                            # res_month > 0: resolved
    resolved = running(row[hit] + res2[hit], f[hit])
    ki, mi = np.nonzero((still_open != 0) | (overdue != 0) | (resolved != 0))
    out = np.stack([mi + lo, uk[ki] % span - 2, uk[ki] // span, resolved[ki, mi], still_open[ki, mi],
                    overdue[ki, mi]], 1)
    # in the primary key's order (month, grid_id, village_id): the inserts append to the b-tree
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


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
    out = np.concatenate([_stock_rows(rows, new), [[new, _MARK, 0, 0, 0, 0]]]).astype(np.int64)
    _insert_ints(conn, agg_stock, ("month", "grid_id", "village_id", "resolved", "still_open", "overdue"), out)


SQLITE_VALUES = 500   # rows per INSERT statement of _insert_ints on SQLite (6 columns: 3,000 marks)


def _insert_ints(conn, table: sa.Table, cols, mat: np.ndarray) -> None:
    """Insert an int64 matrix, one row per table row: PostgreSQL by one COPY (executemany is a
    round trip per row, ~28 s for a county's 340,000 stock rows), SQLite by INSERTs of
    SQLITE_VALUES rows each from one flat list (a third of executemany's cost per row)."""
    names = ", ".join(cols)
    if is_postgres(conn) and conn.dialect.driver == "psycopg":
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as cp:
                for r in mat.tolist():
                    cp.write_row(r)
        return
    k = len(cols)
    if not is_sqlite(conn):   # pragma: no cover - another DBAPI: its plain executemany
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([mark(conn)] * k)})",
                             [tuple(r) for r in mat.tolist()])
        return
    flat = mat.ravel().tolist()
    one = "(" + ", ".join("?" * k) + ")"
    head = f"INSERT INTO {table.name} ({names}) VALUES "
    full = len(mat) // SQLITE_VALUES
    step = SQLITE_VALUES * k
    cur = conn.connection.driver_connection.cursor()
    try:
        if full:
            cur.executemany(head + ", ".join([one] * SQLITE_VALUES),
                            (flat[i:i + step] for i in range(0, full * step, step)))
        rest = len(mat) - full * SQLITE_VALUES
        if rest:
            cur.execute(head + ", ".join([one] * rest), flat[full * step:])
    finally:
        cur.close()


def stock_matrix(conn, ps: int, pe: int, village_ids, by: str):
    """The stock layer's figures of the month-aligned period [ps, pe] per village (or grid; 0 =
    no grid), as a float64 matrix ``(id, *STOCKS)`` sorted by id: resolved within the period
    (any reported month), open at its end and, of those, open for more than OVERDUE_DAYS days.
    Ids without any are left out."""
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
             CAST(SUM(CASE WHEN month = :e THEN resolved ELSE -resolved END) AS BIGINT)
               AS disputes_resolved_in_period,
             CAST(SUM(CASE WHEN month = :e THEN still_open ELSE 0 END) AS BIGINT) AS backlog_open,
             CAST(SUM(CASE WHEN month = :e THEN overdue ELSE 0 END) AS BIGINT) AS backlog_overdue
      FROM agg_stock WHERE {g} AND month IN (:b, :e){vf}
      GROUP BY {k} ORDER BY {k}"""
    result = conn.execute(sa.text(sql), p)
    rows = result.cursor.fetchall()
    result.close()
    mat = np.array(rows, dtype=np.float64).reshape(len(rows), 1 + len(STOCKS))
    if p["b"] == p["e"]:  # the whole period is past the horizon: nothing resolved in it
        mat[:, 1 + STOCKS.index("disputes_resolved_in_period")] = 0
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

    Returns ``(base, hist)`` shaped like ``raw_sums`` (``{id: {base sum: value}}``,
    ``{id: {days: count}}``), or None when the period is not month-aligned or the aggregates
    are not fresh.
    """
    span = aligned(start, end)
    if span is None or not is_fresh(conn):
        return None
    ps, pe = span
    keys = SUMS if by == "village" else GRID_SUMS
    if is_calendar(ps, pe) and by == "village":
        p = {"ps": ps, "pe": pe}
        vf = ""
        if village_ids is not None:
            inl, pv = _ids("pv", village_ids)
            vf = f" AND village_id IN {inl}"
            p.update(pv)
        sql = (f"SELECT village_id AS k, {', '.join(keys)}, hist FROM agg_period "
               f"WHERE ps = :ps AND pe = :pe AND grid_id = {ROLLUP}{vf}")
    else:
        sql, p = _period_select(conn, ps, pe, by, village_ids)
        sql = f"SELECT k, {', '.join(keys)}, hist FROM ({sql}) u"
    rows = conn.execute(sa.text(sql), p).all()
    n = len(keys)
    base: dict = {}
    hist: dict = {}
    with_hist = []
    for r in rows:  # 500 rows for a county year: keep this loop lean (columns: k, *keys, hist)
        k = r[0]
        if k == 0 and by == "grid":
            k = None
        vals = dict(zip(keys, r[1:n + 1]))   # integer sums come back as ints on both dialects
        vals["volunteer_hours"] = round(float(vals["volunteer_hours"] or 0), 2)
        base[k] = vals
        if r[n + 1]:
            with_hist.append((k, r[n + 1]))
    if with_hist:
        hist = dict(zip((k for k, _ in with_hist), _parse_hists([t for _, t in with_hist])))
    for k, vals in stock(conn, ps, pe, village_ids, by).items():
        base.setdefault(k, {}).update(vals)
    return base, hist


# ---------------------------------------------------------------- base sums (what the registry derives from)
# The one answer to "the base sums of these villages (or their grids) in this period": from the
# packs (a calendar period), the month layer (any other month-aligned period) or the raw ledger
# (any other period, or while the aggregates are stale), always the same figures. Named columns
# throughout: the registry's derive() reads them by name.

# ---- the suggestion ledger (意见建议转办答复): a small ledger, summed from its raw rows by the
# rules of dashboard.suggestions for every period (no month layer); villages only
SUGGESTION_SUMS = suggestion_rules.BASE
# ---- end of the suggestion ledger's names
BASE_SUMS = (*SUMS, *STOCKS, *SUGGESTION_SUMS)   # every base sum this layer answers
STATIC_FACTS = ("households", "population", "grid_workers", "grids")   # of the village and grid tables
GRID_STATIC = ("households", "grid_workers")


@dataclass(frozen=True)
class Base:
    """Base sums of many villages (or grids) in one period, as named float64 columns in ``ids``
    order (0 for an id without rows); ``median`` the median days to resolve per id (NaN: none
    resolved), ``town_median`` that of all of them together (None: none; grids: not computed)."""
    ids: np.ndarray
    sums: dict[str, np.ndarray]    # BASE_SUMS and STATIC_FACTS (grids: GRID_STATIC)
    median: np.ndarray
    town_median: float | None = None
    # the suggestion ledger's median days to reply of them all together (its per-village column
    # is sums["median_days_to_reply"])
    reply_town_median: float | None = None


def base(conn, period: Period, village_ids=None, by: str = "village") -> Base:
    """The base sums of these villages (None: all), or of their grids (by='grid'), in the period."""
    ids = None if village_ids is None else sorted({int(v) for v in village_ids})
    fresh, token = state(conn)
    if by == "grid":
        st = _select(_static_columns(conn, token, "grid"), ids, "village_id")
        b, hist = _plain(*sums(conn, period, ids, "grid"))
        cols, median = _columns_from_dicts(st["id"], b, hist, BASE_SUMS)   # 0 for the visit sums
        cols.update({k: st[k] for k in GRID_STATIC})
        return Base(st["id"], cols, median)
    st = _select(_static_columns(conn, token, "village"), ids)
    vid = st["id"]
    span = aligned(period.start, period.end) if fresh else None
    if span is not None and is_calendar(*span):
        mat, town = read_pack(conn, *span)
        cols, median = _pack_columns(mat, vid)
        cols.update(_aligned(stock_matrix(conn, *span, ids, "village"), vid, STOCKS))
        if ids is not None:
            town = _subset_median(conn, *span, vid.tolist()) if mat is not None else None
    else:
        b, hist = _plain(*sums(conn, period, ids, "village"))
        cols, median = _columns_from_dicts(vid, b, hist, BASE_SUMS)
        shown = set(vid.tolist())
        town = rules.median_from_hist(_merge_hist(h for k, h in hist.items() if k in shown))
    cols.update({k: st[k] for k in STATIC_FACTS})
    reply_town = _suggestion_columns(conn, period, vid, ids, cols)
    return Base(vid, cols, median, town, reply_town)


# ---- the suggestion ledger (意见建议转办答复) ------------------------------------------------
def _suggestion_columns(conn, period: Period, vid: np.ndarray, ids, cols: dict) -> float | None:
    """Put the suggestion ledger's base sums and median days to reply of these villages into
    ``cols`` (two GROUP BY queries over its raw rows: dashboard.suggestions); returns the median
    days to reply of them all together."""
    base, hist = suggestion_rules.base(conn, period.start, period.end, ids)
    got, median = _columns_from_dicts(vid, base, hist, SUGGESTION_SUMS)
    cols.update(got)
    cols["median_days_to_reply"] = median
    shown = set(vid.tolist())
    return rules.median_from_hist(_merge_hist(h for k, h in hist.items() if k in shown))
# ---- end of the suggestion ledger ----------------------------------------------------------


def sums(conn, period: Period, village_ids, by: str) -> tuple[dict, dict]:
    """Base sums ``{village or grid id: {base sum: value}}`` (grid None: no grid) and days
    histograms ``{id: {days: count}}``: from the aggregates for a month-aligned period while they
    are fresh (``fetch``), else from the raw rows (``raw_sums``); both give the same figures
    (tests/test_aggregates.py)."""
    pre = fetch(conn, period.start, period.end, village_ids, by)
    return pre if pre is not None else raw_sums(conn, period, village_ids, by)


def raw_sums(conn, period: Period, village_ids, by: str) -> tuple[dict, dict]:
    """``sums`` from the raw ledger rows (any period), with the rules of dashboard.rules."""
    D, V, R = S.dispute, S.volunteer_activity, S.rep_visit
    start, end = period.start, period.end
    resolved = rules.resolved_by(end)

    def cnt(cond):
        return sa.func.sum(sa.case((cond, 1), else_=0))

    out: dict = {}

    def add(row):
        vals = out.setdefault(row["k"], {})
        for name, v in row.items():
            if name != "k":
                vals[name] = int(v or 0)

    dkey = D.c.village_id if by == "village" else D.c.grid_id
    q = (sa.select(dkey.label("k"), sa.func.count().label("disputes_total"),
                   cnt(resolved).label("disputes_resolved"),
                   cnt(sa.and_(resolved, D.c.level.in_(rules.WITHIN_GRID))).label("resolved_at_grid"),
                   cnt(sa.and_(resolved, D.c.level.in_(rules.WITHIN_VILLAGE))).label("resolved_in_village"),
                   cnt(rules.overdue_at(end)).label("overdue_open"))   # of the period's cases
         .where(rules.reported_within(start, end), in_villages(D.c.village_id, village_ids))
         .group_by(dkey))
    for r in conn.execute(q).mappings():
        add(r)
    # the stock at the period's end, and what was resolved within it, whatever the reported date
    q = (sa.select(dkey.label("k"),
                   cnt(rules.resolved_within(start, end)).label("disputes_resolved_in_period"),
                   cnt(rules.open_at(end)).label("backlog_open"),
                   cnt(rules.overdue_at(end)).label("backlog_overdue"))
         .where(D.c.reported_on <= end, sa.or_(D.c.resolved_on.is_(None), D.c.resolved_on >= start),
                in_villages(D.c.village_id, village_ids))
         .group_by(dkey))
    for r in conn.execute(q).mappings():
        add(r)

    days = days_expr(conn, D.c.resolved_on, D.c.reported_on)
    hq = (sa.select(dkey.label("k"), days.label("d"), sa.func.count().label("n"))
          .where(rules.reported_within(start, end), resolved, in_villages(D.c.village_id, village_ids))
          .group_by(dkey, days))
    hist: dict = {}
    for k, d, n in conn.execute(hq):
        hist.setdefault(k, {})[int(d)] = hist.get(k, {}).get(int(d), 0) + int(n)

    vkey = V.c.village_id if by == "village" else V.c.grid_id
    q = (sa.select(vkey.label("k"), sa.func.count().label("volunteer_activities"),
                   sa.func.sum(V.c.participants).label("volunteer_participants"),
                   sa.func.sum(V.c.participants * V.c.hours).label("volunteer_hours"),
                   sa.func.sum(V.c.points).label("volunteer_points"))
         .where(V.c.held_on.between(start, end), in_villages(V.c.village_id, village_ids))
         .group_by(vkey))
    for r in conn.execute(q).mappings():
        hours = round(float(r["volunteer_hours"] or 0), 2)
        add(r)
        out[r["k"]]["volunteer_hours"] = hours

    if by == "village":
        q = (sa.select(R.c.village_id.label("k"), sa.func.count().label("rep_visits"),
                       sa.func.sum(R.c.voters).label("voters_contacted"),
                       sa.func.sum(R.c.suggestions).label("suggestions_collected"),
                       sa.func.sum(R.c.resolved).label("issues_resolved"),
                       sa.func.sum(R.c.referred).label("issues_referred"))
             .where(R.c.visited_on.between(start, end), in_villages(R.c.village_id, village_ids))
             .group_by(R.c.village_id))
        for r in conn.execute(q).mappings():
            add(r)
    return out, hist


def _num(key: str, v):
    """A base sum as a plain Python number (drivers may return Decimal for SUMs)."""
    if v is None:
        return None
    return round(float(v), 2) if key in FLOAT_SUMS else int(v)


def _plain(base: dict, hist: dict) -> tuple[dict, dict]:
    """Base sums and histograms with plain ints/floats, whatever the driver returned."""
    base = {k: {m: _num(m, v) for m, v in vals.items()} for k, vals in base.items()}
    hist = {k: {int(d): int(n) for d, n in h.items()} for k, h in hist.items()}
    return base, hist


def _merge_hist(hists: Iterable[dict]) -> dict:
    out: dict[int, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return out


# The static facts of every village (or grid), kept per process for as long as the database's
# static token (replaced by triggers on every write to village or grid) stays the same.
_STATIC_CACHE: dict = {}


def _static_columns(conn, token, by: str) -> dict[str, np.ndarray]:
    key = (str(conn.engine.url), token, by)
    hit = _STATIC_CACHE.get(key) if token else None
    if hit is not None:
        return hit
    Vg, G = S.village, S.grid
    if by == "village":
        g = (sa.select(G.c.village_id.label("vid"), sa.func.count().label("n"),
                       sa.func.sum(G.c.workers).label("w")).group_by(G.c.village_id).subquery())
        q = (sa.select(Vg.c.id, Vg.c.households, Vg.c.population,
                       sa.func.coalesce(g.c.w, 0).label("grid_workers"),
                       sa.func.coalesce(g.c.n, 0).label("grids"))
             .select_from(Vg.outerjoin(g, g.c.vid == Vg.c.id)).order_by(Vg.c.id))
    else:
        q = sa.select(G.c.id, G.c.village_id, G.c.households,
                      G.c.workers.label("grid_workers")).order_by(G.c.id)
    result = conn.execute(q)
    names = tuple(result.keys())
    rows = result.all()
    arr = np.array([[float(x) for x in r] for r in rows], dtype=np.float64).reshape(len(rows), len(names))
    out = {n: arr[:, i].copy() for i, n in enumerate(names)}
    out["id"] = out["id"].astype(np.int64)
    if by == "grid":
        out["village_id"] = out["village_id"].astype(np.int64)
    if token:
        if len(_STATIC_CACHE) > 32:
            _STATIC_CACHE.clear()
        _STATIC_CACHE[key] = out
    return out


def _select(st: dict, ids, col: str = "id") -> dict:
    if ids is None:
        return st
    keep = np.isin(st[col], np.asarray(ids, dtype=np.int64))
    return {k: v[keep] for k, v in st.items()}


def _columns_from_dicts(ids: np.ndarray, base: dict, hist: dict, keys) -> tuple[dict, np.ndarray]:
    """Base sums and histograms keyed by id (the raw or month-layer path) as aligned columns."""
    n = len(ids)
    cols = {k: np.zeros(n) for k in keys}
    median = np.full(n, np.nan)
    for i, k in enumerate(ids.tolist()):
        b = base.get(k)
        if b:
            for name in keys:
                v = b.get(name)
                if v:
                    cols[name][i] = v
        h = hist.get(k)
        if h:
            md = rules.median_from_hist(h)
            if md is not None:
                median[i] = md
    return cols, median


def _pack_columns(mat, ids: np.ndarray) -> tuple[dict, np.ndarray]:
    """The pack's rows for these ids (zeros, median NaN, for ids without rows in the period)."""
    out = np.zeros((len(ids), len(PACK_COLUMNS)))
    med = PACK_COLUMNS.index("median_days")
    out[:, med] = np.nan
    if mat is not None and len(mat) and len(ids):
        pid = mat[:, PACK_COLUMNS.index("village_id")].astype(np.int64)
        pos = np.searchsorted(pid, ids)
        pos[pos >= len(pid)] = 0
        hit = pid[pos] == ids
        out[hit] = mat[pos[hit]]
    return {k: out[:, PACK_COLUMNS.index(k)] for k in SUMS}, out[:, med]


def _aligned(mat, ids: np.ndarray, names) -> dict[str, np.ndarray]:
    """Columns ``names`` of a matrix ``(id, *names)`` sorted by id, for these ids (0 where absent)."""
    out = np.zeros((len(ids), len(names)))
    if len(mat) and len(ids):
        pid = mat[:, 0].astype(np.int64)
        pos = np.minimum(np.searchsorted(pid, ids), len(pid) - 1)
        hit = pid[pos] == ids
        out[hit] = mat[pos[hit], 1:]
    return {k: out[:, j] for j, k in enumerate(names)}


def _subset_median(conn, ps: int, pe: int, ids) -> float | None:
    """Median days of several villages together, from their histograms in the period layer."""
    if not len(ids):
        return None
    inl, p = _ids("v", ids)
    texts = [t for (t,) in conn.execute(sa.text(
        f"SELECT hist FROM agg_period WHERE ps = :ps AND pe = :pe AND grid_id = {ROLLUP} "
        f"AND village_id IN {inl} AND hist IS NOT NULL"), {**p, "ps": ps, "pe": pe})]
    if not texts:
        return None
    parsed = json.loads("[" + ",".join(texts) + "]")
    return rules.hist_median([x for d, _ in parsed for x in d], [x for _, c in parsed for x in c])


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
