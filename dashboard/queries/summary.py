"""Row counts and the basic facts every page needs (date range, village list)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from dashboard.db import schema as S

COUNTED = {
    "villages": S.village,
    "grids": S.grid,
    "disputes": S.dispute,
    "volunteer_activities": S.volunteer_activity,
    "representative_visits": S.rep_visit,
}


def counts(conn) -> dict[str, int]:
    return {k: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for k, t in COUNTED.items()}


def data_range(conn, village_ids=None, until=None) -> tuple[date | None, date | None]:
    """First and last day with any ledger row (of these villages, on or before ``until``)."""
    parts = []
    for table, col in ((S.dispute, "reported_on"), (S.volunteer_activity, "held_on"), (S.rep_visit, "visited_on"),
                       (S.suggestion, "collected_on")):
        c = table.c[col]
        q = sa.select(sa.func.min(c), sa.func.max(c))
        if village_ids is not None:
            q = q.where(table.c.village_id.in_(list(village_ids)))
        if until is not None:
            q = q.where(c <= until)
        parts.append(q)
    lo, hi = [], []
    for q in parts:
        a, b = conn.execute(q).one()
        if a is not None:
            lo.append(_d(a))
            hi.append(_d(b))
    return (min(lo) if lo else None, max(hi) if hi else None)


def _d(v) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def villages(conn) -> list[dict]:
    """Villages in display order (communities first, then by statistical code / name)."""
    rows = conn.execute(sa.select(S.village.c.id, S.village.c.name, S.village.c.code, S.village.c.kind,
                                  S.village.c.households, S.village.c.population,
                                  S.village.c.party_members)
                        .order_by(S.village.c.code, S.village.c.name)).mappings().all()
    return [dict(r) for r in rows]


def township(conn) -> dict | None:
    r = conn.execute(sa.select(S.township.c.id, S.township.c.code, S.township.c.name,
                               S.township.c.is_demo).order_by(S.township.c.id)).mappings().first()
    return dict(r) if r else None


def is_demo(conn) -> bool:
    return bool(conn.execute(sa.select(sa.func.count()).select_from(S.township)
                             .where(S.township.c.is_demo == sa.true())).scalar_one())
