"""The overview's numbers against values computed by hand on a small fixture.

Fixture (period under test: 2025 Q1 = 2025-01-01 … 2025-03-31):
  村A (100 households, 300 people), 村B (200 households, 500 people)
  A1 A reported 01-01 resolved 01-03 grid      → in Q1, resolved, 2 days
  A2 A reported 03-31 resolved 04-02 village   → in Q1, resolved after the period's end
  A3 A reported 02-10 received                 → in Q1, open 49 days at 03-31: overdue
  B1 B reported 02-01 resolved 02-11 township  → in Q1, resolved, 10 days
  B2 B reported 03-15 in progress              → in Q1, open 16 days: not overdue
  B3 B reported 2024-12-31 resolved 2025-01-02 grid    → Q4 2024 (环比), unresolved at its end
  B4 B reported 2024-10-10 resolved 2024-10-11 village → Q4 2024, resolved
  B5 B reported 2024-02-01 resolved 2024-02-05 grid    → Q1 2024 (同比), resolved
Q1 2025: 5 received, 2 resolved, rate 2/5 = 40.0%, within grid 1/2, within village 1/2,
median days (2, 10) → 6, overdue 1. Q4 2024: 2 received, 1 resolved (50%). Q1 2024: 1, 1 (100%).
Volunteers Q1: A 10 people × 2.5 h = 25 h; B 4 × 1.5 = 6 h (an April activity is outside) → 31 h.
Visits Q1: A 10 voters, 4 suggestions (2 resolved, 1 referred); B 20, 6 (3, 3) → 10 suggestions.
"""
from datetime import date

import pytest
import sqlalchemy as sa

from dashboard import periods
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.queries import overview

Q1 = periods.quarter(2025, 1)


@pytest.fixture
def fx(engine):
    D = date
    with write_txn(engine) as c:
        tid = c.execute(sa.insert(S.township).values(code="000000000000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        a = c.execute(sa.insert(S.village).values(township_id=tid, name="村A", households=100,
                                                  population=300).returning(S.village.c.id)).scalar_one()
        b = c.execute(sa.insert(S.village).values(township_id=tid, name="村B", households=200,
                                                  population=500).returning(S.village.c.id)).scalar_one()

        def dis(no, v, rep, res=None, level=None, status=None):
            c.execute(sa.insert(S.dispute).values(
                case_no=no, village_id=v, category="邻里纠纷", reported_on=rep, resolved_on=res,
                level=level, status=status or ("resolved" if res else "received")))

        dis("A1", a, D(2025, 1, 1), D(2025, 1, 3), "grid")
        dis("A2", a, D(2025, 3, 31), D(2025, 4, 2), "village")
        dis("A3", a, D(2025, 2, 10))
        dis("B1", b, D(2025, 2, 1), D(2025, 2, 11), "township")
        dis("B2", b, D(2025, 3, 15), status="in_progress")
        dis("B3", b, D(2024, 12, 31), D(2025, 1, 2), "grid")
        dis("B4", b, D(2024, 10, 10), D(2024, 10, 11), "village")
        dis("B5", b, D(2024, 2, 1), D(2024, 2, 5), "grid")
        for no, v, day, n, h in (("V1", a, D(2025, 1, 5), 10, 2.5), ("V2", b, D(2025, 3, 31), 4, 1.5),
                                 ("V3", b, D(2025, 4, 1), 50, 3.0)):
            c.execute(sa.insert(S.volunteer_activity).values(
                activity_no=no, village_id=v, held_on=day, team="党员先锋队", category="环保清洁",
                participants=n, hours=h, points=int(n * h)))
        for no, v, voters, s, r, f in (("R1", a, 10, 4, 2, 1), ("R2", b, 20, 6, 3, 3)):
            c.execute(sa.insert(S.rep_visit).values(
                record_no=no, village_id=v, rep_name="王某", rep_type="npc",
                visited_on=D(2025, 2, 2), form="home", voters=voters, suggestions=s, resolved=r, referred=f))
    return engine, a, b


def test_kpis_by_hand(fx):
    engine, a, b = fx
    with engine.connect() as c:
        k = overview.kpis(c, Q1)
    assert k["disputes_total"] == dict(value=5, previous=2, year_ago=1, mom=1.5, yoy=4.0)
    assert k["disputes_resolved"]["value"] == 2
    assert k["resolution_rate"]["value"] == pytest.approx(0.4)
    assert k["resolution_rate"]["previous"] == pytest.approx(0.5)
    assert k["resolution_rate"]["mom"] == pytest.approx(-0.1)     # −10.0 个百分点
    assert k["resolution_rate"]["yoy"] == pytest.approx(-0.6)
    assert k["resolved_within_village_rate"]["value"] == pytest.approx(0.5)
    assert k["volunteer_hours"]["value"] == pytest.approx(31.0)
    assert k["volunteer_hours"]["previous"] == 0 and k["volunteer_hours"]["mom"] is None
    assert k["rep_visits"]["value"] == 2
    assert k["suggestions_collected"]["value"] == 10


def test_change_formatting():
    assert overview.format_change("resolution_rate", -0.1) == "−10.0个百分点"
    assert overview.format_change("disputes_total", 1.5) == "+150.0%"
    assert overview.format_change("disputes_total", None) == "—"


def test_village_table_by_hand(fx):
    engine, a, b = fx
    with engine.connect() as c:
        df = overview.village_table(c, Q1, sort_key="resolution_rate")
    assert list(df["village"]) == ["村B", "村A"]  # 50.0% before 33.3%
    row = df.set_index("village").loc["村A"]
    assert row["disputes_total"] == 3 and row["disputes_resolved"] == 1
    assert row["resolution_rate"] == pytest.approx(1 / 3)
    assert row["median_days_to_resolve"] == 2
    assert row["overdue_open"] == 1
    assert row["volunteer_hours_per_100_residents"] == pytest.approx(25 / 300 * 100)
    shown = overview.table_for_display(df)
    assert list(shown.iloc[1])[:5] == ["村A", "村", "3", "1", "33.3%"]


def test_village_filter(fx):
    engine, a, b = fx
    with engine.connect() as c:
        k = overview.kpis(c, Q1, (a,))
    assert k["disputes_total"]["value"] == 3
    assert k["resolution_rate"]["value"] == pytest.approx(1 / 3)
    assert k["suggestions_collected"]["value"] == 4


def test_alerts_by_hand(fx):
    engine, *_ = fx
    with engine.connect() as c:
        lines = overview.alerts(c, Q1, target=0.9)
    assert lines[0] == "有2个村（社区）纠纷化解率低于目标90.0%：村A（33.3%，3件）、村B（50.0%，2件）。"
    assert lines[1] == "共有1件纠纷受理超过30天仍未化解：村A 1（件）。"


def test_empty_period_is_undefined_not_zero(fx):
    engine, *_ = fx
    with engine.connect() as c:
        k = overview.kpis(c, periods.month(2023, 6))
    assert k["disputes_total"]["value"] == 0
    assert k["resolution_rate"]["value"] is None
    assert k["resolution_rate"]["mom"] is None
