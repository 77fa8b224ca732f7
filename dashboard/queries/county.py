"""县级总览 The county view: townships side by side with the registry's figures.

A township's figure is the metric registry's own aggregate over its villages (rates are
ratios of sums, never averages of village rates), with 环比 and 同比 of the ranking metric.
"""
from __future__ import annotations

import pandas as pd

from dashboard import fmt, metrics
from dashboard.periods import Period
from dashboard.queries import summary

KEYS = ("disputes_total", "resolution_rate", "resolved_within_village_rate", "backlog_overdue",
        "volunteer_hours_per_100_residents", "rep_visits", "suggestion_resolution_rate")
RANK_BY = "resolution_rate"


def townships(conn, period: Period, township_ids=None, rank_by: str = RANK_BY) -> pd.DataFrame:
    """One row per township (``township_ids``: only those; None: every one): id, code, name,
    villages, KEYS, ``<rank_by>_mom``/``_yoy`` (changes) and ``rank`` (1 = best by the
    metric's direction; townships without a value come last)."""
    tws = [t for t in summary.townships(conn)
           if township_ids is None or t["id"] in {int(x) for x in township_ids}]
    rows = []
    for tw in tws:
        ids = [v["id"] for v in summary.villages(conn, [tw["id"]])]
        r = metrics.with_changes(conn, period, ids)
        row = {"township_id": tw["id"], "code": tw["code"], "township": tw["name"], "villages": len(ids)}
        row.update({k: r["township"][k] for k in KEYS})
        # changes of a rate in percentage points (of a count: in percent), one decimal
        row[f"{rank_by}_mom"], row[f"{rank_by}_yoy"] = (
            fmt.cell(r[k][rank_by], "rate") for k in ("mom", "yoy"))
        rows.append(row)
    df = pd.DataFrame(rows, columns=["township_id", "code", "township", "villages", *KEYS,
                                     f"{rank_by}_mom", f"{rank_by}_yoy"])
    if df.empty:
        return df.assign(rank=pd.Series(dtype="Int64"))
    higher = metrics.METRICS[rank_by].direction != "lower"
    v = pd.to_numeric(df[rank_by], errors="coerce")
    df = df.assign(_v=v).sort_values(["_v", "code"], ascending=[not higher, True],
                                     na_position="last").drop(columns="_v")
    df.insert(0, "rank", range(1, len(df) + 1))
    return df.reset_index(drop=True)


SPEC = [("rank", "col.rank", "count"), ("township", "county.township", "text"),
        ("villages", "county.villages", "count"), *[(k, k, None) for k in KEYS],
        (f"{RANK_BY}_mom", "county.mom", "ratio"), (f"{RANK_BY}_yoy", "county.yoy", "ratio")]
