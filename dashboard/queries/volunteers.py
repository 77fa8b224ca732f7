"""志愿服务 Volunteers: monthly figures, per village (per 100 residents), teams, activity mix, points.

Figures follow the registry: hours = participants × hours per participant, summed in SQL.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import metrics
from dashboard.db import schema as S
from dashboard.db.dialect import in_villages, month_expr
from dashboard.periods import Period
from dashboard.queries import summary

A = S.volunteer_activity
SUMS = ("activities", "participants", "hours", "points")


def _where(period: Period, village_ids):
    return sa.and_(A.c.held_on.between(period.start, period.end),
                   in_villages(A.c.village_id, village_ids))


def _sums():
    return (sa.func.count().label("activities"),
            sa.func.coalesce(sa.func.sum(A.c.participants), 0).label("participants"),
            sa.func.coalesce(sa.func.sum(A.c.participants * A.c.hours), 0).label("hours"),
            sa.func.coalesce(sa.func.sum(A.c.points), 0).label("points"))


def _row(r) -> dict:
    return dict(activities=int(r["activities"]), participants=int(r["participants"]),
                hours=round(float(r["hours"]), 2), points=int(r["points"]))


def monthly(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """One row per month of the period: activities, participants, hours, points (0 when none)."""
    m = month_expr(conn, A.c.held_on)
    q = sa.select(m.label("month"), *_sums()).where(_where(period, village_ids)).group_by(m)
    got = {r["month"]: _row(r) for r in conn.execute(q).mappings()}
    zero = dict.fromkeys(SUMS, 0)
    return pd.DataFrame([{"month": mo, **got.get(mo, zero)} for mo in metrics.months_of(period)],
                        columns=["month", *SUMS])


def by_village(conn, period: Period, village_ids=None) -> dict:
    """Per village: the registry's volunteer figures and hours per 100 residents, best first."""
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    keys = ("volunteer_activities", "volunteer_participants", "volunteer_hours", "volunteer_points",
            "population", "volunteer_hours_per_100_residents",
            "volunteer_participants_per_100_residents")
    df = pd.DataFrame([{"village_id": vid, "village": names[vid], **{k: m[k] for k in keys}}
                       for vid, m in r["villages"].items()], columns=["village_id", "village", *keys])
    df = df.sort_values("volunteer_hours_per_100_residents", ascending=False, na_position="last",
                        kind="stable").reset_index(drop=True)
    return {"villages": df, "township": r["township"]}


def teams(conn, period: Period, village_ids=None, limit: int | None = None) -> pd.DataFrame:
    """Teams ranked by hours (then activities): team, village, activities, participants, hours, points."""
    V = S.village
    q = (sa.select(A.c.team, V.c.name.label("village"), *_sums())
         .select_from(A.join(V, V.c.id == A.c.village_id))
         .where(_where(period, village_ids)).group_by(A.c.team, V.c.name))
    df = pd.DataFrame([{"team": r["team"], "village": r["village"], **_row(r)}
                       for r in conn.execute(q).mappings()], columns=["team", "village", *SUMS])
    df = df.sort_values(["hours", "activities", "team"], ascending=[False, False, True]).reset_index(drop=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.head(limit) if limit else df


def categories(conn, period: Period, village_ids=None) -> pd.DataFrame:
    """Activity-type mix: activities, participants, hours, points per category; most hours first."""
    q = (sa.select(A.c.category, *_sums()).where(_where(period, village_ids)).group_by(A.c.category))
    df = pd.DataFrame([{"category": r["category"], **_row(r)} for r in conn.execute(q).mappings()],
                      columns=["category", *SUMS])
    return df.sort_values(["hours", "category"], ascending=[False, True]).reset_index(drop=True)


KPIS = ("volunteer_activities", "volunteer_participants", "volunteer_hours", "volunteer_points",
        "volunteer_hours_per_100_residents", "volunteer_participants_per_100_residents")
MONTHLY_SPEC = [("month", "col.month", "text"), ("activities", "volunteer_activities", None),
                ("participants", "volunteer_participants", None), ("hours", "volunteer_hours", None),
                ("points", "volunteer_points", None)]
VILLAGE_SPEC = [("village", "col.village", "text"),
                *[(k, k, None) for k in ("volunteer_activities", "volunteer_participants",
                                         "volunteer_hours", "volunteer_points", "population",
                                         "volunteer_hours_per_100_residents",
                                         "volunteer_participants_per_100_residents")]]
TEAM_SPEC = [("rank", "col.rank", "count"), ("team", "col.team", "text"),
             ("village", "col.village", "text"), ("activities", "volunteer_activities", None),
             ("participants", "volunteer_participants", None), ("hours", "volunteer_hours", None),
             ("points", "volunteer_points", None)]
CATEGORY_SPEC = [("category", "col.activity_type", "text"),
                 ("activities", "volunteer_activities", None),
                 ("participants", "volunteer_participants", None), ("hours", "volunteer_hours", None),
                 ("points", "volunteer_points", None)]
