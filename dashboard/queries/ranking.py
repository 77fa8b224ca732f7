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

# The small-number rule of the registry (metrics.small, metrics.rank_order): a rate over fewer
# than SMALL_N cases is marked and ranked after the others. The index rests on this rate's cases:
# a village whose resolution rate is over fewer than SMALL_N disputes is marked, ranked after the
# others, and on neither the red nor the black list.
INDEX_CASES = "resolution_rate"


def ranks(rows, key: str) -> dict:
    """{id: (rank or None, small)} of ``rows`` ({id: {metric: value}}) by ``key`` in its better
    direction, in the registry's order (``metrics.rank_order``): undefined values unranked, rates
    over fewer than SMALL_N cases (``metrics.small``) after the others; equal values (and the same
    small mark) share a rank. The one rank rule of the 红黑榜, the village tables, the village
    profile, the deck and the map's tooltips."""
    order = metrics.rank_order(rows, key)
    out, prev, rank = {}, None, 0
    for pos, i in enumerate(order, start=1):
        v = rows[i].get(key)
        small = metrics.small(key, rows[i])
        if v is None or v != v:
            out[i] = (None, small)
            continue
        if (small, v) != prev:
            rank, prev = pos, (small, v)
        out[i] = (rank, small)
    return out


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
    The small-number rule: a village with fewer than SMALL_N disputes (``small``, the rule of
    ``metrics.small`` on INDEX_CASES) ranks after every other one; ``disputes_total`` and
    ``resolution_rate`` stand beside the index (a rate beside its count).
    """
    weights = weights or load_weights()
    w = weights["weights"]
    r = metrics.compute(conn, period, village_ids)
    names = {v["id"]: v["name"] for v in summary.villages(conn)}
    sc = scores(r["villages"], w)
    rows = []
    for vid, m in r["villages"].items():
        row = {"village_id": vid, "village": names[vid], "index": sc[vid]["index"],
               "small": metrics.small(INDEX_CASES, m), "disputes_total": m["disputes_total"],
               "resolution_rate": m["resolution_rate"]}
        for k in w:
            row[k] = m[k]
            row[f"score_{k}"] = sc[vid]["scores"][k]
        rows.append(row)
    cols = ["village_id", "village", "index", "small", "disputes_total", "resolution_rate",
            *[c for k in w for c in (k, f"score_{k}") if c not in ("disputes_total", "resolution_rate")]]
    df = pd.DataFrame(rows, columns=cols)
    df["small"] = df["small"].astype(bool)
    df = df.sort_values(["small", "index", "village"], ascending=[True, False, True], na_position="last",
                        kind="stable").reset_index(drop=True)
    df = df.sort_values("index", key=lambda s: s.isna(), kind="stable").reset_index(drop=True)
    # astype: with no village scored the column is all None (object) and cannot round
    key = df["index"].astype("float64").round(6)
    rank, prev, out = 0, None, []
    for pos, (small, k) in enumerate(zip(df["small"], key), start=1):   # ties share a rank
        if k != k:
            out.append(None)
            continue
        if (small, k) != prev:
            rank, prev = pos, (small, k)
        out.append(rank)
    df.insert(0, "rank", pd.array(out, dtype="Int64"))
    return df


def red_black(df: pd.DataFrame, n: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(红榜 the n best, 黑榜 the n worst, worst first) from index(); never the same village twice.
    Villages marked small (fewer than SMALL_N disputes, ``INDEX_CASES``) are on neither list."""
    ranked = df[df["index"].notna() & ~df["small"].astype(bool)] if "small" in df else df[df["index"].notna()]
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
    """Columns of the ranking table (fmt.frame): rank, village, index, the cases and resolution
    rate (the rate beside its count) with its light, then each weighted metric."""
    return [("rank", "col.rank", "count"), ("village", "col.village", "text"),
            ("index", "col.index", "score"), ("disputes_total", "disputes_total", None),
            ("resolution_rate", "resolution_rate", None), ("light", "ranking.light_col", "text"),
            ("note", "ranking.note_col", "text"),
            *[(k, k, None) for k in weights["weights"] if k not in ("disputes_total", "resolution_rate")]]


LIST_COLUMNS = 7   # the 红黑榜 tables: rank … note (spec()[:LIST_COLUMNS])


def with_marks(df: pd.DataFrame, lang: str = "zh") -> pd.DataFrame:
    """index() with the resolution rate's traffic light (dashboard.targets, as on the cards) and
    the small-number mark as text columns ``light`` and ``note``."""
    from dashboard import targets
    from dashboard.i18n import t
    out = df.copy()
    out["light"] = [targets.symbol(targets.light(INDEX_CASES, v), lang) for v in df["resolution_rate"]]
    out["note"] = [t("ranking.small_mark", lang, n=metrics.SMALL_N) if s else "" for s in df["small"]]
    return out


WEIGHT_SPEC = [("metric", "col.metric", "text"), ("direction", "col.direction", "direction"),
               ("weight", "col.weight", "rate")]
