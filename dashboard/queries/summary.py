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


def villages(conn, township_ids=None) -> list[dict]:
    """Villages in display order (by statistical code / name), each with its township_id;
    ``township_ids``: only those townships' villages (None: the county)."""
    q = (sa.select(S.village.c.id, S.village.c.name, S.village.c.code, S.village.c.kind,
                   S.village.c.households, S.village.c.population, S.village.c.party_members,
                   S.village.c.township_id)
         .order_by(S.village.c.code, S.village.c.name))
    if township_ids is not None:
        q = q.where(S.village.c.township_id.in_(sorted(int(t) for t in township_ids)))
    return [dict(r) for r in conn.execute(q).mappings().all()]


def village_labels(villages: list[dict], townships: list[dict]) -> dict[str, int]:
    """{label: id}: the village's name, with its township's after it where the name repeats
    among ``villages`` (建设村（白云镇）): a name is unique only within its township."""
    seen: dict[str, int] = {}
    for v in villages:
        seen[v["name"]] = seen.get(v["name"], 0) + 1
    town = {tw["id"]: tw["name"] for tw in townships}
    return {(v["name"] if seen[v["name"]] == 1 else f"{v['name']}（{town.get(v.get('township_id'), '')}）"): v["id"]
            for v in villages}


def townships(conn) -> list[dict]:
    """Every township (id, code, name, is_demo, villages: how many), by code."""
    n = (sa.select(S.village.c.township_id, sa.func.count().label("n"))
         .group_by(S.village.c.township_id).subquery())
    rows = conn.execute(sa.select(S.township.c.id, S.township.c.code, S.township.c.name,
                                  S.township.c.is_demo, sa.func.coalesce(n.c.n, 0).label("villages"))
                        .select_from(S.township.outerjoin(n, n.c.township_id == S.township.c.id))
                        .order_by(S.township.c.code, S.township.c.id)).mappings().all()
    return [dict(r) for r in rows]


def township(conn, township_id: int | None = None) -> dict | None:
    """The township ``township_id`` (id, code, name, is_demo); without one, the first township
    (a database of one township: that one)."""
    q = sa.select(S.township.c.id, S.township.c.code, S.township.c.name, S.township.c.is_demo)
    if township_id is not None:
        q = q.where(S.township.c.id == int(township_id))
    r = conn.execute(q.order_by(S.township.c.id)).mappings().first()
    return dict(r) if r else None


def is_demo(conn) -> bool:
    return bool(conn.execute(sa.select(sa.func.count()).select_from(S.township)
                             .where(S.township.c.is_demo == sa.true())).scalar_one())


def township_of(conn, village_ids=None) -> dict | None:
    """The township a set of villages lies in (None = every village: the only township, if
    there is one), or None when they span several (the county)."""
    if village_ids is None:
        tws = townships(conn)
        return township(conn, tws[0]["id"]) if len(tws) == 1 else None
    ids = sorted({int(v) for v in village_ids})
    tids = list(conn.execute(sa.select(S.village.c.township_id).distinct()
                             .where(S.village.c.id.in_(ids))).scalars()) if ids else []
    return township(conn, tids[0]) if len(tids) == 1 else None


def whole_townships(conn, village_ids) -> bool:
    """Whether ``village_ids`` is exactly every village of the township(s) it touches."""
    if village_ids is None:
        return True
    ids = {int(v) for v in village_ids}
    tids = list(conn.execute(sa.select(S.village.c.township_id).distinct()
                             .where(S.village.c.id.in_(sorted(ids)))).scalars()) if ids else []
    if not tids:
        return False
    every = set(conn.execute(sa.select(S.village.c.id).where(S.village.c.township_id.in_(tids))).scalars())
    return every == ids
