"""本期办结 / 在办积案 / 超期未化解 (issue 12) on a hand-built township, exact values.

test_metrics' township (Q1 2025) plus village D, whose cases sit on the edges of Q1:
  d1  reported 2024-06-01, still open           -> backlog, overdue (303 days at 03-31)
  d2  reported 2024-12-01, resolved 2025-01-01  -> resolved in the period (on its first day)
  d3  reported 2024-11-01, resolved 2025-03-31  -> resolved in the period (on its last day)
  d4  reported 2024-10-01, resolved 2025-04-01  -> open at the end (resolved the day after): overdue
  d5  reported 2024-12-31, resolved 2024-12-31  -> nothing (resolved the day before the period)
  d6  reported 2025-03-31, still open           -> backlog, 0 days: not overdue
Expected at Q1 (by hand): A 5/4/2 (test_metrics), B 3/1/0, C 0/0/0, D 2/3/2; township 10/8/4.
"""
from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from dashboard import aggregates, metrics, periods
from dashboard.__main__ import main
from dashboard.db import schema as S
from dashboard.db.engine import write_txn
from dashboard.queries import disputes
from test_metrics import Q1, seed

D = date
KEYS = ("disputes_resolved_in_period", "backlog_open", "backlog_overdue")


def _seed(engine) -> dict:
    ids = seed(engine)
    with engine.begin() as c:
        tid = c.execute(sa.select(S.township.c.id)).scalar_one()
        ids["D"] = c.execute(sa.insert(S.village).values(
            township_id=tid, name="D村", kind="village", households=50, population=150)
            .returning(S.village.c.id)).scalar_one()
        ids["D1"] = c.execute(sa.insert(S.grid).values(
            village_id=ids["D"], code="D1", name="第1网格", workers=1, households=50)
            .returning(S.grid.c.id)).scalar_one()
        for no, rep, res, level in (("d1", D(2024, 6, 1), None, "village"),
                                    ("d2", D(2024, 12, 1), D(2025, 1, 1), "grid"),
                                    ("d3", D(2024, 11, 1), D(2025, 3, 31), "township"),
                                    ("d4", D(2024, 10, 1), D(2025, 4, 1), "village"),
                                    ("d5", D(2024, 12, 31), D(2024, 12, 31), "grid"),
                                    ("d6", D(2025, 3, 31), None, None)):
            c.execute(sa.insert(S.dispute).values(
                case_no=no, village_id=ids["D"], grid_id=ids["D1"], category="宅基地", reported_on=rep,
                status="resolved" if res else ("in_progress" if level else "received"),
                resolved_on=res, level=level, mediator="调解员乙"))
    return ids


EXPECTED = {"A": (5, 4, 2), "B": (3, 1, 0), "C": (0, 0, 0), "D": (2, 3, 2)}
TOWN = (10, 8, 4)


@pytest.fixture
def bx(engine):
    ids = _seed(engine)
    return engine, ids


def _figures(engine, period, ids=None):
    with engine.connect() as conn:
        r = metrics.compute(conn, period, ids)
        return ({k: tuple(v[x] for x in KEYS) for k, v in r["villages"].items()},
                tuple(r["township"][x] for x in KEYS))


@pytest.mark.parametrize("fresh", [False, True])
def test_new_figures_exact(bx, fresh):
    engine, ids = bx
    if fresh:  # the same figures through the stock layer as from the raw rows
        with write_txn(engine) as conn:
            aggregates.refresh(conn)
    with engine.connect() as conn:
        assert aggregates.is_fresh(conn) is fresh
    villages, town = _figures(engine, Q1)
    assert villages == {ids[k]: v for k, v in EXPECTED.items()}
    assert town == TOWN
    # a subset: the township is theirs
    _, sub = _figures(engine, Q1, [ids["B"], ids["D"]])
    assert sub == (5, 4, 2)


@pytest.mark.parametrize("fresh", [False, True])
def test_months_and_custom_periods(bx, fresh):
    engine, ids = bx
    if fresh:
        with write_txn(engine) as conn:
            aggregates.refresh(conn)
    # March 2025: resolved a2 (03-31), b3 (03-30), d3 (03-31); open at 03-31 as in Q1
    _, town = _figures(engine, periods.month(2025, 3))
    assert town == (3, 8, 4)
    # April 2025: resolved a4 (04-02), d4 (04-01), a5? no (01-02); open at 04-30: a6 a8 a9 a10 b4 d1 d6
    # overdue at 04-30 (reported before 03-31): a8 a9 a10 b4 d1
    _, town = _figures(engine, periods.month(2025, 4))
    assert town == (2, 7, 5)
    # a custom range crossing a year, not month-aligned: 2024-12-31 .. 2025-01-01
    # resolved: a1 (01-01), d2 (01-01), d5 (12-31); open at 01-01: a5, d1, d3, d4 (reported
    # by then); overdue (reported before 2024-12-02): d1, d3, d4
    _, town = _figures(engine, periods.Period(D(2024, 12, 31), D(2025, 1, 1)))
    assert town == (3, 4, 3)
    # long before any case: nothing; long after: everything still open is overdue
    assert _figures(engine, periods.year(2020))[1] == (0, 0, 0)
    assert _figures(engine, periods.year(2030))[1] == (0, 6, 6)   # a6 a8 a9 b4 d1 d6


def test_supervision_list(bx):
    engine, ids = bx
    with engine.connect() as conn:
        df = disputes.supervision(conn, Q1)
    assert list(df["case_no"]) == ["d1", "d4", "a10", "a8"]          # oldest first
    assert list(df["days_open"]) == [303, 181, 70, 31]
    assert list(df["village"]) == ["D村", "D村", "A村", "A村"]
    assert [x if isinstance(x, str) else None for x in df["level"]] == ["village", None, None, None]  # d4: later
    assert list(df["reported_on"]) == [D(2024, 6, 1), D(2024, 10, 1), D(2025, 1, 20), D(2025, 2, 28)]
    assert "parties" not in df.columns and "mediator" not in df.columns
    with engine.connect() as conn:
        assert len(df) == metrics.compute(conn, Q1)["township"]["backlog_overdue"]
        assert list(disputes.supervision(conn, Q1, [ids["A"]])["case_no"]) == ["a10", "a8"]


def test_metrics_json_has_the_new_figures(bx, db_url, capsys):
    assert main(["metrics", "--db", db_url, "--from", "2025-01-01", "--to", "2025-03-31", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert tuple(doc["township"][k] for k in KEYS) == TOWN
    names = {"A": "A村", "B": "B社区", "C": "C村", "D": "D村"}
    for k, v in EXPECTED.items():
        assert tuple(doc["villages"][names[k]][x] for x in KEYS) == v, k


@pytest.mark.parametrize("period", [Q1, periods.year(2025), periods.Period(D(2024, 12, 15), D(2025, 2, 10))])
def test_deck_monthly_chart_is_the_pages(bx, period):
    """The disputes page and the deck draw the same monthly frame: same series, same names."""
    from dashboard import charts
    from dashboard.report.build import build_deck
    engine, _ = bx
    with engine.connect() as conn:
        page = charts.disputes_monthly(disputes.monthly(conn, period), "zh").to_dict()["data"]
        deck = build_deck(conn, period, with_map=False)
        reg = metrics.compute(conn, period)["township"]
    chart = next(c for s in deck.slides if s.kind == "disputes" for c in s.charts if c.kind == "column")
    assert [s.name for s in chart.series] == [page[0]["name"], page[1]["name"]] == ["受理纠纷", "本期办结"]
    assert [s.metric for s in chart.series] == ["disputes_total", "disputes_resolved_in_period"]
    assert chart.series[0].values == list(page[0]["y"]) and chart.series[1].values == list(page[1]["y"])
    assert sum(chart.series[1].values) == reg["disputes_resolved_in_period"]
    assert sum(chart.series[0].values) == reg["disputes_total"]


def test_deck_supervision_slide(bx):
    from dashboard.report.build import build_deck
    engine, _ = bx
    with engine.connect() as conn:
        deck = build_deck(conn, Q1, with_map=False)
    s = deck.slide("supervision")
    assert [r[0] for r in s.table.rows] == ["d1", "d4", "a10", "a8"]
    assert [r[-1] for r in s.table.rows] == ["303", "181", "70", "31"]
    assert [r[4] for r in s.table.rows] == ["村级", "—", "—", "—"]
    assert "共 4 件" in s.lines[0] and "2025-03-31" in s.lines[0]
    assert "期末在办积案 8 件，其中超期（30天以上）未化解 4 件" in deck.slide("disputes").lines[0]
    assert "本期办结 10 件" in deck.slide("disputes").lines[0]
