"""代表走访 Representative visits: by representative type, by form, per village, per representative.

Records, voters contacted, suggestions collected and their outcomes (resolved / referred),
summed in SQL; the resolution rate is the registry's (issues resolved / suggestions collected).
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import metrics
from dashboard.db import schema as S
from dashboard.db.dialect import in_villages, month_expr
from dashboard.periods import Period
from dashboard.queries import summary

R = S.rep_visit
SUMS = ("visits", "voters", "suggestions", "resolved", "referred")


def _where(period: Period, village_ids):
    return sa.and_(R.c.visited_on.between(period.start, period.end),
                   in_villages(R.c.village_id, village_ids))


def _sums():
    return (sa.func.count().label("visits"),
            sa.func.coalesce(sa.func.sum(R.c.voters), 0).label("voters"),
            sa.func.coalesce(sa.func.sum(R.c.suggestions), 0).label("suggestions"),
            sa.func.coalesce(sa.func.sum(R.c.resolved), 0).label("resolved"),
            sa.func.coalesce(sa.func.sum(R.c.referred), 0).label("referred"))


def _row(r) -> dict:
    out = {k: int(r[k]) for k in SUMS}
    out["rate"] = out["resolved"] / out["suggestions"] if out["suggestions"] else None
    return out


def by_type(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """One row per representative type (party, npc, cppcc; all three even when 0)."""
    q = (sa.select(R.c.rep_type, sa.func.count(sa.distinct(R.c.rep_name)).label("reps"), *_sums())
         .where(_where(period, village_ids)).group_by(R.c.rep_type))
    got = {r["rep_type"]: {"reps": int(r["reps"]), **_row(r)} for r in conn.execute(q).mappings()}
    empty = {"reps": 0, **dict.fromkeys(SUMS, 0), "rate": None}
    return pd.DataFrame([{"rep_type": t, **got.get(t, empty)} for t in S.REP_TYPES],
                        columns=["rep_type", "reps", *SUMS, "rate"])


def by_form(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """One row per form (home visits, station receptions, forums)."""
    q = sa.select(R.c.form, *_sums()).where(_where(period, village_ids)).group_by(R.c.form)
    got = {r["form"]: _row(r) for r in conn.execute(q).mappings()}
    empty = {**dict.fromkeys(SUMS, 0), "rate": None}
    return pd.DataFrame([{"form": f, **got.get(f, empty)} for f in S.VISIT_FORMS],
                        columns=["form", *SUMS, "rate"])


LEVELS = (*S.REP_LEVELS, "unknown")  # "unknown": the ledger wrote no level (人大代表, not 县人大代表)


def by_level(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """One row per representative level (全国 … 镇, then visits whose level was not written)."""
    lvl = sa.func.coalesce(R.c.rep_level, "unknown")
    q = (sa.select(lvl.label("rep_level"), sa.func.count(sa.distinct(R.c.rep_name)).label("reps"),
                   *_sums()).where(_where(period, village_ids)).group_by(lvl))
    got = {r["rep_level"]: {"reps": int(r["reps"]), **_row(r)} for r in conn.execute(q).mappings()}
    empty = {"reps": 0, **dict.fromkeys(SUMS, 0), "rate": None}
    return pd.DataFrame([{"rep_level": v, **got.get(v, empty)} for v in LEVELS],
                        columns=["rep_level", "reps", *SUMS, "rate"])


def by_village(conn, period: Period, village_ids=None) -> dict:
    """Per village (display order): the registry's visit figures; and the township's."""
    r = metrics.compute(conn, period, village_ids)
    keys = ("rep_visits", "voters_contacted", "suggestions_collected", "issues_resolved",
            "issues_referred", "suggestion_resolution_rate")
    rows = [{"village_id": v["id"], "village": v["name"], **{k: r["villages"][v["id"]][k] for k in keys}}
            for v in summary.villages(conn) if v["id"] in r["villages"]]
    return {"villages": pd.DataFrame(rows, columns=["village_id", "village", *keys]),
            "township": r["township"]}


def by_rep(conn, period: Period, village_ids=None, limit: int | None = None) -> pd.DataFrame:
    """Per representative: type, visits, voters, suggestions, resolved, referred, rate, villages.

    Ranked by visits then voters contacted. Representatives are public office holders.
    """
    q = (sa.select(R.c.rep_name, R.c.rep_type, sa.func.count(sa.distinct(R.c.village_id)).label("villages"),
                   *_sums())
         .where(_where(period, village_ids)).group_by(R.c.rep_name, R.c.rep_type))
    df = pd.DataFrame([{"rep_name": r["rep_name"], "rep_type": r["rep_type"], **_row(r),
                        "villages": int(r["villages"])} for r in conn.execute(q).mappings()],
                      columns=["rep_name", "rep_type", *SUMS, "rate", "villages"])
    df = df.sort_values(["visits", "voters", "rep_name"], ascending=[False, False, True]).reset_index(drop=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.head(limit) if limit else df


def monthly(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """One row per month of the period: visits, voters, suggestions, resolved, referred."""
    m = month_expr(conn, R.c.visited_on)
    q = sa.select(m.label("month"), *_sums()).where(_where(period, village_ids)).group_by(m)
    got = {r["month"]: {k: int(r[k]) for k in SUMS} for r in conn.execute(q).mappings()}
    zero = dict.fromkeys(SUMS, 0)
    return pd.DataFrame([{"month": mo, **got.get(mo, zero)} for mo in metrics.months_of(period)],
                        columns=["month", *SUMS])


KPIS = ("rep_visits", "voters_contacted", "suggestions_collected", "issues_resolved",
        "issues_referred", "suggestion_resolution_rate", "suggestion_referral_rate", "voters_per_visit")
_OUT = [("visits", "rep_visits", None), ("voters", "voters_contacted", None),
        ("suggestions", "suggestions_collected", None), ("resolved", "issues_resolved", None),
        ("referred", "issues_referred", None), ("rate", "suggestion_resolution_rate", None)]
TYPE_SPEC = [("rep_type", "col.rep_type", "rep_type"), ("reps", "col.reps", "count"), *_OUT]
FORM_SPEC = [("form", "col.form", "form"), *_OUT]
LEVEL_SPEC = [("rep_level", "col.rep_level", "rep_level"), ("reps", "col.reps", "count"), *_OUT]
VILLAGE_SPEC = [("village", "col.village", "text"),
                *[(k, k, None) for k in ("rep_visits", "voters_contacted", "suggestions_collected",
                                         "issues_resolved", "issues_referred",
                                         "suggestion_resolution_rate")]]
REP_SPEC = [("rank", "col.rank", "count"), ("rep_name", "col.rep_name", "text"),
            ("rep_type", "col.rep_type", "rep_type"), *_OUT, ("villages", "col.rep_villages", "count")]
MONTHLY_SPEC = [("month", "col.month", "text"), *_OUT[:5]]
