"""Data-quality flags (dashboard.quality): a fixture built by hand per rule, exact flags expected,
and the demo township stays quiet. SQLite by default, PostgreSQL with TEST_DATABASE_URL."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from dashboard import auth, export, periods, quality, settings
from dashboard.db import schema as S
from dashboard.db.engine import get_engine, write_txn

D = date


class Town:
    """Insert helpers for one hand-built township."""

    def __init__(self, conn):
        self.c = conn
        self.tid = conn.execute(sa.select(S.township.c.id)).scalar() or conn.execute(
            sa.insert(S.township).values(code="000000000000", name="测试镇").returning(S.township.c.id)).scalar_one()
        self.n = 0

    def village(self, name: str) -> int:
        return self.c.execute(sa.insert(S.village).values(township_id=self.tid, name=name, households=500,
                                                          population=1500).returning(S.village.c.id)).scalar_one()

    def grid(self, vid: int, code: str) -> int:
        return self.c.execute(sa.insert(S.grid).values(village_id=vid, code=code, name=f"第{code[-1]}网格")
                              .returning(S.grid.c.id)).scalar_one()

    def disputes(self, vid: int, rows, grid=None, prefix="C"):
        """rows: (reported_on, resolved_on or None[, status]); returns the case numbers."""
        out, batch = [], []
        for r in rows:
            self.n += 1
            no = f"{prefix}{self.n:04d}"
            rep, res = r[0], r[1]
            status = r[2] if len(r) > 2 else ("resolved" if res else "received")
            batch.append(dict(case_no=no, village_id=vid, grid_id=grid, category="邻里纠纷", reported_on=rep,
                              resolved_on=res, level="village" if status == "resolved" else None,
                              status=status, mediator="调解员张三"))
            out.append(no)
        if batch:
            self.c.execute(sa.insert(S.dispute), batch)
        return out

    def activities(self, vid: int, days, hours=2.0):
        batch = []
        for d in days:
            self.n += 1
            batch.append(dict(activity_no=f"A{self.n:04d}", village_id=vid, held_on=d, team="党员先锋队",
                              category="环保清洁", participants=10, hours=hours, points=20))
        self.c.execute(sa.insert(S.volunteer_activity), batch)


def months(y0, m0, n):
    y, m = y0, m0
    for _ in range(n):
        yield y, m
        m += 1
        if m > 12:
            y, m = y + 1, 1


def keyed(fl):
    return [(f.rule, f.village, f.kind, f.start, f.end, f.values, f.n_rows) for f in fl]


# ---------------------------------------------------------------- (a) spike

def test_robust_z_by_hand():
    hist = [1, 2, 3, 2] * 3            # median 2, MAD 0.5
    assert quality.robust_z(20, hist) == pytest.approx(0.6745 * 18 / 0.5)
    zeros = [0] * 11 + [6]             # MAD 0: mean absolute deviation 0.5
    assert quality.robust_z(12, zeros) == pytest.approx(12 / (1.253314 * 0.5))
    assert quality.robust_z(5, [3] * 12) == float("inf")
    assert quality.robust_z(3, [3] * 12) == 0.0


@pytest.fixture
def spike_fx(engine):
    with write_txn(engine) as c:
        tw = Town(c)
        a, b, cc, d = (tw.village(n) for n in ("甲村", "乙村", "丙村", "丁村"))
        pattern = [1, 2, 3, 2] * 3
        for (y, m), k in zip(months(2024, 1, 12), pattern):
            tw.disputes(a, [(D(y, m, 10), None)] * k)
            tw.disputes(b, [(D(y, m, 10), None)] * k)
            tw.disputes(d, [(D(y, m, 10), None)] * (k + 13))       # 14, 15, 16, 15, … median 15
        for (y, m) in months(2024, 2, 11):                          # only 11 months before 2025-01
            tw.disputes(cc, [(D(y, m, 3), None)])
        tw.disputes(a, [(D(2025, 1, 5), None)] * 20)               # +18 from the median: flagged
        tw.disputes(b, [(D(2025, 1, 5), None)] * 11)               # +9: below QUALITY_MIN_JUMP
        tw.disputes(cc, [(D(2025, 1, 5), None)] * 30)              # history too short
        # 丁村 has nothing in 2025-01: a drop of 15
    return engine, a, d


def test_spike_flags_exactly_the_jumps(spike_fx):
    engine, a, d = spike_fx
    with engine.connect() as c:
        fl = quality.spike(c, periods.month(2025, 1))
    assert keyed(fl) == [
        ("spike", "甲村", "disputes", D(2025, 1, 1), D(2025, 1, 31),
         {"count": 20, "median": 2.0, "z": 24.3, "history": 12}, 20),
        ("spike", "丁村", "disputes", D(2025, 1, 1), D(2025, 1, 31),
         {"count": 0, "median": 15.0, "z": -20.2, "history": 12}, 0),
    ]
    assert [r["date"] for r in fl[0].rows] == [D(2025, 1, 5)] * 20
    assert all(set(r) == {"id", "no", "date", "resolved_on"} for r in fl[0].rows)
    with engine.connect() as c:
        assert quality.spike(c, periods.month(2024, 12)) == []   # 甲村's history is 11 months then
        assert keyed(quality.spike(c, periods.quarter(2025, 1)))[0][1] == "甲村"
        # scope: only the villages asked for
        assert [f.village for f in quality.spike(c, periods.month(2025, 1), [d])] == ["丁村"]


# ---------------------------------------------------------------- (b) same day

def test_same_day_by_hand(engine):
    with write_txn(engine) as c:
        tw = Town(c)
        a, b, cc, d = (tw.village(n) for n in ("甲村", "乙村", "丙村", "丁村"))
        same = D(2025, 3, 20)
        nos = tw.disputes(a, [(D(2025, 3, k), same) for k in (1, 4, 9, 12, 19)])
        tw.disputes(b, [(D(2025, 3, k), same) for k in (1, 4, 9, 12)])                # four cases
        tw.disputes(cc, [(D(2025, 3, k), same) for k in (1, 4, 9, 12)]
                    + [(D(2025, 3, 19), None, "in_progress")])                      # one still open
        tw.disputes(d, [(D(2025, 3, k), same) for k in (1, 4, 9, 12)] + [(D(2025, 3, 19), D(2025, 3, 21))])
        tw.disputes(a, [(D(2025, 2, 3), D(2025, 2, 5 + k)) for k in range(5)])          # February: fine
    with engine.connect() as c:
        fl = quality.same_day(c, periods.quarter(2025, 1))
        assert quality.same_day(c, periods.month(2025, 2)) == []
    assert keyed(fl) == [("same_day", "甲村", "disputes", D(2025, 3, 1), D(2025, 3, 31),
                          {"count": 5, "day": same}, 5)]
    assert [r["no"] for r in fl[0].rows] == nos
    assert {r["resolved_on"] for r in fl[0].rows} == {same}


# ---------------------------------------------------------------- (c) weekends and holidays

def test_rest_days_use_the_statutory_calendar():
    days = quality.rest_days(D(2025, 9, 27), D(2025, 10, 12))
    assert D(2025, 9, 27) in days                     # a Saturday
    assert D(2025, 9, 28) not in days                 # a Sunday worked (调休) before 国庆
    assert [d for d in days if d.month == 10] == [D(2025, 10, k) for k in (*range(1, 9), 12)]  # 1–8 off
    assert D(2025, 10, 11) not in days                # a Saturday worked after it
    assert quality.rest_days(D(2027, 1, 1), D(2027, 1, 7)) == [D(2027, 1, 2), D(2027, 1, 3)]
    assert quality.weekends_only_years(periods.year(2027)) == [2027]
    assert quality.weekends_only_years(periods.year(2025)) == []


@pytest.fixture
def rest_fx(engine):
    off = [D(2025, 10, k) for k in range(1, 9)] + [D(2025, 10, 12), D(2025, 10, 18), D(2025, 10, 19),
                                                    D(2025, 10, 25), D(2025, 10, 26)]   # 13 days off
    work = [D(2025, 9, 28), D(2025, 10, 11)] + [D(2025, 10, k) for k in (9, 10, 13, 14, 15)]  # 7 worked
    with write_txn(engine) as c:
        tw = Town(c)
        a, b, cc = (tw.village(n) for n in ("甲村", "乙村", "丙村"))
        tw.disputes(a, [(D(2025, 9, 1), d) for d in off + work])                  # 13 / 20 = 65 %
        tw.disputes(b, [(D(2025, 9, 1), d) for d in off[:12] + work + [D(2025, 10, 16)]])  # 12 / 20
        tw.disputes(cc, [(D(2025, 9, 1), d) for d in off + off[:6]])              # 19: too few
    return engine, off


def test_rest_days_flag_by_hand(rest_fx):
    engine, off = rest_fx
    with engine.connect() as c:
        fl = quality.rest_day_resolutions(c, periods.year(2025))
        assert quality.rest_day_resolutions(c, periods.year(2024)) == []
    assert keyed(fl) == [("rest_days", "甲村", "disputes", D(2025, 1, 1), D(2025, 12, 31),
                          {"resolved": 20, "rest": 13, "share": 0.65, "weekends_only": []}, 13)]
    assert [r["resolved_on"] for r in fl[0].rows] == sorted(off)
    assert quality.detail(fl[0]) == "本期化解 20 件，其中 13 件（65.0%）在休息日。"


# ---------------------------------------------------------------- (d) silent

@pytest.fixture
def silent_fx(engine):
    with write_txn(engine) as c:
        tw = Town(c)
        a, b, cc, d = (tw.village(n) for n in ("甲村", "乙村", "丙村", "丁村"))
        for y, m in months(2024, 11, 12):                    # 2024-11 … 2025-10: 36 rows
            for v in (a, cc, d):
                tw.activities(v, [D(y, m, 5), D(y, m, 12), D(y, m, 19)])
            tw.activities(b, [D(y, m, 5), D(y, m, 12), D(y, m, 19)][: 2 if (y, m) == (2025, 1) else 3])
        tw.activities(cc, [D(2025, 12, 2)])                  # 丙村 went on
    return engine, d


def test_silent_by_hand(silent_fx):
    engine, d = silent_fx
    with engine.connect() as c:
        has_zero = sa.inspect(c).has_table("zero_report")
        fl = quality.silent(c, periods.month(2025, 12))
        assert quality.silent(c, periods.month(2025, 10)) == []
    expected = [("silent", v, "volunteers", D(2025, 11, 1), D(2025, 12, 31),
                 {"before": 36, "last": D(2025, 10, 19), "months": 2}, 1) for v in ("甲村", "丁村")]
    if not has_zero:
        assert keyed(fl) == expected
    assert fl[0].rows[0]["date"] == D(2025, 10, 19)
    # a period ending mid-month looks at the two full months before it
    with engine.connect() as c:
        assert [(f.village, f.start) for f in quality.silent(c, periods.Period(D(2025, 12, 1), D(2026, 1, 15)))] \
            == [("甲村", D(2025, 11, 1)), ("丁村", D(2025, 11, 1))]


def test_zero_report_counts_as_not_silent(silent_fx):
    """丁村 filed a zero report (零报告) for 2025-11: not silent, until its batch is undone. The table
    is read by reflection (this test makes one shaped like the zero-report branch's when absent)."""
    from datetime import datetime
    engine, d = silent_fx
    with write_txn(engine) as c:
        if not sa.inspect(c).has_table("zero_report"):
            c.exec_driver_sql("CREATE TABLE zero_report (village_id INTEGER NOT NULL, kind VARCHAR(20) NOT NULL, "
                              "month VARCHAR(7) NOT NULL, batch_id INTEGER)")
        z = sa.Table("zero_report", sa.MetaData(), autoload_with=c)
        bid = c.execute(sa.insert(S.import_batch).values(
            kind="volunteers", file_name="零报告", sha256="0" * 64, username="clerk",
            created_at=datetime(2025, 12, 3)).returning(S.import_batch.c.id)).scalar_one()
        c.execute(sa.insert(z).values(village_id=d, kind="volunteers", month="2025-11", batch_id=bid))
    with engine.connect() as c:
        assert [f.village for f in quality.silent(c, periods.month(2025, 12))] == ["甲村"]
        assert quality.zero_reports(c, "disputes", [periods.month_index("2025-11")]) == set()
    with write_txn(engine) as c:
        c.execute(sa.update(S.import_batch).where(S.import_batch.c.id == bid).values(state="undone"))
    with engine.connect() as c:
        assert [f.village for f in quality.silent(c, periods.month(2025, 12))] == ["甲村", "丁村"]


def test_zero_report_months_in_any_spelling():
    m = periods.month_index("2025-11")
    for v in ("2025-11", "2025-11-01", D(2025, 11, 1), 202511, m):
        assert quality._zero_month(v) == m
    assert quality._zero_month("11月") is None


# ---------------------------------------------------------------- (e) grids

def test_grid_without_disputes_by_hand(engine):
    with write_txn(engine) as c:
        tw = Town(c)
        a, b, cc = (tw.village(n) for n in ("甲村", "乙村", "丙村"))
        g = {k: tw.grid(v, k) for k, v in (("A1", a), ("A2", a), ("A3", a), ("B1", b), ("B2", b), ("B3", b),
                                           ("C1", cc))}
        tw.disputes(a, [(D(2025, 1, 2), None)] * 12, grid=g["A1"])
        tw.disputes(a, [(D(2025, 1, 2), None)] * 12, grid=g["A2"])
        tw.disputes(a, [(D(2025, 1, 2), None)] * 9)                      # no grid: not counted
        tw.disputes(b, [(D(2025, 1, 2), None)] * 11, grid=g["B1"])
        tw.disputes(b, [(D(2025, 1, 2), None)] * 12, grid=g["B2"])       # 23 / 3 < 8
    with engine.connect() as c:
        fl = quality.grid_no_dispute(c, periods.year(2025))
        assert quality.grid_no_dispute(c, periods.year(2024)) == []      # nothing reported by then
    assert [(f.rule, f.village, f.grid, f.grid_id, f.start, f.end, f.values) for f in fl] == [
        ("grid_no_dispute", "甲村", "第3网格", g["A3"], None, D(2025, 12, 31),
         {"village_total": 24, "grids": 3, "average": 8.0, "households": 0})]
    assert fl[0].rows[0]["no"] == "A3"
    assert quality.place_text(fl[0]) == "甲村 · 第3网格"


# ---------------------------------------------------------------- (f) the ledger's own logic

def _without_checks(c):
    """Let rows that today's CHECK constraints refuse in, as a database filled before them holds."""
    if c.dialect.name == "sqlite":
        c.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    else:
        for table, ck in (("rep_visit", "ck_rep_visit_outcomes"), ("dispute", "ck_dispute_dates"),
                          ("rep_visit", "ck_rep_visit_counts")):
            c.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {ck}")


def test_ledger_logic_by_hand(engine):
    future = date.today() + timedelta(days=40)
    with engine.begin() as c:
        _without_checks(c)
        tw = Town(c)
        a, b = tw.village("甲村"), tw.village("乙村")
        tw.disputes(a, [(D(2025, 5, 10), D(2025, 5, 1)), (D(2025, 5, 10), D(2025, 5, 12))])
        tw.disputes(b, [(future, None)])
        c.execute(sa.insert(S.dispute).values(case_no="XY", village_id=b, category="其他",
                                              reported_on=D(2025, 1, 1), status="received", lon=200.0, lat=30.0))
        tw.activities(a, [D(2025, 6, 1)], hours=30.0)
        tw.activities(a, [D(1985, 6, 1)])
        for no, s, r, f, v in (("R1", 3, 2, 2, 5), ("R2", 3, 2, 1, 5), ("R3", 1, 0, 0, -1)):
            c.execute(sa.insert(S.rep_visit).values(record_no=no, village_id=a, rep_name="代表李四",
                                                    rep_type="npc", visited_on=D(2025, 2, 2), form="home",
                                                    voters=v, suggestions=s, resolved=r, referred=f))
    with engine.connect() as c:
        fl = quality.ledger_logic(c)
    got = [(f.village, f.kind, f.values["check"], f.n_rows, [r["no"] for r in f.rows]) for f in fl]
    assert sorted(got) == sorted([
        ("甲村", "disputes", "resolved_before_reported", 1, ["C0001"]),
        ("乙村", "disputes", "future_date", 1, ["C0003"]),
        ("乙村", "disputes", "bad_coord", 1, ["XY"]),
        ("甲村", "volunteers", "hours_per_person", 1, ["A0004"]),
        ("甲村", "volunteers", "old_date", 1, ["A0005"]),
        ("甲村", "visits", "outcomes_exceed", 1, ["R1"]),
        ("甲村", "visits", "negative", 1, ["R3"]),
    ])
    visit = next(f for f in fl if f.values["check"] == "outcomes_exceed")
    assert visit.rows[0] == {"id": visit.rows[0]["id"], "no": "R1", "date": D(2025, 2, 2),
                             "check": "outcomes_exceed", "suggestions": 3, "resolved": 2, "referred": 2}
    assert quality.detail(visit) == "代表走访台账中有 1 条记录：解决 + 转办多于收集的建议。"
    # no names behind a flag: neither the mediator nor the representative
    csv = export.table_to_csv(quality.rows_frame(fl)).decode("utf-8-sig")
    assert "R1" in csv and "调解员张三" not in csv and "代表李四" not in csv


# ---------------------------------------------------------------- all rules, scope, words

def test_flags_in_rule_order_and_counted(rest_fx):
    engine, _ = rest_fx
    with engine.connect() as c:
        fl = quality.flags(c, periods.year(2025))
        assert [f.rule for f in fl] == ["rest_days"]
        assert quality.count(c, periods.year(2025)) == 1
        ids = dict(c.execute(sa.select(S.village.c.name, S.village.c.id)).all())
        assert quality.flags(c, periods.year(2025), [ids["乙村"]]) == []


def test_rule_texts_carry_the_settings():
    assert f"至少 {settings.QUALITY_SAME_DAY_MIN} 件" in quality.rule_text("same_day")
    assert "超过 60.0%" in quality.rule_text("rest_days")
    assert "大于 3.5" in quality.rule_text("spike") and "至少 12 个月" in quality.rule_text("spike")
    for rule in quality.RULES:
        assert "{" not in quality.rule_text(rule) and "{" not in quality.rule_text(rule, "en")


def test_who_sees_which_flags():
    leader = {"username": "l", "role": "leader", "village_ids": None}
    clerk = {"username": "c", "role": "clerk", "village_ids": (3, 5)}
    assert quality.visible_villages(leader) is None
    assert quality.visible_villages(leader, (2,)) == (2,)
    assert quality.visible_villages({**leader, "role": "admin"}) is None
    assert quality.visible_villages(clerk) == (3, 5)
    assert quality.visible_villages(clerk, (2, 3)) == (3,)
    assert quality.visible_villages({**clerk, "disabled": True}) == ()
    assert auth.checks_scope(None) == set()
    assert quality.sees_township_panel(leader) and not quality.sees_township_panel(clerk)


def test_deck_notes_count_the_flags(rest_fx):
    from dashboard import report
    engine, _ = rest_fx
    with engine.connect() as c:
        deck = report.build_deck(c, periods.year(2025), with_map=False)
        none = report.build_deck(c, periods.year(2025), with_map=False, flag_villages=())
    title = deck.slide("title")
    assert title.notes == ["数据质量：本期范围内有 1 条数据质量标记（规则与相关记录见看板总览“数据质量”），"
                           "汇报前请核实；标记不改动任何数字。"]
    assert none.slide("title").notes == ["数据质量：本期范围内未发现数据质量标记。"]
    assert not any("数据质量" in x for x in title.lines)            # on the notes, not on the slide
    from io import BytesIO

    from pptx import Presentation
    prs = Presentation(BytesIO(report.to_pptx(deck)))
    assert "本期范围内有 1 条数据质量标记" in prs.slides[0].notes_slide.notes_text_frame.text


# ---------------------------------------------------------------- the demo township stays quiet

def test_demo_township_is_quiet(demo_url):
    eng = get_engine(demo_url)
    with eng.connect() as c:
        for y in (2024, 2025):
            assert quality.flags(c, periods.year(y)) == [], y
            for q in range(1, 5):
                assert quality.flags(c, periods.quarter(y, q)) == [], (y, q)
            for m in range(1, 13):
                assert quality.flags(c, periods.month(y, m)) == [], (y, m)


def _refreshed(engine):
    from dashboard import aggregates
    with write_txn(engine) as c:
        aggregates.refresh(c)
        assert aggregates.is_fresh(c)


def test_month_layer_gives_the_same_flags(spike_fx):
    """Fresh aggregates are read instead of the raw rows: the same flags either way."""
    engine, a, d = spike_fx
    with write_txn(engine) as c:   # a grid rule and a silence too
        tw = Town(c)
        tw.n = 5000
        v = tw.village("戊村")
        g1, g2, g3 = (tw.grid(v, f"E{k}") for k in (1, 2, 3))
        tw.disputes(v, [(D(2024, 6, 2), None)] * 13, grid=g1)
        tw.disputes(v, [(D(2024, 6, 2), None)] * 12, grid=g2)
        for y, m in months(2024, 1, 12):
            tw.activities(v, [D(y, m, 5), D(y, m, 12), D(y, m, 19)])
    with engine.connect() as c:
        raw = [keyed(quality.flags(c, p)) for p in (periods.month(2025, 1), periods.month(2025, 2),
                                                    periods.year(2025))]
    _refreshed(engine)
    with engine.connect() as c:
        agg = [keyed(quality.flags(c, p)) for p in (periods.month(2025, 1), periods.month(2025, 2),
                                                    periods.year(2025))]
    assert agg == raw
    assert {f[0] for f in raw[0]} == {"spike", "grid_no_dispute"}
    assert {f[0] for f in raw[1]} == {"spike", "silent", "grid_no_dispute"}   # 丁村 stays at 0


# ---------------------------------------------------------------- hostile and random inputs

from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=40), st.integers(0, 200))
def test_vectorised_z_matches_the_written_rule(hist, x):
    """The spike rule's matrix form (every village at once) gives robust_z's value for each."""
    import numpy as np
    got_x, med, z, n = quality.robust_z_columns(np.array([hist], dtype=float), np.array([float(x)]))
    assert n[0] == len(hist) and med[0] == pytest.approx(float(np.median(hist)))
    want = quality.robust_z(x, hist)
    assert (z[0] == want) if want in (float("inf"), float("-inf")) else z[0] == pytest.approx(want)


def test_flag_csv_neutralises_formula_names(engine):
    with write_txn(engine) as c:
        tw = Town(c)
        v = tw.village("=HYPERLINK(\"http://x\")村")
        tw.activities(v, [D(2025, 6, 1)], hours=25.0)
    with engine.connect() as c:
        fl = quality.ledger_logic(c)
    csv = export.table_to_csv(quality.rows_frame(fl)).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and ",=HYPERLINK" not in csv
    assert quality.summary_frame(fl).iloc[0, 1] == "=HYPERLINK(\"http://x\")村"   # shown as typed


def test_command_prints_the_flags_as_json(rest_fx, db_url):
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT
    out = subprocess.run([sys.executable, "-m", "dashboard", "quality", "--from", "2025-01-01", "--to", "2025-12-31",
                          "--db", db_url, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["count"] == 1 and doc["period"] == ["2025-01-01", "2025-12-31"]
    f = doc["flags"][0]
    assert (f["rule"], f["village"], f["kind"], f["period"], f["n_rows"]) == \
        ("rest_days", "甲村", "disputes", ["2025-01-01", "2025-12-31"], 13)
    assert f["values"] == {"resolved": 20, "rest": 13, "share": 0.65, "weekends_only": []}
    assert f["rows"][0]["resolved_on"] == "2025-10-01" and "超过 60.0%" in f["rule_text"]


SAMPLES = [
    quality.Flag("spike", 1, "甲村", "disputes", D(2025, 1, 1), D(2025, 1, 31),
                 {"count": 20, "median": 2.0, "z": None, "history": 12}, ({"id": 1, "no": "C1", "date": D(2025, 1, 5),
                                                                          "resolved_on": None},), n_rows=20),
    quality.Flag("same_day", 1, "甲村", "disputes", D(2025, 3, 1), D(2025, 3, 31), {"count": 5, "day": D(2025, 3, 20)}),
    quality.Flag("rest_days", 1, "甲村", "disputes", D(2027, 1, 1), D(2027, 12, 31),
                 {"resolved": 20, "rest": 13, "share": 0.65, "weekends_only": [2027]}),
    quality.Flag("silent", 1, "甲村", "volunteers", D(2025, 11, 1), D(2025, 12, 31),
                 {"before": 36, "last": D(2025, 10, 19), "months": 2}),
    quality.Flag("grid_no_dispute", 1, "甲村", "disputes", None, D(2025, 12, 31),
                 {"village_total": 24, "grids": 3, "average": 8.0, "households": 0},
                 ({"id": 3, "no": "A3", "date": None},), grid_id=3, grid="第3网格"),
    quality.Flag("ledger_logic", 1, "甲村", "visits", None, None, {"check": "old_date", "count": 1},
                 ({"id": 9, "no": "R1", "date": D(1985, 1, 1), "check": "old_date", "suggestions": 1,
                   "resolved": 0, "referred": 0},), n_rows=1),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_rule_reads_in_both_languages(lang):
    texts = [quality.rule_text(f.rule, lang) for f in SAMPLES] + [quality.detail(f, lang) for f in SAMPLES] \
        + [quality.period_text(f, lang) for f in SAMPLES]
    for frame in [quality.summary_frame(SAMPLES, lang), quality.rows_frame(SAMPLES, lang),
                  *[quality.behind_frame(f, lang) for f in SAMPLES if f.rows]]:
        texts += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    bad = [x for x in texts if "{" in x or "quality." in x or "loader." in x]
    assert bad == []
    assert quality.period_text(SAMPLES[0], lang) == ("2025 年 1 月" if lang == "zh" else "2025-01")
    assert ("2027" in quality.detail(SAMPLES[2], lang)) and ("周" in quality.detail(SAMPLES[2], "zh"))
