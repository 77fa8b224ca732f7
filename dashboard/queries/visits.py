"""代表走访 Representative visits: by representative type, by form, per village, per representative.

Records, voters contacted, suggestions collected and their outcomes (resolved / referred),
summed in SQL; the resolution rate is the registry's (issues resolved / suggestions collected).
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import metrics
from dashboard import suggestions as sugg_rules
from dashboard.db import schema as S
from dashboard.db.dialect import in_villages, month_expr
from dashboard.periods import Period
from dashboard.queries import summary
from dashboard.settings import REPLY_DAYS  # noqa: F401 - the page names the rule through here

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
    out["rate"] = metrics.of("suggestion_resolution_rate", {"issues_resolved": out["resolved"],
                                                           "suggestions_collected": out["suggestions"]})
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


# ---------------------------------------------------------------- 意见建议转办答复 (the suggestion ledger)
# Rules in dashboard.suggestions; the registry's figures (suggestions_referred ...) in metrics.

SG = S.suggestion
# The funnel's stages are registry figures of the period, each shown under its registry name:
# logged (by 收集日期) → solved on the spot / referred (by 转办日期) → answered → satisfied.
FUNNEL_STAGES = {"suggestions_logged": "collected", "suggestions_on_the_spot": "on_the_spot",
                 "suggestions_referred": "referred", "referrals_replied": "replied",
                 "referrals_satisfied": "satisfied"}


def referral_funnel(town: dict, lang: str = "zh") -> pd.DataFrame:
    """One row per stage: the registry's figure (``town``: metrics.compute's township or a
    village) under its registry name; ``stage`` keeps the colour."""
    return pd.DataFrame({"stage": list(FUNNEL_STAGES.values()), "key": list(FUNNEL_STAGES),
                         "metric": [metrics.METRICS[k].name(lang) for k in FUNNEL_STAGES],
                         "n": [int(town.get(k) or 0) for k in FUNNEL_STAGES]})


OVERDUE_REPLY_COLUMNS = ["department", "sugg_no", "village", "rep_name", "category", "collected_on",
                         "referred_on", "days_waiting"]


def overdue_replies(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """The 督办 list of referrals: those the registry counts as replies_overdue at the period's
    end (referred more than REPLY_DAYS days before it, unanswered by it, whatever the referral
    date), by department, oldest first within it, with the days waited at that date. Suggestion
    numbers and the representative's name only: no other person is named."""
    V, end = S.village, period.end
    q = (sa.select(SG.c.department, SG.c.sugg_no, V.c.name.label("village"), SG.c.rep_name,
                   SG.c.category, SG.c.collected_on, SG.c.referred_on)
         .select_from(SG.join(V, V.c.id == SG.c.village_id))
         .where(sugg_rules.overdue_at(end), in_villages(SG.c.village_id, village_ids))
         .order_by(SG.c.referred_on, V.c.name, SG.c.sugg_no))
    rows = [dict(r) for r in conn.execute(q).mappings()]
    for r in rows:
        r["collected_on"], r["referred_on"] = summary._d(r["collected_on"]), summary._d(r["referred_on"])
        r["days_waiting"] = (end - r["referred_on"]).days
    df = pd.DataFrame(rows, columns=OVERDUE_REPLY_COLUMNS)
    if len(df):   # departments with the oldest referral first, oldest first within each
        first = df.groupby("department")["referred_on"].transform("min")
        df = df.assign(_first=first).sort_values(["_first", "department", "referred_on", "sugg_no"],
                                                 kind="stable").drop(columns="_first")
    return df.reset_index(drop=True)


def overdue_by_department(df: pd.DataFrame) -> pd.DataFrame:
    """The 督办 list summed per department: how many, the oldest referral and its days (the
    list's own order: the department waiting longest first)."""
    if not len(df):
        return pd.DataFrame(columns=["department", "n", "oldest", "days_max"])
    g = df.groupby("department", sort=False)
    return pd.DataFrame({"department": list(g.groups), "n": g.size().to_numpy(),
                         "oldest": g["referred_on"].min().to_numpy(),
                         "days_max": g["days_waiting"].max().to_numpy()}).reset_index(drop=True)


REP_REFERRAL_COLUMNS = ["rep_name", "suggestions_logged", "suggestions_on_the_spot",
                        "suggestions_referred", "referrals_replied", "referral_reply_rate",
                        "replies_overdue", "referrals_satisfied", "satisfied_rate"]


def referrals_by_rep(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """Per representative: suggestions collected and solved on the spot in the period, and the
    registry's referral figures (referred in the period, answered by its end, overdue at it,
    share satisfied), most referred first."""
    start, end = period.start, period.end
    within = sugg_rules.referred_within(start, end)
    answered = sa.and_(within, sugg_rules.replied_by(end))
    collected = SG.c.collected_on.between(start, end)

    def cnt(cond):
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)
    q = (sa.select(SG.c.rep_name, cnt(collected), cnt(sa.and_(collected, SG.c.handling == "on_the_spot")),
                   cnt(within), cnt(answered),
                   cnt(sa.and_(answered, SG.c.satisfaction.in_(sugg_rules.SATISFIED))),
                   cnt(sa.and_(SG.c.referred_on.is_not(None), sugg_rules.overdue_at(end))))
         .where(sa.or_(collected, sa.and_(SG.c.referred_on.is_not(None), SG.c.referred_on <= end)),
                SG.c.collected_on <= end, in_villages(SG.c.village_id, village_ids))
         .group_by(SG.c.rep_name))
    rows = []
    for name, c, spot, ref, rep, sat, od in conn.execute(q):
        if not (c or ref or od):
            continue
        parts = dict(suggestions_logged=int(c), suggestions_on_the_spot=int(spot),
                     suggestions_referred=int(ref), referrals_replied=int(rep), replies_overdue=int(od),
                     referrals_satisfied=int(sat))
        rows.append(dict(rep_name=name, **parts, referral_reply_rate=metrics.of("referral_reply_rate", parts),
                         satisfied_rate=metrics.of("satisfied_rate", parts)))
    df = pd.DataFrame(rows, columns=REP_REFERRAL_COLUMNS)
    return df.sort_values(["suggestions_referred", "suggestions_logged", "rep_name"],
                          ascending=[False, False, True]).reset_index(drop=True)


REFERRAL_KPIS = ("suggestions_referred", "referrals_replied", "referral_reply_rate",
                 "median_days_to_reply", "replies_overdue", "satisfied_rate")
FUNNEL_SPEC = [("metric", "col.metric", "text"), ("n", "changes.current", "count")]
OVERDUE_REPLY_SPEC = [("department", "col.department", "text"), ("sugg_no", "col.sugg_no", "text"),
                      ("village", "col.village", "text"), ("rep_name", "col.rep_name", "text"),
                      ("category", "col.sugg_category", "text"),
                      ("collected_on", "col.collected_on", "date"),
                      ("referred_on", "col.referred_on", "date"),
                      ("days_waiting", "col.days_waiting", "count")]
DEPT_SPEC = [("department", "col.department", "text"), ("n", "replies_overdue", None),
             ("oldest", "col.oldest_referral", "date"), ("days_max", "col.days_waiting_max", "count")]
REP_REFERRAL_SPEC = [("rep_name", "col.rep_name", "text"),
                     *[(k, k, None) for k in REP_REFERRAL_COLUMNS[1:]]]
