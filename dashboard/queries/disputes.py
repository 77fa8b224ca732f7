"""矛盾纠纷 Disputes: monthly flow, by village, resolution levels, days to resolve, categories, overdue.

Every figure follows the registry's definitions (dashboard.metrics) and the rules of
dashboard.rules: the period's disputes are those reported in it; "resolved" means resolved on or
before the period's end. All aggregation happens in SQL with bound parameters; only the (small)
grouped rows come back.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import metrics, rules
from dashboard.db import schema as S
from dashboard.db.dialect import days_expr, in_villages
from dashboard.periods import Period
from dashboard.queries import summary

D = S.dispute
LEVELS = S.LEVELS
LEVEL_COLS = tuple(f"level_{lv}" for lv in LEVELS)
# Days-to-resolve buckets (inclusive bounds; None = open-ended)
DAY_BUCKETS = ((0, 0), (1, 3), (4, 7), (8, 15), (16, 30), (31, 60), (61, None))


def _in_period(period: Period, village_ids):
    return sa.and_(rules.reported_within(period.start, period.end),
                   in_villages(D.c.village_id, village_ids))


def _resolved(period: Period):
    return rules.resolved_by(period.end)


def _cnt(cond):
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


MONTHLY_FIGURES = {"received": "disputes_total", "resolved": "disputes_resolved_in_period",
                   "resolved_same_month": "disputes_resolved", "rate": "resolution_rate"}


def monthly(conn, period: Period, village_ids=None, parts: list[Period] | None = None) -> pd.DataFrame:
    """One row per month of the period (``parts``: other slices, e.g. the deck's quarters of a long
    period), each the registry's figures of that month taken as its own period (clipped at the
    period's ends): received (disputes_total), resolved (disputes_resolved_in_period, 本期办结),
    resolved_same_month (disputes_resolved) and rate (resolution_rate). The months add up to the
    period's disputes_total and disputes_resolved_in_period. The disputes page and the meeting
    deck draw this one frame."""
    parts = metrics.month_periods(period) if parts is None else parts
    rows = []
    for p in parts:
        tw = metrics.compute(conn, p, village_ids)["township"]
        rows.append({"month": f"{p.start:%Y-%m}", **{c: tw[k] for c, k in MONTHLY_FIGURES.items()}})
    return pd.DataFrame(rows, columns=["month", *MONTHLY_FIGURES])


def by_village(conn, period: Period, village_ids=None) -> dict:
    """Resolution rate per village ranked by the registry's rule (``ranking.ranks``: best first,
    villages with fewer than SMALL_N cases marked ``small`` and after the others, undefined
    last), with its rank, and the township figure."""
    from dashboard.queries import ranking
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    keys = ("disputes_total", "disputes_resolved", "resolution_rate", "resolved_within_village_rate",
            "median_days_to_resolve", "backlog_open", "backlog_overdue", "disputes_per_100_households")
    rk = ranking.ranks(r["villages"], "resolution_rate")
    order = metrics.rank_order(r["villages"], "resolution_rate")
    df = pd.DataFrame([{"rank": rk[vid][0], "village_id": vid, "village": names[vid],
                        **{k: r["villages"][vid][k] for k in keys}, "small": rk[vid][1]}
                       for vid in order],
                      columns=["rank", "village_id", "village", *keys, "small"])
    df["rank"] = df["rank"].astype("Int64")
    return {"villages": df, "township": r["township"]}


def village_table(df: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """by_village()'s frame with the resolution rate's light and the small-number note (text)."""
    from dashboard.i18n import t
    from dashboard import targets
    out = df.copy()
    out["light"] = [targets.symbol(targets.light("resolution_rate", v), lang) for v in df["resolution_rate"]]
    out["note"] = [t("ranking.small_mark", lang, n=metrics.SMALL_N) if s else "" for s in df["small"]]
    return out


def levels(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """Resolved disputes per village and resolution level (columns level_grid … level_county).

    Rows follow the village display order; 'resolved' is their sum (the registry's
    disputes_resolved) and 'within_grid'/'within_village' its shares.
    """
    q = (sa.select(D.c.village_id, D.c.level, sa.func.count())
         .where(_in_period(period, village_ids), _resolved(period))
         .group_by(D.c.village_id, D.c.level))
    counts: dict = {}
    for vid, level, n in conn.execute(q):
        counts.setdefault(vid, {})[level] = int(n)
    rows = []
    for v in summary.villages(conn):
        if village_ids is not None and v["id"] not in village_ids:
            continue
        c = counts.get(v["id"], {})
        row = {"village_id": v["id"], "village": v["name"],
               **{f"level_{lv}": c.get(lv, 0) for lv in LEVELS}}
        row["resolved"] = sum(c.get(lv, 0) for lv in LEVELS)
        parts = {"disputes_resolved": row["resolved"],
                 "resolved_at_grid": sum(c.get(lv, 0) for lv in rules.WITHIN_GRID),
                 "resolved_in_village": sum(c.get(lv, 0) for lv in rules.WITHIN_VILLAGE)}
        row["within_grid"] = metrics.of("resolved_within_grid_rate", parts)
        row["within_village"] = metrics.of("resolved_within_village_rate", parts)
        rows.append(row)
    return pd.DataFrame(rows, columns=["village_id", "village", *LEVEL_COLS, "resolved",
                                       "within_grid", "within_village"])


def level_totals(df: pd.DataFrame) -> dict[str, int]:
    """The township's resolved disputes per level (from levels())."""
    return {lv: int(df[f"level_{lv}"].sum()) if len(df) else 0 for lv in LEVELS}


def days_distribution(conn, period: Period, village_ids=None) -> dict:
    """Resolved disputes per days-to-resolve bucket, and the exact median (registry's)."""
    days = days_expr(conn, D.c.resolved_on, D.c.reported_on)
    q = (sa.select(days.label("d"), sa.func.count())
         .where(_in_period(period, village_ids), _resolved(period)).group_by(days))
    hist: dict[int, int] = {}
    for d, n in conn.execute(q):
        hist[int(d)] = hist.get(int(d), 0) + int(n)
    rows = []
    for lo, hi in DAY_BUCKETS:
        n = sum(c for d, c in hist.items() if d >= lo and (hi is None or d <= hi))
        rows.append(dict(lo=lo, hi=hi, count=n))
    buckets = pd.DataFrame(rows, columns=["lo", "hi", "count"]).astype({"hi": "Int64"})
    return {"buckets": buckets,
            "median": rules.median_from_hist(hist), "resolved": sum(hist.values())}


def categories(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """Disputes per category: received, resolved, rate; most frequent first."""
    q = (sa.select(D.c.category, sa.func.count().label("n"), _cnt(_resolved(period)).label("r"))
         .where(_in_period(period, village_ids)).group_by(D.c.category))
    rows = [dict(category=c, received=int(n), resolved=int(r),
                 rate=metrics.of("resolution_rate", {"disputes_resolved": r, "disputes_total": n}))
            for c, n, r in conn.execute(q)]
    df = pd.DataFrame(rows, columns=["category", "received", "resolved", "rate"])
    return df.sort_values(["received", "category"], ascending=[False, True]).reset_index(drop=True)


SUPERVISION_COLUMNS = ["case_no", "village", "grid", "category", "level", "reported_on", "days_open",
                       "status"]


def supervision(conn, period: Period, village_ids=None, limit: int | None = None) -> pd.DataFrame:
    """The 督办 list: the registry's backlog_overdue cases at the period's end (whatever their
    reported date), oldest first, with their age in days at that date; case numbers only, never
    the parties' names. ``level`` is the level reached by then: a case resolved after the
    period's end has its final level recorded only, so it shows none; its status is in_progress.
    """
    G, V = S.grid, S.village
    end = period.end
    q = (sa.select(D.c.case_no, V.c.name.label("village"), G.c.name.label("grid"), D.c.category,
                   D.c.level, D.c.reported_on, D.c.status)
         .select_from(D.join(V, V.c.id == D.c.village_id).outerjoin(G, G.c.id == D.c.grid_id))
         .where(rules.overdue_at(end), in_villages(D.c.village_id, village_ids))
         .order_by(D.c.reported_on, V.c.name, D.c.case_no))
    if limit is not None:
        q = q.limit(limit)
    rows = []
    for r in conn.execute(q).mappings():
        rep = summary._d(r["reported_on"])
        later = r["status"] == "resolved"   # resolved after the end: open at the end
        rows.append(dict(case_no=r["case_no"], village=r["village"], grid=r["grid"],
                         category=r["category"], level=None if later else r["level"], reported_on=rep,
                         days_open=rules.days_open(end, rep), status="in_progress" if later else r["status"]))
    return pd.DataFrame(rows, columns=SUPERVISION_COLUMNS)


def bucket_label(lo: int, hi, lang: str = "zh") -> str:
    """'0 天（当天）', '1–3 天', '60 天以上'."""
    from dashboard import fmt
    from dashboard.i18n import t
    if hi is None or fmt.is_none(hi):
        return t("charts.days_over", lang, n=lo - 1)
    if lo == hi:
        return t("charts.days_same", lang, n=lo)
    return t("charts.days_range", lang, lo=lo, hi=int(hi))


def days_table(dist: dict, lang: str = "zh") -> pd.DataFrame:
    """The buckets of days_distribution() with their labels (for the chart and its download)."""
    b = dist["buckets"]
    return pd.DataFrame({"bucket": [bucket_label(lo, hi, lang) for lo, hi in zip(b["lo"], b["hi"])],
                         "count": list(b["count"])})


# Table / download columns: (column, metric key or catalogue key, kind; None = from the registry)
KPIS = ("disputes_total", "disputes_resolved", "disputes_resolved_in_period", "resolution_rate",
        "median_days_to_resolve", "resolved_within_grid_rate", "resolved_within_village_rate",
        "backlog_open", "backlog_overdue", "disputes_per_100_households")
MONTHLY_SPEC = [("month", "col.month", "text"), ("received", "disputes_total", None),
                ("resolved", "disputes_resolved_in_period", None), ("rate", "charts.month_rate", "rate")]
VILLAGE_SPEC = [("rank", "col.rank", "count"), ("village", "col.village", "text"),
                ("disputes_total", "disputes_total", None),
                ("disputes_resolved", "disputes_resolved", None),
                ("resolution_rate", "resolution_rate", None), ("light", "ranking.light_col", "text"),
                ("note", "ranking.note_col", "text"),
                ("resolved_within_village_rate", "resolved_within_village_rate", None),
                ("median_days_to_resolve", "median_days_to_resolve", None),
                ("backlog_open", "backlog_open", None), ("backlog_overdue", "backlog_overdue", None),
                ("disputes_per_100_households", "disputes_per_100_households", None)]
LEVEL_SPEC = [("village", "col.village", "text"),
              *[(f"level_{lv}", f"enum.level.{lv}", "count") for lv in LEVELS],
              ("resolved", "disputes_resolved", None),
              ("within_grid", "resolved_within_grid_rate", None),
              ("within_village", "resolved_within_village_rate", None)]
DAYS_SPEC = [("bucket", "col.days_bucket", "text"), ("count", "disputes_resolved", None)]
CATEGORY_SPEC = [("category", "col.category", "text"), ("received", "disputes_total", None),
                 ("resolved", "disputes_resolved", None), ("rate", "resolution_rate", None)]
OVERDUE_SPEC = [  # the 督办 list (supervision())
   ("case_no", "col.case_no", "text"), ("village", "col.village", "text"),
                    ("grid", "col.grid", "text"), ("category", "col.category", "text"),
                    ("level", "col.level_so_far", "level"), ("reported_on", "col.reported_on", "date"),
                    ("days_open", "col.days_open", "count"), ("status", "col.status", "status")]
