"""`python -m dashboard metrics --json` against figures computed independently, in pandas, from
the raw ledgers of the demo township (read whole here on purpose: this is the cross-check)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard.__main__ import main
from dashboard.db.engine import get_engine

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


def _ratio(n, d, scale=1.0):
    return None if not d else n / d * scale


def _r(v, nd):
    return None if v is None else round(v, nd)


def independent(url: str, start: date, end: date, names: list[str] | None = None) -> dict:
    eng = get_engine(url)
    with eng.connect() as c:
        vil = pd.read_sql(sa.text("SELECT id, name, households, population FROM village"), c)
        grid = pd.read_sql(sa.text("SELECT village_id, workers FROM grid"), c)
        dis = pd.read_sql(sa.text("SELECT village_id, reported_on, resolved_on, level FROM dispute"), c)
        act = pd.read_sql(sa.text("SELECT village_id, held_on, participants, hours, points "
                                  "FROM volunteer_activity"), c)
        vis = pd.read_sql(sa.text("SELECT village_id, visited_on, voters, suggestions, resolved, referred "
                                  "FROM rep_visit"), c)
        sug = pd.read_sql(sa.text("SELECT village_id, collected_on, handling, referred_on, replied_on, "
                                  "satisfaction FROM suggestion"), c)
    if names:
        vil = vil[vil["name"].isin(names)]
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    for df, cols in ((dis, ["reported_on", "resolved_on"]), (act, ["held_on"]), (vis, ["visited_on"]),
                     (sug, ["collected_on", "referred_on", "replied_on"])):
        for col in cols:
            df[col] = pd.to_datetime(df[col])
    every = dis.copy()   # the stock figures count cases whatever their reported date
    dis = dis[dis["reported_on"].between(s, e)].copy()
    dis["ok"] = dis["resolved_on"].notna() & (dis["resolved_on"] <= e)
    dis["days"] = (dis["resolved_on"] - dis["reported_on"]).dt.days
    act = act[act["held_on"].between(s, e)]
    vis = vis[vis["visited_on"].between(s, e)]

    def figures(ids) -> dict:
        d = dis[dis["village_id"].isin(ids)]
        x = every[every["village_id"].isin(ids)]
        still = (x["reported_on"] <= e) & (x["resolved_on"].isna() | (x["resolved_on"] > e))
        ok = d[d["ok"]]
        a = act[act["village_id"].isin(ids)]
        v = vis[vis["village_id"].isin(ids)]
        g = grid[grid["village_id"].isin(ids)]
        hh = int(vil[vil["id"].isin(ids)]["households"].sum())
        pop = int(vil[vil["id"].isin(ids)]["population"].sum())
        total, res = len(d), len(ok)
        at_grid = int((ok["level"] == "grid").sum())
        in_village = int(ok["level"].isin(["grid", "village"]).sum())
        overdue = int(((~d["ok"]) & ((e - d["reported_on"]).dt.days > 30)).sum())
        hours = float((a["participants"] * a["hours"]).sum())
        part = int(a["participants"].sum())
        voters, sugg = int(v["voters"].sum()), int(v["suggestions"].sum())
        solved, referred = int(v["resolved"].sum()), int(v["referred"].sum())
        workers = int(g["workers"].sum())
        sg = sug[sug["village_id"].isin(ids)]
        within = sg[sg["referred_on"].between(s, e)]
        logged = sg["collected_on"].between(s, e)
        answered = within[within["replied_on"].notna() & (within["replied_on"] <= e)]
        pleased = int(answered["satisfaction"].isin(["satisfied", "basic"]).sum())
        open_at_end = (sg["referred_on"] <= e) & (sg["replied_on"].isna() | (sg["replied_on"] > e))
        reply_days = (answered["replied_on"] - answered["referred_on"]).dt.days
        out = dict(
            disputes_total=total, disputes_resolved=res,
            resolution_rate=_r(_ratio(res, total), 4),
            median_days_to_resolve=_r(float(ok["days"].median()) if res else None, 2),
            resolved_within_grid_rate=_r(_ratio(at_grid, res), 4),
            resolved_within_village_rate=_r(_ratio(in_village, res), 4),
            resolved_at_grid=at_grid, resolved_in_village=in_village, overdue_open=overdue,
            disputes_per_100_households=_r(_ratio(total, hh, 100), 2),
            volunteer_activities=len(a), volunteer_participants=part, volunteer_hours=round(hours, 2),
            volunteer_points=int(a["points"].sum()),
            volunteer_hours_per_100_residents=_r(_ratio(hours, pop, 100), 2),
            rep_visits=len(v), voters_contacted=voters, suggestions_collected=sugg,
            issues_resolved=solved, issues_referred=referred,
            suggestion_resolution_rate=_r(_ratio(solved, sugg), 4),
            households_per_grid_worker=_r(_ratio(hh, workers), 2),
            households=hh, population=pop, grid_workers=workers, grids=len(g),
            disputes_open=total - res, overdue_rate=_r(_ratio(overdue, total), 4),
            volunteer_participants_per_100_residents=_r(_ratio(part, pop, 100), 2),
            voters_per_visit=_r(_ratio(voters, len(v)), 2),
            suggestion_referral_rate=_r(_ratio(referred, sugg), 4),
            disputes_resolved_in_period=int(x["resolved_on"].between(s, e).sum()),
            backlog_open=int(still.sum()),
            backlog_overdue=int((still & ((e - x["reported_on"]).dt.days > 30)).sum()),
            suggestions_logged=int(logged.sum()),
            suggestions_on_the_spot=int((logged & (sg["handling"] == "on_the_spot")).sum()),
            suggestions_referred=len(within), referrals_replied=len(answered),
            referral_reply_rate=_r(_ratio(len(answered), len(within)), 4),
            median_days_to_reply=_r(float(reply_days.median()) if len(answered) else None, 2),
            replies_overdue=int((open_at_end & ((e - sg["referred_on"]).dt.days > 30)).sum()),
            referrals_satisfied=pleased, satisfied_rate=_r(_ratio(pleased, len(answered)), 4),
        )
        return out

    return {"period": [start.isoformat(), end.isoformat()],
            "township": figures(list(vil["id"])),
            "villages": {row.name: figures([row.id]) for row in vil.itertuples()}}


def _run(capsys, *argv) -> dict:
    assert main(["metrics", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("start, end", [(date(2025, 1, 1), date(2025, 12, 31)),
                                        (date(2024, 11, 15), date(2025, 2, 10)),
                                        (date(2025, 10, 1), date(2025, 10, 31))])
def test_json_agrees_with_pandas_over_the_ledgers(demo_url, capsys, start, end):
    doc = _run(capsys, "--db", demo_url, "--from", start.isoformat(), "--to", end.isoformat(), "--json")
    expected = independent(demo_url, start, end)
    assert doc["period"] == expected["period"]
    assert set(doc["villages"]) == set(expected["villages"]) and len(doc["villages"]) == 27
    assert doc["township"] == expected["township"]
    for name, figures in expected["villages"].items():
        assert doc["villages"][name] == figures, name
    assert doc["township"]["disputes_total"] > 0


def test_village_option_restricts_township_and_villages(demo_url, capsys):
    names = ["红旗村", "马鞍村", "东湖社区"]
    doc = _run(capsys, "--db", demo_url, "--from", "2025-04-01", "--to", "2025-09-30",
               "--village", "红旗村", "马鞍村", "--village", "东湖社区", "--json")
    expected = independent(demo_url, date(2025, 4, 1), date(2025, 9, 30), names)
    assert doc == expected
    assert set(doc["villages"]) == set(names)


def test_json_shape_and_nulls(demo_url, capsys):
    doc = _run(capsys, "--db", demo_url, "--from", "2020-01-01", "--to", "2020-01-31", "--json")
    assert list(doc) == ["period", "township", "villages"]
    assert doc["township"]["disputes_total"] == 0
    assert doc["township"]["resolution_rate"] is None
    assert doc["township"]["median_days_to_resolve"] is None


def test_subprocess_readable_table_and_errors(demo_url):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "dashboard", "metrics", "--db", demo_url,
                          "--from", "2025-01-01", "--to", "2025-03-31"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "化解率" in out.stdout and "resolution_rate" in out.stdout and "红旗村" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "dashboard", "metrics", "--db", demo_url,
                          "--from", "2025-01-01", "--to", "2025-03-31", "--village", "不存在村"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert bad.returncode == 2 and "不存在村" in bad.stderr
    rev = subprocess.run([sys.executable, "-m", "dashboard", "metrics", "--db", demo_url,
                          "--from", "2025-03-31", "--to", "2025-01-01"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert rev.returncode == 2
