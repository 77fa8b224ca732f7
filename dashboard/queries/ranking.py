"""村级治理综合指数 and 红黑榜: a composite village governance index from the metric registry.

Weights live in a TOML file (setting DASHBOARD_WEIGHTS, default dashboard/index_weights.toml).
Each weighted metric is scored 0–100 across the villages being ranked (min–max, 极差标准化) in
the metric's direction; a village's index is the weighted mean of its scores over the metrics
defined for it. When every village has the same value of a metric, each scores 100 on it.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

from dashboard import metrics, settings
from dashboard.periods import Period
from dashboard.queries import summary


def load_weights(path: str | Path | None = None) -> dict:
    """{"weights": {metric: weight}, "red_black_size": n}; checked against the registry."""
    path = Path(path or settings.get("DASHBOARD_WEIGHTS"))
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    weights = {str(k): float(v) for k, v in (raw.get("weights") or {}).items()}
    unknown = [k for k in weights if k not in metrics.METRICS]
    if unknown:
        raise ValueError(f"{path}: unknown metrics in [weights]: {', '.join(unknown)}")
    if any(w < 0 for w in weights.values()) or not sum(weights.values()) > 0:
        raise ValueError(f"{path}: weights must be non-negative and not all zero")
    neutral = [k for k in weights if metrics.METRICS[k].direction == "neutral"]
    if neutral:
        raise ValueError(f"{path}: metrics without a better direction cannot be weighted: "
                         f"{', '.join(neutral)}")
    return {"weights": weights, "red_black_size": int(raw.get("red_black_size", 5))}


def weights_table(weights: dict, lang: str = "zh") -> pd.DataFrame:
    """The weights as shown on the page: metric, direction, weight share (fractions adding to 1)."""
    w = weights["weights"]
    total = sum(w.values())
    return pd.DataFrame([dict(key=k, metric=metrics.METRICS[k].name(lang),
                              direction=metrics.METRICS[k].direction, weight=v / total)
                         for k, v in w.items()], columns=["key", "metric", "direction", "weight"])


def scores(values: dict[int, dict], weights: dict[str, float]) -> dict[int, dict]:
    """Per village: {"scores": {metric: 0–100 or None}, "index": 0–100 or None} (pure function)."""
    sub: dict[int, dict] = {vid: {} for vid in values}
    for key in weights:
        direction = metrics.METRICS[key].direction
        vals = {vid: v.get(key) for vid, v in values.items() if v.get(key) is not None}
        lo, hi = (min(vals.values()), max(vals.values())) if vals else (None, None)
        for vid in values:
            x = vals.get(vid)
            if x is None:
                sub[vid][key] = None
            elif hi == lo:
                sub[vid][key] = 100.0
            else:
                s = (x - lo) / (hi - lo) * 100
                sub[vid][key] = 100 - s if direction == "lower" else s
    out = {}
    for vid, s in sub.items():
        wsum = sum(weights[k] for k, v in s.items() if v is not None)
        idx = sum(weights[k] * v for k, v in s.items() if v is not None) / wsum if wsum else None
        out[vid] = {"scores": s, "index": idx}
    return out


def index(conn, period: Period, village_ids=None, weights: dict | None = None) -> pd.DataFrame:
    """The ranking: rank, village_id, village, index, then each weighted metric's value and score.

    Sorted by index (best first; villages without any defined metric last); ties share a rank.
    """
    weights = weights or load_weights()
    w = weights["weights"]
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    sc = scores(r["villages"], w)
    rows = []
    for vid, m in r["villages"].items():
        row = {"village_id": vid, "village": names[vid], "index": sc[vid]["index"]}
        for k in w:
            row[k] = m[k]
            row[f"score_{k}"] = sc[vid]["scores"][k]
        rows.append(row)
    cols = ["village_id", "village", "index", *[c for k in w for c in (k, f"score_{k}")]]
    df = pd.DataFrame(rows, columns=cols)
    df = df.sort_values(["index", "village"], ascending=[False, True], na_position="last",
                        kind="stable").reset_index(drop=True)
    # astype: with no village scored the column is all None (object) and cannot round
    df.insert(0, "rank", df["index"].astype("float64").round(6).rank(method="min", ascending=False).astype("Int64"))
    return df


def red_black(df: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(红榜 the n best, 黑榜 the n worst, worst first) from index(); never the same village twice."""
    ranked = df[df["index"].notna()]
    n = max(0, min(n, len(ranked) // 2))
    return ranked.head(n).reset_index(drop=True), ranked.tail(n).iloc[::-1].reset_index(drop=True)


def rank_of(df: pd.DataFrame, village_id: int) -> tuple[int | None, int]:
    """(rank, number of ranked villages) of one village in index()."""
    row = df[df["village_id"] == village_id]
    n = int(df["index"].notna().sum())
    if row.empty or pd.isna(row["index"].iloc[0]):
        return None, n
    return int(row["rank"].iloc[0]), n


def spec(weights: dict) -> list[tuple]:
    """Columns of the ranking table (fmt.frame): rank, village, index, each weighted metric."""
    return [("rank", "col.rank", "count"), ("village", "col.village", "text"),
            ("index", "col.index", "score"), *[(k, k, None) for k in weights["weights"]]]


WEIGHT_SPEC = [("metric", "col.metric", "text"), ("direction", "col.direction", "direction"),
               ("weight", "col.weight", "rate")]
