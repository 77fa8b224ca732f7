"""村庄画像 Village profile: one village across every topic, its grids, trend, rank and comparison.

The comparison with the township uses the township's own figure for rates and ratios (ratio of
sums over all villages) and the average per village for counts.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from dashboard import fmt, metrics
from dashboard.db import schema as S
from dashboard.periods import Period, month
from dashboard.queries import disputes, ranking, summary, visits, volunteers

# What the profile shows, topic by topic.
PROFILE = {
    "disputes": ("disputes_total", "disputes_resolved", "disputes_resolved_in_period", "resolution_rate",
                 "median_days_to_resolve", "resolved_within_grid_rate", "resolved_within_village_rate",
                 "backlog_open", "backlog_overdue", "disputes_per_100_households"),
    "volunteers": ("volunteer_activities", "volunteer_participants", "volunteer_hours",
                   "volunteer_points", "volunteer_hours_per_100_residents"),
    "visits": ("rep_visits", "voters_contacted", "suggestions_collected", "issues_resolved",
               "issues_referred", "suggestion_resolution_rate"),
    "grid": ("households", "population", "grids", "grid_workers", "households_per_grid_worker"),
}
COUNT_KINDS = ("count", "hours")
FACTS = ("households", "population", "grids", "grid_workers")
# The profile's metrics that change from period to period (for the 环比/同比 details).
CHANGE_KEYS = tuple(k for keys in PROFILE.values() for k in keys if k not in FACTS)


def resolve_id(conn, value) -> int | None:
    """A village id from a query parameter (?village=<id>); None when it is not a village."""
    try:
        vid = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    found = conn.execute(sa.select(S.village.c.id).where(S.village.c.id == vid)).scalar_one_or_none()
    return found


def rank_among(values: dict[int, dict], key: str, village_id: int) -> tuple[int | None, int, bool]:
    """(rank, villages ranked, small) of a village by one metric in its better direction, by the
    registry's rule (``ranking.ranks``: a rate over fewer than SMALL_N cases is marked and ranks
    after the others); ties share. Neutral figures are not ranked."""
    m = metrics.METRICS[key]
    ranked = sum(1 for v in values.values() if v.get(key) is not None)
    if village_id not in values or m.direction == "neutral":
        return None, ranked, False
    rank, small = ranking.ranks(values, key)[village_id]
    return rank, ranked, small


def profile(conn, village_id: int, period: Period, lang: str = "zh") -> dict:
    """Everything the village page shows, as plain values and small frames.

    Keys: village (facts), table (DataFrame: topic, key, value, township, avg_per_village, rank,
    ranked, mom, yoy), index (rank, n, value), grids (DataFrame), trend (DataFrame, 12 months).
    """
    v = next(x for x in summary.villages(conn) if x["id"] == village_id)
    r = metrics.compute(conn, period)
    prev = metrics.compute(conn, period.previous(), [village_id])["villages"][village_id]
    ago = metrics.compute(conn, period.year_ago(), [village_id])["villages"][village_id]
    mine, town = r["villages"][village_id], r["township"]
    n = len(r["villages"])
    rows = []
    for topic, keys in PROFILE.items():
        for k in keys:
            kind = metrics.METRICS[k].kind
            rank, ranked, small = rank_among(r["villages"], k, village_id)
            avg = (town[k] / n if n and town[k] is not None else None) if kind in COUNT_KINDS else None
            rows.append(dict(topic=topic, key=k, value=mine[k],
                             township=town[k] if kind not in COUNT_KINDS else None,
                             avg_per_village=avg, rank=rank, ranked=ranked, small=small,
                             mom=None if k in FACTS else metrics.change(k, mine[k], prev[k]),
                             yoy=None if k in FACTS else metrics.change(k, mine[k], ago[k])))
    table = pd.DataFrame(rows, columns=["topic", "key", "value", "township", "avg_per_village",
                                        "rank", "ranked", "small", "mom", "yoy"])
    idx = ranking.index(conn, period)
    rank, ranked = ranking.rank_of(idx, village_id)
    row = idx[idx["village_id"] == village_id]
    kpis = {"township": mine, "previous": prev, "year_ago": ago,
            "mom": {k: metrics.change(k, mine[k], prev[k]) for k in metrics.METRICS},
            "yoy": {k: metrics.change(k, mine[k], ago[k]) for k in metrics.METRICS}}
    return {"village": v, "values": mine, "township": town, "table": table, "kpis": kpis,
            "index": {"rank": rank, "ranked": ranked,
                      "value": None if row.empty or pd.isna(row["index"].iloc[0]) else float(row["index"].iloc[0]),
                      "scores": {k: _plain(row[f"score_{k}"].iloc[0])
                                 for k in ranking.load_weights()["weights"]} if not row.empty else {}},
            "grids": grids(conn, village_id, period), "trend": trend(conn, village_id, period),
            "supervision": disputes.supervision(conn, period, [village_id])}


def grids(conn, village_id: int, period: Period) -> pd.DataFrame:
    """The village's grids with their registry figures for the period."""
    G = S.grid
    info = conn.execute(sa.select(G.c.id, G.c.code, G.c.name, G.c.leader)
                        .where(G.c.village_id == village_id).order_by(G.c.code)).mappings().all()
    g = metrics.compute_grids(conn, period, [village_id])
    keys = GRID_KEYS
    rows = [{"grid_id": i["id"], "code": i["code"], "grid": i["name"],
             **{k: g.get(i["id"], {}).get(k) for k in keys}} for i in info]
    return pd.DataFrame(rows, columns=["grid_id", "code", "grid", *keys])


def trend_period(period: Period, months: int = 12) -> Period:
    """The 12 months ending with the period's last month (or the period itself if longer)."""
    end = month(period.end.year, period.end.month)
    start = end
    for _ in range(months - 1):
        start = start.previous()
    return Period(min(start.start, period.start), end.end, "custom")


def trend(conn, village_id: int, period: Period) -> pd.DataFrame:
    """Monthly figures of the village over trend_period(): disputes, volunteer hours, visits."""
    p = trend_period(period)
    d = disputes.monthly(conn, p, [village_id])
    v = volunteers.monthly(conn, p, [village_id])
    r = visits.monthly(conn, p, [village_id])
    return pd.DataFrame({"month": d["month"], "received": d["received"], "resolved": d["resolved"],
                         "rate": d["rate"], "hours": v["hours"], "activities": v["activities"],
                         "visits": r["visits"], "suggestions": r["suggestions"]})


def _plain(v):
    return None if fmt.is_none(v) else float(v)


KPIS = ("disputes_total", "resolution_rate", "median_days_to_resolve", "backlog_overdue",
        "volunteer_hours_per_100_residents", "suggestion_resolution_rate")
GRID_KEYS = ("households", "grid_workers", "households_per_grid_worker", "disputes_total",
             "disputes_resolved", "resolution_rate", "disputes_resolved_in_period", "backlog_open",
             "backlog_overdue", "disputes_per_100_households", "volunteer_activities", "volunteer_hours")
GRID_SPEC = [("code", "col.grid_code", "text"), ("grid", "col.grid", "text"),
             *[(k, k, None) for k in GRID_KEYS]]
TREND_SPEC = [("month", "col.month", "text"), ("received", "disputes_total", None),
              ("resolved", "disputes_resolved_in_period", None), ("rate", "charts.month_rate", "rate"),
              ("activities", "volunteer_activities", None), ("hours", "volunteer_hours", None),
              ("visits", "rep_visits", None), ("suggestions", "suggestions_collected", None)]


def table_for_display(table: pd.DataFrame, lang: str = "zh", export: bool = False) -> pd.DataFrame:
    """The comparison table for people: topic, metric, this village, township, rank, 环比, 同比.

    Township column: the township's figure for rates and ratios, the average per village for
    counts (marked). Export keeps numbers (rates in percent with one decimal).
    """
    from dashboard.i18n import t
    from dashboard.queries.overview import format_change
    rows = []
    for r in table.itertuples(index=False):
        m = metrics.METRICS[r.key]
        town = r.township if m.kind not in COUNT_KINDS else r.avg_per_village
        if export:
            kind = "rate" if m.kind == "rate" else "ratio"
            val, tv = fmt.cell(r.value, kind), fmt.cell(town, kind)
            mom, yoy = fmt.cell(r.mom, "rate"), fmt.cell(r.yoy, "rate")
        else:
            val, tv = fmt.value(r.value, m.kind), fmt.value(town, m.kind)
            mom = format_change(r.key, None if fmt.is_none(r.mom) else r.mom, lang)
            yoy = format_change(r.key, None if fmt.is_none(r.yoy) else r.yoy, lang)
        unit = "%" if m.kind == "rate" else m.unit(lang)
        rank = "" if fmt.is_none(r.rank) else t("village.rank_of", lang, rank=int(r.rank), n=int(r.ranked))
        if rank and r.small:   # the small-number rule: marked, ranked after the others
            rank += t("village.rank_small", lang, n=metrics.SMALL_N)
        rows.append({t("col.topic", lang): t(f"village.topic_{r.topic}", lang),
                     t("col.metric", lang): f"{m.name(lang)}（{unit}）" if lang == "zh" else f"{m.name(lang)} ({unit})",
                     t("village.col_value", lang): val,
                     t("village.col_township", lang): tv,
                     t("col.rank", lang): rank,
                     t("overview.mom", lang) + ("（%）" if export else ""): mom,
                     t("overview.yoy", lang) + ("（%）" if export else ""): yoy})
    out = pd.DataFrame(rows)
    out.index = range(1, len(out) + 1)
    return out
