"""The rules of the suggestion ledger (意见建议转办答复), once, as SQL on its raw rows.

A referral (办理方式 = 转办) is counted in a period by its 转办日期; it is answered by a date
when its 答复日期 is on or before it; it is overdue at a date when it was referred on or before
it, is not answered by it, and was referred more than REPLY_DAYS days before it. The ledger is
small (a township collects hundreds of suggestions a year), so the figures are summed from its
rows in the database, per village, without a pre-aggregated layer. The metric registry
(``dashboard.metrics``, through the base-sum layer ``dashboard.aggregates.base``) and the
visits page's queries both read these rules. It imports nothing of the metrics or the
aggregates (it sits below both, like dashboard.rules).
"""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from dashboard.db import schema as S
from dashboard.db.dialect import days_expr, in_villages
from dashboard.settings import REPLY_DAYS

T = S.suggestion
SATISFIED = ("satisfied", "basic")   # 满意 or 基本满意
# the registry's base counts of the ledger (summed per village; the median comes from ``days``)
BASE = ("suggestions_logged", "suggestions_on_the_spot", "suggestions_referred", "referrals_replied",
        "referrals_satisfied", "replies_overdue")


def collected_within(start: date, end: date, t=T):
    """Collected (收集日期) within [start, end], both days included."""
    return t.c.collected_on.between(start, end)


def referred_within(start: date, end: date, t=T):
    """Referred (转办日期) within [start, end], both days included."""
    return t.c.referred_on.between(start, end)


def replied_by(end: date, t=T):
    """Answered (答复日期) on or before ``end``."""
    return sa.and_(t.c.replied_on.is_not(None), t.c.replied_on <= end)


def overdue_before(end: date) -> date:
    """The first referral date that is not overdue at ``end`` (referred more than REPLY_DAYS
    days before it)."""
    return end - timedelta(days=REPLY_DAYS)


def unanswered_at(end: date, t=T):
    """Referred on or before ``end`` and not answered by it."""
    return sa.and_(t.c.referred_on <= end, sa.or_(t.c.replied_on.is_(None), t.c.replied_on > end))


def overdue_at(end: date, t=T):
    """Unanswered at ``end`` and referred more than REPLY_DAYS days before it (督办)."""
    return sa.and_(unanswered_at(end, t), t.c.referred_on < overdue_before(end))


def _cnt(cond):
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def base(conn, start: date, end: date, village_ids=None) -> tuple[dict, dict]:
    """``({village_id: {BASE name: count}}, {village_id: {days to reply: n}})`` of [start, end]:
    two GROUP BY queries over the referrals made on or before ``end``."""
    period = referred_within(start, end)
    answered = sa.and_(period, replied_by(end))
    logged = collected_within(start, end)
    q = (sa.select(T.c.village_id, _cnt(logged), _cnt(sa.and_(logged, T.c.handling == "on_the_spot")),
                   _cnt(period), _cnt(answered),
                   _cnt(sa.and_(answered, T.c.satisfaction.in_(SATISFIED))), _cnt(overdue_at(end)))
         .where(sa.or_(logged, sa.and_(T.c.referred_on.is_not(None), T.c.referred_on <= end)),
                in_villages(T.c.village_id, village_ids))
         .group_by(T.c.village_id))
    out = {int(r[0]): dict(zip(BASE, (int(x) for x in r[1:]))) for r in conn.execute(q)}
    d = days_expr(conn, T.c.replied_on, T.c.referred_on)
    hq = (sa.select(T.c.village_id, d, sa.func.count())
          .where(answered, in_villages(T.c.village_id, village_ids)).group_by(T.c.village_id, d))
    hist: dict = {}
    for v, n_days, n in conn.execute(hq):
        hist.setdefault(int(v), {})[int(n_days)] = int(n)
    return out, hist
