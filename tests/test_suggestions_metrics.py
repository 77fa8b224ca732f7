"""The suggestion figures of the registry on a hand-built ledger: exact for referrals before the
period, replies after it, replies on the boundary days and unanswered ones (SQLite and
PostgreSQL; with the pre-aggregates fresh and stale)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dashboard import aggregates, metrics
from dashboard.commands import metrics as metrics_cmd
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.periods import Period

D = date
# (village, referred, replied, satisfaction, what the row tests for March 2025)
ROWS = [
    ("红旗村", D(2025, 2, 20), D(2025, 3, 5), "satisfied"),   # 1 referred before, answered within
    ("红旗村", D(2025, 2, 10), None, None),                   # 2 before, never answered: overdue
    ("红旗村", D(2025, 3, 1), D(2025, 3, 31), "satisfied"),   # 3 both boundary days: 30 days
    ("红旗村", D(2025, 3, 10), D(2025, 4, 2), "basic"),       # 4 answered after the period
    ("红旗村", D(2025, 3, 5), D(2025, 3, 15), "dissatisfied"),  # 5 10 days
    ("红旗村", D(2025, 3, 20), None, None),                   # 6 unanswered, not yet overdue
    ("红旗村", D(2025, 3, 1), None, None),                    # 8 exactly 30 days at the end: not overdue
    ("红旗村", D(2025, 2, 28), None, None),                   # 9 31 days at the end: overdue
    ("红旗村", D(2025, 4, 1), None, None),                    # 10 referred after the period
    ("建设村", D(2025, 3, 15), D(2025, 3, 16), "basic"),      # 11 1 day
    ("建设村", D(2024, 12, 1), D(2025, 3, 31), "satisfied"),  # 12 old referral answered on the last day
]


@pytest.fixture
def ledger(engine):
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        ids = {}
        for name in ("红旗村", "建设村", "东湖社区"):
            ids[name] = c.execute(sa.insert(S.village).values(township_id=tid, name=name)
                                  .returning(S.village.c.id)).scalar_one()
        rows = [dict(sugg_no=f"JY-{i}", village_id=ids[v], rep_name="张秀英",
                     collected_on=ref - timedelta(days=1), category="道路交通", handling="referred",
                     department="镇交通管理站", referred_on=ref, replied_on=rep, satisfaction=sat)
                for i, (v, ref, rep, sat) in enumerate(ROWS)]
        rows.append(dict(sugg_no="JY-spot", village_id=ids["红旗村"], rep_name="张秀英",
                         collected_on=D(2025, 3, 2), category="环境卫生", handling="on_the_spot",
                         department=None, referred_on=None, replied_on=None,
                         satisfaction="satisfied"))
        c.execute(sa.insert(S.suggestion), rows)
    return engine, ids


KEYS = ("suggestions_referred", "referrals_replied", "referral_reply_rate", "median_days_to_reply",
        "replies_overdue", "referrals_satisfied", "satisfied_rate")


def pick(values):
    return tuple(values[k] for k in KEYS)


@pytest.mark.parametrize("fresh", [False, True])
def test_march_exact(ledger, fresh):
    engine, ids = ledger
    with engine.begin() as c:
        if fresh:
            aggregates.refresh(c)   # the pack path for calendar months
        r = metrics.compute(c, Period(D(2025, 3, 1), D(2025, 3, 31), "month"))
    assert pick(r["villages"][ids["红旗村"]]) == (5, 2, 0.4, 20.0, 2, 1, 0.5)
    assert pick(r["villages"][ids["建设村"]]) == (1, 1, 1.0, 1.0, 0, 1, 1.0)
    assert pick(r["villages"][ids["东湖社区"]]) == (0, 0, None, None, 0, 0, None)
    assert pick(r["township"]) == (6, 3, 0.5, 10.0, 2, 2, 2 / 3)


def test_custom_period_replies_after_it_are_open_at_its_end(ledger):
    engine, ids = ledger
    with engine.connect() as c:
        r = metrics.compute(c, Period(D(2025, 3, 10), D(2025, 3, 20), "custom"))
    # referred 3-10 (answered 4-2), 3-20 (open); 建设村 3-15 (answered 3-16, 1 day)
    assert pick(r["villages"][ids["红旗村"]]) == (2, 0, 0.0, None, 1, 0, None)
    # the 2024-12-01 referral is answered only on 3-31: unanswered and overdue at 3-20
    assert pick(r["villages"][ids["建设村"]]) == (1, 1, 1.0, 1.0, 1, 1, 1.0)
    assert pick(r["township"]) == (3, 1, 1 / 3, 1.0, 2, 1, 1.0)


def test_selected_villages_and_json(ledger):
    engine, ids = ledger
    with engine.connect() as c:
        r = metrics.compute(c, Period(D(2025, 3, 1), D(2025, 3, 31), "month"), [ids["建设村"]])
        doc = metrics_cmd.report(c, D(2025, 3, 1), D(2025, 3, 31))
    assert pick(r["township"]) == (1, 1, 1.0, 1.0, 0, 1, 1.0)
    tw = doc["township"]
    assert {k: tw[k] for k in KEYS} == {
        "suggestions_referred": 6, "referrals_replied": 3, "referral_reply_rate": 0.5,
        "median_days_to_reply": 10.0, "replies_overdue": 2, "referrals_satisfied": 2,
        "satisfied_rate": 0.6667}
    assert doc["villages"]["东湖社区"]["referral_reply_rate"] is None
    assert doc["villages"]["红旗村"]["replies_overdue"] == 2


def test_registry_lines():
    m = metrics.METRICS["referral_reply_rate"]
    assert (m.numerator, m.denominator) == ("referrals_replied", "suggestions_referred")
    m = metrics.METRICS["satisfied_rate"]
    assert (m.numerator, m.denominator) == ("referrals_satisfied", "referrals_replied")
    assert "30天" in metrics.METRICS["replies_overdue"].definition("zh")


def test_logged_and_solved_on_the_spot_by_collection_date(ledger):
    """Collected the day before each referral (ROWS), plus 红旗村's spot row of 3-2: in March
    红旗村 logged rows 4, 5, 6, 10 (collected 3-9, 3-4, 3-19, 3-31) and the spot row; rows 3 and
    8 were collected on 2-28. 建设村: row 11 (3-14). 3-10..3-20: 红旗村 row 6, 建设村 row 11."""
    engine, ids = ledger
    keys = ("suggestions_logged", "suggestions_on_the_spot")
    with engine.connect() as c:
        r = metrics.compute(c, Period(D(2025, 3, 1), D(2025, 3, 31), "month"))
        q = metrics.compute(c, Period(D(2025, 3, 10), D(2025, 3, 20), "custom"))
    assert [tuple(r["villages"][ids[v]][k] for k in keys) for v in ("红旗村", "建设村", "东湖社区")] == \
        [(5, 1), (1, 0), (0, 0)]
    assert tuple(r["township"][k] for k in keys) == (6, 1)
    assert [tuple(q["villages"][ids[v]][k] for k in keys) for v in ("红旗村", "建设村")] == [(1, 0), (1, 0)]
