"""报送情况 Reporting completeness: villages × ledger kinds × months, each cell reported / zero /
missing, and on time or late against the monthly deadline.

A village's ledger of a kind *covers* a month when it has rows dated in the month (reported) or a
zero report for it (zero, ``loaders.zero``); otherwise it is missing. The deadline of a month is
day ``DASHBOARD_REPORT_DAY`` (default 5) of the next month. Timing of a covered cell: ``on_time``
when the batch that first covered the month (the earliest applied batch that wrote one of its
rows — the row's own batch or one in its ``batch_change`` — or the zero report's batch) was
created on or before the deadline, else ``late``; ``None`` when that is unknown (rows or zero
reports of the demo seed, rows written outside any batch). A zero report withdrawn by a later
upload no longer counts: the month is then covered by that upload's rows. A missing cell is ``pending`` until its deadline has
passed, then ``overdue``.

Ledger kinds come from ``loaders.spec.LEDGER_KINDS``; a new kind joins the board by being added
there. Everything is counted in SQL, grouped by village and month: one query per kind and one
for the zero reports, over the months asked for only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from dashboard import settings
from dashboard.db.dialect import ym as _ym
from dashboard.periods import month_index
from dashboard.db import schema as S
from dashboard.i18n import t
from dashboard.queries import summary
from loaders import spec
from loaders.zero import month_bounds, month_label, parse_month

STATUSES = ("reported", "zero", "missing")
TIMINGS = ("on_time", "late", "pending", "overdue")


def kinds() -> tuple[str, ...]:
    """The ledger kinds on the board, in the registry's order."""
    return tuple(spec.LEDGER_KINDS)


def deadline(month: str, day: int | None = None) -> date:
    """The last day to report ``month`` (YYYY-MM): day ``day`` (the setting) of the next month."""
    day = settings.get("DASHBOARD_REPORT_DAY") if day is None else int(day)
    _, last = month_bounds(month)
    nxt = last + timedelta(days=1)
    return date(nxt.year, nxt.month, day)


def month_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _from_index(i: int) -> str:
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def months_to(month: str, n: int) -> list[str]:
    """The ``n`` months ending with ``month``, oldest first."""
    end = month_index(parse_month(month))
    return [_from_index(i) for i in range(end - max(1, int(n)) + 1, end + 1)]


def last_due_month(today: date | None = None, day: int | None = None) -> str:
    """The latest month whose deadline has passed (or is today)."""
    today = today or date.today()
    m = month_of(today.replace(day=1) - timedelta(days=1))  # last month
    return m if deadline(m, day) <= today else month_of(date.fromisoformat(m + "-01") - timedelta(days=1))


def latest_month(conn, today: date | None = None, day: int | None = None) -> str | None:
    """The month a board opens on: the last month with ledger rows or a zero report, but not
    after the latest month already due (a half-reported month is noise); None on an empty
    database."""
    hi = summary.data_range(conn)[1]
    z = conn.execute(sa.select(sa.func.max(S.zero_report.c.month))).scalar()
    cands = [m for m in (month_of(hi) if hi else None, z) if m]
    if not cands:
        return None
    return min(max(cands), last_due_month(today, day))


@dataclass(frozen=True)
class Cell:
    status: str                    # reported | zero | missing
    timing: str | None             # on_time | late | pending | overdue | None (unknown)
    first_at: datetime | None      # when the month was first covered
    rows: int = 0                  # ledger rows dated in the month
    batch_id: int | None = None    # the zero report's batch


@dataclass
class Board:
    months: list[str]
    kinds: tuple[str, ...]
    villages: list[tuple[int, str]]        # (id, name) in display order
    deadlines: dict[str, date]
    cells: dict[tuple[int, str, str], Cell]  # (village_id, kind, month) -> Cell

    def cell(self, vid: int, kind: str, month: str) -> Cell:
        return self.cells[(vid, kind, month)]

    def count(self, month: str, status: str | None = None, timing: str | None = None,
              kind: str | None = None) -> int:
        return sum(1 for (v, k, m), c in self.cells.items() if m == month and k in self.kinds
                   and (kind is None or k == kind) and (status is None or c.status == status)
                   and (timing is None or c.timing == timing))

    def villages_with(self, month: str, kind: str, status: str | None = None,
                      timing: str | None = None) -> list[str]:
        return [n for vid, n in self.villages
                if (status is None or self.cells[(vid, kind, month)].status == status)
                and (timing is None or self.cells[(vid, kind, month)].timing == timing)]


def _as_dt(v) -> datetime | None:
    if v is None:
        return None
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


def _ledger_cover(conn, kind: str, lo: date, hi: date, village_ids) -> dict:
    """{(village_id, month): (rows, first_at, unknown)} for one ledger kind."""
    table = S.metadata.tables[spec.TABLES[kind]]
    col = spec.DATE_FIELD[kind]
    ym = _ym(conn, f"t.{col}")
    vfilter = ""
    params = {"lo": lo, "hi": hi, "tn": table.name}
    if village_ids is not None:
        vfilter = " AND t.village_id IN :vids"
    sql = sa.text(f"""
        SELECT village_id, ym, SUM(one) AS n,
               MIN(CASE WHEN odd = 0 THEN at END) AS first_at, MAX(odd) AS odd FROM (
          SELECT t.village_id, {ym} AS ym, 1 AS one, b.created_at AS at,
                 CASE WHEN b.id IS NULL OR b.kind = 'demo' THEN 1 ELSE 0 END AS odd
          FROM {table.name} t LEFT JOIN import_batch b ON b.id = t.batch_id
          WHERE t.{col} >= :lo AND t.{col} <= :hi{vfilter}
          UNION ALL
          SELECT t.village_id, {ym} AS ym, 0 AS one, b.created_at AS at,
                 CASE WHEN b.kind = 'demo' THEN 1 ELSE 0 END AS odd
          FROM {table.name} t JOIN batch_change bc ON bc.table_name = :tn AND bc.row_id = t.id
          JOIN import_batch b ON b.id = bc.batch_id AND b.state = 'applied'
          WHERE t.{col} >= :lo AND t.{col} <= :hi{vfilter}
        ) s GROUP BY village_id, ym""").bindparams(sa.bindparam("lo", type_=sa.Date),
                                                   sa.bindparam("hi", type_=sa.Date))
    if village_ids is not None:
        sql = sql.bindparams(sa.bindparam("vids", expanding=True))
        params["vids"] = sorted(int(v) for v in village_ids)
    out = {}
    for vid, m, n, first, odd in conn.execute(sql, params):
        out[(int(vid), _from_index(int(m)))] = (int(n), _as_dt(first), bool(odd))
    return out


def board(conn, months: list[str], village_ids=None, now: datetime | None = None,
          day: int | None = None) -> Board:
    """The completeness board for these months (YYYY-MM) and villages (None: all)."""
    months = sorted({parse_month(m) for m in months})
    now = now or datetime.now()
    ks = kinds()
    wanted = None if village_ids is None else {int(i) for i in village_ids}
    chosen = [v for v in summary.villages(conn) if wanted is None or int(v["id"]) in wanted]
    vill = [(int(i), label) for label, i in summary.village_labels(chosen, summary.townships(conn)).items()]
    dl = {m: deadline(m, day) for m in months}
    cells: dict = {}
    if not months or not vill:
        return Board(months, ks, vill, dl, cells)
    ids = None if village_ids is None else [v for v, _ in vill]
    lo, hi = month_bounds(months[0])[0], month_bounds(months[-1])[1]
    z, b = S.zero_report, S.import_batch
    q = (sa.select(z.c.village_id, z.c.kind, z.c.month, z.c.batch_id, b.c.created_at, b.c.kind)
         .select_from(z.join(b, b.c.id == z.c.batch_id)).where(z.c.month.in_(months)))
    if ids is not None:
        q = q.where(z.c.village_id.in_(ids))
    zeros = {(int(v), k, m): (int(bid), None if bk == "demo" else _as_dt(at))
             for v, k, m, bid, at, bk in conn.execute(q)}
    for kind in ks:
        cover = _ledger_cover(conn, kind, lo, hi, ids)
        for vid, _ in vill:
            for m in months:
                limit = datetime.combine(dl[m] + timedelta(days=1), datetime.min.time())
                if (vid, m) in cover:
                    n, first, odd = cover[(vid, m)]
                    timing = None if odd or first is None else ("on_time" if first < limit else "late")
                    cells[(vid, kind, m)] = Cell("reported", timing, first, n)
                elif (vid, kind, m) in zeros:
                    bid, first = zeros[(vid, kind, m)]
                    timing = None if first is None else ("on_time" if first < limit else "late")
                    cells[(vid, kind, m)] = Cell("zero", timing, first, 0, bid)
                else:
                    cells[(vid, kind, m)] = Cell("missing", "overdue" if now >= limit else "pending", None)
    return Board(months, ks, vill, dl, cells)


def month_doc(conn, month: str, village_ids=None, now: datetime | None = None,
              day: int | None = None) -> dict:
    """The JSON of ``python -m dashboard completeness --month``: statuses under ``villages``,
    timing, first-report times, the missing and late lists and counts per kind."""
    month = parse_month(month)
    bd = board(conn, [month], village_ids, now, day)
    doc = {"month": month, "deadline": bd.deadlines[month].isoformat(), "kinds": list(bd.kinds),
           "villages": {}, "timing": {}, "first_reported_at": {}, "missing": {}, "late": {},
           "counts": {}}
    for vid, name in bd.villages:
        cs = {k: bd.cell(vid, k, month) for k in bd.kinds}
        doc["villages"][name] = {k: c.status for k, c in cs.items()}
        doc["timing"][name] = {k: c.timing for k, c in cs.items()}
        doc["first_reported_at"][name] = {k: c.first_at.isoformat(timespec="seconds") if c.first_at else None
                                          for k, c in cs.items()}
        if miss := [k for k, c in cs.items() if c.status == "missing"]:
            doc["missing"][name] = miss
        if late := [k for k, c in cs.items() if c.timing == "late"]:
            doc["late"][name] = late
    for k in bd.kinds:
        doc["counts"][k] = {**{s: bd.count(month, s, kind=k) for s in STATUSES},
                            **{x: bd.count(month, timing=x, kind=k) for x in TIMINGS}}
    return doc


# ---------------------------------------------------------------- words for leaders

def _kind_name(kind: str, lang: str) -> str:
    return t(f"loader.kind.{kind}", lang)


def _names(names: list[str], lang: str) -> str:
    return ("、" if lang == "zh" else ", ").join(names)


def lines(bd: Board, month: str, lang: str = "zh", late: bool = False) -> list[str]:
    """Sentences for a month: per kind, the villages that have not reported it (and, with
    ``late``, those that reported late); or one sentence that every ledger is in."""
    label = month_label(month, lang)
    out = []
    for k in bd.kinds:
        miss = bd.villages_with(month, k, "missing")
        if miss:
            due = bd.count(month, timing="overdue", kind=k)
            key = "completeness.missing_line" if due else "completeness.missing_pending_line"
            out.append(t(key, lang, n=len(miss), month=label, kind=_kind_name(k, lang),
                         villages=_names(miss, lang), deadline=bd.deadlines[month].isoformat()))
    if late:
        for k in bd.kinds:
            if lt := bd.villages_with(month, k, timing="late"):
                out.append(t("completeness.late_line", lang, n=len(lt), month=label,
                             kind=_kind_name(k, lang), villages=_names(lt, lang)))
    if not out and bd.villages:
        out.append(t("completeness.all_in", lang, month=label, zero=bd.count(month, "zero")))
    return out


def overview_lines(conn, period_end: date, village_ids=None, lang: str = "zh",
                   today: date | None = None) -> list[str]:
    """The overview's sentences: the month the period ends in, or the latest month already
    due when that is later ("3 个村（社区）未报送 2025年6月矛盾纠纷台账：…")."""
    month = min(month_of(period_end), last_due_month(today))
    return lines(board(conn, [month], village_ids), month, lang)


def summary_line(bd: Board, month: str, lang: str = "zh") -> str:
    return t("completeness.summary", lang, month=month_label(month, lang),
             deadline=bd.deadlines[month].isoformat(), villages=len(bd.villages), kinds=len(bd.kinds),
             reported=bd.count(month, "reported"), zero=bd.count(month, "zero"),
             missing=bd.count(month, "missing"), late=bd.count(month, timing="late"))


def reminder(bd: Board, month: str, lang: str = "zh", township: str = "",
             today: date | None = None) -> str:
    """催报提醒: the missing reports of a month per village, as text a leader can send."""
    label = month_label(month, lang)
    per = [(name, [k for k in bd.kinds if bd.cell(vid, k, month).status == "missing"])
           for vid, name in bd.villages]
    per = [(n, ks) for n, ks in per if ks]
    if not per:
        return t("completeness.reminder_none", lang, month=label)
    sep = "、" if lang == "zh" else ", "
    body = [t("completeness.reminder_head", lang, month=label, deadline=bd.deadlines[month].isoformat()), ""]
    body += [t("completeness.reminder_village", lang, village=n, month=label,
               kinds=sep.join(_kind_name(k, lang) for k in ks)) for n, ks in per]
    body += ["", t("completeness.reminder_foot", lang, township=township,
                   today=(today or date.today()).isoformat())]
    return "\n".join(body)


def cell_text(c: Cell, lang: str = "zh") -> str:
    """✔ / ○ / ✖ with （迟） for late and … before the deadline."""
    mark = t(f"completeness.mark_{c.status}", lang)
    if c.timing == "late":
        mark += t("completeness.mark_late", lang)
    elif c.timing == "pending":
        mark += t("completeness.mark_pending", lang)
    return mark


def frame(bd: Board, lang: str = "zh", words: bool = False) -> pd.DataFrame:
    """The board as a table: one row per village, one column per (kind, month), cells as marks
    (or, ``words``, as 已报送 / 零报告 / 未报送 with 迟报: for CSV)."""
    def text(c: Cell) -> str:
        if not words:
            return cell_text(c, lang)
        s = t(f"completeness.status_{c.status}", lang)
        return s + (f"（{t('completeness.timing_' + c.timing, lang)}）" if c.timing in ("late", "overdue") else "")
    cols = {}
    for k in bd.kinds:
        for m in bd.months:
            head = _kind_name(k, lang)
            if len(bd.months) > 1:  # 矛盾纠纷 2025年6月: the word 台账 once is enough
                head = f"{head.removesuffix('台账').removesuffix(' ledger')} {month_label(m, lang)}"
            cols[head] = [text(bd.cell(vid, k, m)) for vid, _ in bd.villages]
    df = pd.DataFrame({t("completeness.col_village", lang): [n for _, n in bd.villages], **cols})
    df.index = range(1, len(df) + 1)
    return df


def attention(bd: Board, month: str) -> list[tuple[int, str]]:
    """Villages with a missing or late ledger in ``month`` (for the deck's table)."""
    return [(vid, n) for vid, n in bd.villages
            if any(bd.cell(vid, k, month).status == "missing" or bd.cell(vid, k, month).timing == "late"
                   for k in bd.kinds)]
