"""Every registry metric on a tiny hand-built township whose expected values are worked out by hand.

The fixture (period under test: Q1 2025 = 2025-01-01 .. 2025-03-31):

Village A (200 households, 600 residents), grids A1 (2 workers, 120 hh) and A2 (1 worker, 80 hh)
  a1  A1  reported 01-01 (first day)  resolved 01-01  grid      0 days
  a2  A1  reported 03-31 (last day)   resolved 03-31  village   0 days
  a3  A2  reported 02-10              resolved 02-20  township 10 days
  a4  A2  reported 03-05              resolved 04-02 (after the end: open at the end, 26 days)
  a5  A1  reported 2024-12-31 (day before: outside)
  a6  A1  reported 04-01 (day after: outside)
  a7  A2  reported 01-12              resolved 01-19  county    7 days
  a8  A1  reported 02-28              open: 31 days at the end -> overdue
  a9  A1  reported 03-01              open: exactly 30 days -> not overdue
  a10 A2  reported 01-20              resolved 05-01 (after the end): open 70 days -> overdue
Village B (100 hh, 300 residents), grid B1 (0 workers, 100 hh)
  b1  B1  02-01 -> 02-04 grid 3 days;  b2 B1 02-02 -> 02-07 grid 5 days
  b3  B1  03-10 -> 03-30 village 20 days;  b4 (no grid) 03-15 open 16 days
Village C (0 households, 0 residents, no grids, no rows at all)
"""
from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from dashboard import metrics
from dashboard.db import schema as S
from dashboard.periods import Period, month, quarter, year

Q1 = quarter(2025, 1)
D = date


def seed(engine) -> dict:
    """Insert the fixture; returns the ids {"A": .., "B": .., "C": .., "A1": .., ...}."""
    ids: dict = {}
    with engine.begin() as c:
        tid = c.execute(sa.insert(S.township).values(code="360121105000", name="测试镇")
                        .returning(S.township.c.id)).scalar_one()
        for name, hh, pop, kind in (("A村", 200, 600, "village"), ("B社区", 100, 300, "community"),
                                    ("C村", 0, 0, "village")):
            ids[name[0]] = c.execute(sa.insert(S.village).values(
                township_id=tid, name=name, kind=kind, households=hh, population=pop)
                .returning(S.village.c.id)).scalar_one()
        for code, v, workers, hh in (("A1", "A", 2, 120), ("A2", "A", 1, 80), ("B1", "B", 0, 100)):
            ids[code] = c.execute(sa.insert(S.grid).values(
                village_id=ids[v], code=code, name=f"第{code[1]}网格", workers=workers, households=hh)
                .returning(S.grid.c.id)).scalar_one()

        def dispute(no, v, g, rep, res=None, level=None, category="邻里纠纷"):
            c.execute(sa.insert(S.dispute).values(
                case_no=no, village_id=ids[v], grid_id=ids[g] if g else None, category=category,
                reported_on=rep, status="resolved" if res else "received", resolved_on=res,
                level=level, mediator="调解员甲"))

        dispute("a1", "A", "A1", D(2025, 1, 1), D(2025, 1, 1), "grid")
        dispute("a2", "A", "A1", D(2025, 3, 31), D(2025, 3, 31), "village")
        dispute("a3", "A", "A2", D(2025, 2, 10), D(2025, 2, 20), "township", "土地流转")
        dispute("a4", "A", "A2", D(2025, 3, 5), D(2025, 4, 2), "grid")
        dispute("a5", "A", "A1", D(2024, 12, 31), D(2025, 1, 2), "grid")
        dispute("a6", "A", "A1", D(2025, 4, 1))
        dispute("a7", "A", "A2", D(2025, 1, 12), D(2025, 1, 19), "county", "土地流转")
        dispute("a8", "A", "A1", D(2025, 2, 28))
        dispute("a9", "A", "A1", D(2025, 3, 1))
        dispute("a10", "A", "A2", D(2025, 1, 20), D(2025, 5, 1), "village")
        dispute("b1", "B", "B1", D(2025, 2, 1), D(2025, 2, 4), "grid")
        dispute("b2", "B", "B1", D(2025, 2, 2), D(2025, 2, 7), "grid", "婚姻家庭矛盾")
        dispute("b3", "B", "B1", D(2025, 3, 10), D(2025, 3, 30), "village")
        dispute("b4", "B", None, D(2025, 3, 15))

        def activity(no, v, g, held, team, cat, part, hours, points):
            c.execute(sa.insert(S.volunteer_activity).values(
                activity_no=no, village_id=ids[v], grid_id=ids[g] if g else None, held_on=held,
                team=team, category=cat, participants=part, hours=hours, points=points))

        activity("v1", "A", "A1", D(2025, 1, 1), "A党员先锋队", "环保清洁", 10, 2.0, 20)
        activity("v2", "A", "A2", D(2025, 3, 31), "A巾帼志愿队", "助老助残", 5, 1.5, 8)
        activity("v3", "A", "A1", D(2024, 12, 31), "A党员先锋队", "环保清洁", 10, 3.0, 30)
        activity("v4", "B", "B1", D(2025, 2, 15), "B党员先锋队", "文明实践", 4, 2.5, 10)
        activity("v5", "B", None, D(2025, 4, 1), "B党员先锋队", "文明实践", 8, 1.0, 8)

        def visit(no, v, rep, rtype, day, form, voters, sugg, res, ref):
            c.execute(sa.insert(S.rep_visit).values(
                record_no=no, village_id=ids[v], rep_name=rep, rep_type=rtype, visited_on=day,
                form=form, voters=voters, suggestions=sugg, resolved=res, referred=ref))

        visit("r1", "A", "王代表", "party", D(2025, 1, 1), "home", 10, 4, 2, 1)
        visit("r2", "A", "李委员", "cppcc", D(2025, 3, 31), "station", 20, 6, 3, 3)
        visit("r3", "B", "王代表", "party", D(2025, 2, 15), "forum", 30, 0, 0, 0)
        visit("r4", "B", "张代表", "npc", D(2025, 4, 1), "home", 5, 5, 5, 0)
        visit("r5", "C", "张代表", "npc", D(2024, 12, 31), "home", 8, 2, 1, 1)
    return ids


@pytest.fixture
def fx(engine):
    ids = seed(engine)
    with engine.connect() as conn:
        yield conn, ids


EXPECTED_A = dict(
    disputes_total=8, disputes_resolved=4, resolution_rate=0.5, median_days_to_resolve=3.5,
    resolved_at_grid=1, resolved_in_village=2, resolved_within_grid_rate=0.25,
    resolved_within_village_rate=0.5, overdue_open=2, disputes_open=4, overdue_rate=0.25,
    disputes_per_100_households=4.0,
    disputes_resolved_in_period=5, backlog_open=4, backlog_overdue=2,   # a1 a2 a3 a5 a7; a4 a8 a9 a10
    volunteer_activities=2, volunteer_participants=15, volunteer_hours=27.5, volunteer_points=28,
    volunteer_hours_per_100_residents=4.58, volunteer_participants_per_100_residents=2.5,
    rep_visits=2, voters_contacted=30, suggestions_collected=10, issues_resolved=5,
    issues_referred=4, suggestion_resolution_rate=0.5, suggestion_referral_rate=0.4,
    voters_per_visit=15.0,
    # no suggestion ledger rows in this fixture: its figures are tests/test_suggestions_metrics.py's
    suggestions_logged=0, suggestions_on_the_spot=0,
    suggestions_referred=0, referrals_replied=0, referral_reply_rate=None, median_days_to_reply=None,
    replies_overdue=0, referrals_satisfied=0, satisfied_rate=None,
    households=200, population=600, grid_workers=3, grids=2, households_per_grid_worker=66.67,
)
EXPECTED_B = dict(
    disputes_total=4, disputes_resolved=3, resolution_rate=0.75, median_days_to_resolve=5.0,
    resolved_at_grid=2, resolved_in_village=3, resolved_within_grid_rate=0.6667,
    resolved_within_village_rate=1.0, overdue_open=0, disputes_open=1, overdue_rate=0.0,
    disputes_per_100_households=4.0,
    disputes_resolved_in_period=3, backlog_open=1, backlog_overdue=0,   # b1 b2 b3; b4 (16 days)
    volunteer_activities=1, volunteer_participants=4, volunteer_hours=10.0, volunteer_points=10,
    volunteer_hours_per_100_residents=3.33, volunteer_participants_per_100_residents=1.33,
    rep_visits=1, voters_contacted=30, suggestions_collected=0, issues_resolved=0,
    issues_referred=0, suggestion_resolution_rate=None, suggestion_referral_rate=None,
    voters_per_visit=30.0,
    # no suggestion ledger rows in this fixture: its figures are tests/test_suggestions_metrics.py's
    suggestions_logged=0, suggestions_on_the_spot=0,
    suggestions_referred=0, referrals_replied=0, referral_reply_rate=None, median_days_to_reply=None,
    replies_overdue=0, referrals_satisfied=0, satisfied_rate=None,
    households=100, population=300, grid_workers=0, grids=1, households_per_grid_worker=None,
)
EXPECTED_C = dict(
    disputes_total=0, disputes_resolved=0, resolution_rate=None, median_days_to_resolve=None,
    resolved_at_grid=0, resolved_in_village=0, resolved_within_grid_rate=None,
    resolved_within_village_rate=None, overdue_open=0, disputes_open=0, overdue_rate=None,
    disputes_per_100_households=None,
    disputes_resolved_in_period=0, backlog_open=0, backlog_overdue=0,
    volunteer_activities=0, volunteer_participants=0, volunteer_hours=0.0, volunteer_points=0,
    volunteer_hours_per_100_residents=None, volunteer_participants_per_100_residents=None,
    rep_visits=0, voters_contacted=0, suggestions_collected=0, issues_resolved=0,
    issues_referred=0, suggestion_resolution_rate=None, suggestion_referral_rate=None,
    voters_per_visit=None,
    # no suggestion ledger rows in this fixture: its figures are tests/test_suggestions_metrics.py's
    suggestions_logged=0, suggestions_on_the_spot=0,
    suggestions_referred=0, referrals_replied=0, referral_reply_rate=None, median_days_to_reply=None,
    replies_overdue=0, referrals_satisfied=0, satisfied_rate=None,
    households=0, population=0, grid_workers=0, grids=0, households_per_grid_worker=None,
)
# The township is the ratio of the sums, never an average of the villages' ratios.
EXPECTED_TOWN = dict(
    disputes_total=12, disputes_resolved=7, resolution_rate=0.5833,   # 7/12
    median_days_to_resolve=5.0,                                        # 0,0,3,5,7,10,20
    resolved_at_grid=3, resolved_in_village=5, resolved_within_grid_rate=0.4286,  # 3/7
    resolved_within_village_rate=0.7143, overdue_open=2, disputes_open=5,         # 5/7
    overdue_rate=0.1667, disputes_per_100_households=4.0,             # 2/12, 12/300*100
    disputes_resolved_in_period=8, backlog_open=5, backlog_overdue=2,
    volunteer_activities=3, volunteer_participants=19, volunteer_hours=37.5, volunteer_points=38,
    volunteer_hours_per_100_residents=4.17, volunteer_participants_per_100_residents=2.11,
    rep_visits=3, voters_contacted=60, suggestions_collected=10, issues_resolved=5,
    issues_referred=4, suggestion_resolution_rate=0.5, suggestion_referral_rate=0.4,
    voters_per_visit=20.0,
    # no suggestion ledger rows in this fixture: its figures are tests/test_suggestions_metrics.py's
    suggestions_logged=0, suggestions_on_the_spot=0,
    suggestions_referred=0, referrals_replied=0, referral_reply_rate=None, median_days_to_reply=None,
    replies_overdue=0, referrals_satisfied=0, satisfied_rate=None,
    households=300, population=900, grid_workers=3, grids=3, households_per_grid_worker=100.0,
)


def test_every_metric_is_checked():
    assert set(EXPECTED_A) == set(metrics.METRICS)


@pytest.mark.parametrize("village, expected", [("A", EXPECTED_A), ("B", EXPECTED_B), ("C", EXPECTED_C)])
def test_village_metrics(fx, village, expected):
    conn, ids = fx
    r = metrics.compute(conn, Q1)
    assert metrics.table(r["villages"][ids[village]]) == expected


def test_township_is_ratio_of_sums(fx):
    conn, _ = fx
    assert metrics.table(metrics.compute(conn, Q1)["township"]) == EXPECTED_TOWN


def test_unrounded_values_are_exact(fx):
    conn, ids = fx
    t = metrics.compute(conn, Q1)["township"]
    assert t["resolution_rate"] == 7 / 12
    assert t["resolved_within_grid_rate"] == 3 / 7
    assert t["median_days_to_resolve"] == 5
    assert metrics.compute(conn, Q1)["villages"][ids["A"]]["median_days_to_resolve"] == 3.5


def test_village_filter_makes_the_township_theirs(fx):
    conn, ids = fx
    r = metrics.compute(conn, Q1, [ids["B"]])
    assert list(r["villages"]) == [ids["B"]]
    assert metrics.table(r["township"]) == EXPECTED_B


def test_empty_period_counts_zero_rates_none(fx):
    conn, ids = fx
    r = metrics.compute(conn, year(2023))
    t = r["township"]
    for k, m in metrics.METRICS.items():
        if k in ("households", "population", "grid_workers", "grids", "households_per_grid_worker"):
            continue  # facts about the place, not the period
        if m.denominator in ("households", "population"):
            assert t[k] == 0.0, k   # nothing happened among a known number of residents
        elif m.kind in ("rate", "ratio", "days"):
            assert t[k] is None, k  # zero denominator: undefined, never 0
        else:
            assert t[k] == 0, k
    assert set(r["villages"]) == {ids["A"], ids["B"], ids["C"]}
    assert t["households_per_grid_worker"] == 100.0


def test_boundaries_of_a_month(fx):
    conn, ids = fx
    # March: a2 (reported and resolved on the last day), a4 (resolved after the end), a9, b3, b4
    m = metrics.compute(conn, month(2025, 3))
    a = m["villages"][ids["A"]]
    assert (a["disputes_total"], a["disputes_resolved"], a["overdue_open"]) == (3, 1, 0)
    assert (m["township"]["disputes_total"], m["township"]["disputes_resolved"]) == (5, 2)
    assert a["median_days_to_resolve"] == 0
    # January: a1 (first day), a7, a10 (resolved in May); a5 reported the day before is out
    j = metrics.compute(conn, month(2025, 1))["villages"][ids["A"]]
    assert (j["disputes_total"], j["disputes_resolved"]) == (3, 2)
    assert j["median_days_to_resolve"] == 3.5          # 0 and 7
    # a10 is 11 days old at the end of January: open, not overdue
    assert j["overdue_open"] == 0


def test_resolved_after_the_end_counts_once_the_period_covers_it(fx):
    conn, ids = fx
    # Jan..May covers the resolutions of a4 (04-02) and a10 (05-01); a6 (04-01) comes in, open
    p = Period(D(2025, 1, 1), D(2025, 5, 31))
    a = metrics.compute(conn, p)["villages"][ids["A"]]
    assert (a["disputes_total"], a["disputes_resolved"]) == (9, 6)
    # days: 0, 0, 10, 28 (a4), 7, 101 (a10) -> 0,0,7,10,28,101 -> (7 + 10) / 2
    assert a["median_days_to_resolve"] == 8.5
    # open at 05-31: a6 (60 days), a8 (92), a9 (91): all overdue
    assert a["overdue_open"] == 3


def test_single_day_period(fx):
    conn, ids = fx
    r = metrics.compute(conn, Period(D(2025, 3, 31), D(2025, 3, 31)))
    a = r["villages"][ids["A"]]
    assert (a["disputes_total"], a["disputes_resolved"], a["resolution_rate"]) == (1, 1, 1.0)
    assert a["volunteer_hours"] == 7.5 and a["rep_visits"] == 1


def test_grid_metrics(fx):
    conn, ids = fx
    g = metrics.compute_grids(conn, Q1)
    assert set(g) == {ids["A1"], ids["A2"], ids["B1"]}
    a1, a2, b1 = (metrics.table(g[ids[k]], g[ids[k]].keys()) for k in ("A1", "A2", "B1"))
    assert (a1["disputes_total"], a1["disputes_resolved"], a1["overdue_open"]) == (4, 2, 1)
    assert a1["households_per_grid_worker"] == 60.0
    assert a1["disputes_per_100_households"] == 3.33
    assert a1["median_days_to_resolve"] == 0
    assert (a2["disputes_total"], a2["disputes_resolved"], a2["overdue_open"]) == (4, 2, 1)
    assert a2["households_per_grid_worker"] == 80.0
    assert a2["median_days_to_resolve"] == 8.5       # 10 and 7
    assert (b1["disputes_total"], b1["disputes_resolved"]) == (3, 3)   # b4 has no grid
    assert b1["households_per_grid_worker"] is None                    # no workers: undefined
    assert b1["disputes_per_100_households"] == 3.0
    assert b1["resolved_within_grid_rate"] == 0.6667
    assert "rep_visits" not in g[ids["A1"]]           # visits are not recorded per grid


@pytest.mark.parametrize("hist, expected", [
    ({}, None), ({4: 1}, 4), ({1: 1, 4: 1}, 2.5), ({2: 3}, 2), ({0: 2, 7: 1, 10: 1}, 3.5),
    ({0: 2, 3: 1, 5: 1, 7: 1, 10: 1, 20: 1}, 5), ({1: 1, 2: 1, 3: 1, 100: 1}, 2.5),
])
def test_median_from_histogram(hist, expected):
    assert metrics.median_from_hist(hist) == expected


def test_changes_against_previous_period_and_year_ago(fx):
    conn, _ = fx
    r = metrics.with_changes(conn, Q1)
    # Q4 2024 holds a5 (resolved in January: open at 12-31) and v3 (30 hours)
    assert r["previous"]["disputes_total"] == 1 and r["previous"]["resolution_rate"] == 0.0
    assert r["mom"]["disputes_total"] == 11.0                 # (12 − 1) / 1
    assert r["mom"]["resolution_rate"] == pytest.approx(7 / 12)  # percentage points
    assert r["mom"]["volunteer_hours"] == 0.25                # (37.5 − 30) / 30
    assert r["mom"]["rep_visits"] == 2.0                      # r5 on 2024-12-31: (3 − 1) / 1
    assert r["mom"]["disputes_resolved"] is None               # previous 0: undefined
    assert r["mom"]["median_days_to_resolve"] is None          # previous undefined
    # Q1 2024 is empty: every change undefined
    assert r["year_ago"]["disputes_total"] == 0
    assert r["yoy"]["disputes_total"] is None and r["yoy"]["resolution_rate"] is None


def test_change_rules():
    assert metrics.change("resolution_rate", 0.8, 0.75) == pytest.approx(0.05)
    assert metrics.change("disputes_total", 15, 10) == 0.5
    assert metrics.change("disputes_total", 5, 0) is None
    assert metrics.change("disputes_total", None, 3) is None


def test_rounded_and_formula(fx):
    conn, _ = fx
    t = metrics.compute(conn, Q1)["township"]
    assert metrics.formula("resolution_rate", t) == "本期受理已化解 / 受理纠纷 = 7 / 12"   # issue 12: the label says cohort
    assert metrics.formula("resolution_rate", t, "en") == "Received and resolved / Disputes received = 7 / 12"
    assert metrics.formula("disputes_total", t) == ""
    assert metrics.parts("volunteer_hours_per_100_residents", t) == (37.5, 900)
    assert metrics.rounded({"resolution_rate": 2 / 3, "volunteer_hours": 1 / 3, "grids": 3.0}) == \
        {"resolution_rate": 0.6667, "volunteer_hours": 0.33, "grids": 3}


def test_registry_is_complete():
    for k, m in metrics.METRICS.items():
        assert m.zh and m.en and m.definition_zh and m.definition_en, k
        assert m.direction in ("higher", "lower", "neutral")
        assert m.kind in ("count", "rate", "days", "hours", "ratio")
        if m.kind == "rate":
            assert m.numerator in metrics.METRICS and m.denominator in metrics.METRICS, k
        if m.numerator:
            assert m.definition("zh").endswith(f"（{metrics.METRICS[m.numerator].zh} / "
                                               f"{metrics.METRICS[m.denominator].zh}）")


def test_month_helpers(fx):
    conn, _ = fx
    assert metrics.months_of(Period(D(2024, 11, 15), D(2025, 2, 1))) == \
        ["2024-11", "2024-12", "2025-01", "2025-02"]
    q = sa.select(metrics.month_expr(conn, S.dispute.c.reported_on).label("m"), sa.func.count()) \
        .group_by(sa.literal_column("m")).order_by(sa.literal_column("m"))
    assert dict(conn.execute(q).all()) == {"2024-12": 1, "2025-01": 3, "2025-02": 4,
                                            "2025-03": 5, "2025-04": 1}


def test_registry_writes_reach_the_cached_static_facts(fx, engine):
    """Households, population, grids and workers are kept per process under the database's
    static token; every write to village or grid (committed or rolled back) must show."""
    from dashboard.db.engine import write_txn
    _, fx = fx
    with engine.connect() as c:
        before = metrics.compute(c, Q1)["villages"][fx["A"]]
        assert before["households"] == 200 and before["grids"] == 2 and before["grid_workers"] == 3
    with write_txn(engine) as c:    # no bump_version: only the triggers know
        c.execute(sa.update(S.village).where(S.village.c.id == fx["A"]).values(households=400))
        c.execute(sa.update(S.grid).where(S.grid.c.id == fx["A1"]).values(workers=5))
    with engine.connect() as c:
        a = metrics.compute(c, Q1)["villages"][fx["A"]]
        assert (a["households"], a["grid_workers"]) == (400, 6)
        assert a["disputes_per_100_households"] == pytest.approx(8 / 400 * 100)
        assert metrics.compute_grids(c, Q1)[fx["A1"]]["grid_workers"] == 5
    # inside a transaction that is rolled back: seen there, gone afterwards
    with engine.connect() as c:
        c.execute(sa.update(S.village).where(S.village.c.id == fx["B"]).values(population=999))
        assert metrics.compute(c, Q1)["villages"][fx["B"]]["population"] == 999
        c.rollback()
        assert metrics.compute(c, Q1)["villages"][fx["B"]]["population"] == 300
        c.rollback()


def test_figures_read_like_a_dict(fx, engine):
    import math
    import pickle
    _, fx = fx
    with engine.connect() as c:
        v = metrics.compute(c, Q1)["villages"]
    assert list(v) == sorted([fx["A"], fx["B"], fx["C"]]) and len(v) == 3
    assert fx["A"] in v and -1 not in v and v.get(-1) is None
    plain = {k: dict(m) for k, m in v.items()}
    assert pickle.loads(pickle.dumps(v)) == plain == v
    c_ = v[fx["C"]]
    assert c_["resolution_rate"] is None and c_["disputes_total"] == 0
    assert isinstance(c_["disputes_total"], int) and isinstance(v[fx["A"]]["resolution_rate"], float)
    df = v.frame()
    for vid, m in plain.items():
        for k, x in m.items():
            y = df.loc[vid, k]
            assert (x is None and math.isnan(y)) or x == y, (vid, k)
