"""The metric registry: every figure a leader sees is defined here once.

Each metric has a key, Chinese and English names and units, a written
definition (numerator and denominator for rates), a direction (is higher better
or worse) and a kind that decides its formatting. ``compute`` takes the named base
sums of the base-sum layer (dashboard.aggregates.base, summed in the database) and
derives every metric from them with ``derive`` (generic over numerator /
denominator / per / minus), so a township figure is always the ratio of sums,
never an average of village ratios. The rules behind the sums are in
dashboard.rules; docs/rules.md lists every rule and its one home.

A rate whose denominator is zero is undefined: ``None`` (shown as —, JSON null).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from dashboard import aggregates
from dashboard.db.dialect import days_expr, in_villages, month_expr
from dashboard.periods import Period
from dashboard.rules import hist_median, median_from_hist, open_at, overdue_at, overdue_before, \
    reported_within, resolved_by, resolved_within
from dashboard.settings import OVERDUE_DAYS, REPLY_DAYS, SMALL_N

# Re-exported: callers name the rules and constants through the registry (each lives in
# dashboard.rules, dashboard.settings or dashboard.db.dialect; docs/rules.md lists them).
__all__ = ["OVERDUE_DAYS", "REPLY_DAYS", "SMALL_N", "days_expr", "hist_median", "in_villages", "median_from_hist",
           "month_expr", "open_at", "overdue_at", "overdue_before", "reported_within", "resolved_by",
           "resolved_within"]


@dataclass(frozen=True)
class Metric:
    key: str
    zh: str
    en: str
    unit_zh: str
    unit_en: str
    kind: str            # count | rate | days | hours | ratio
    direction: str       # higher | lower | neutral (which way is better)
    topic: str           # disputes | volunteers | visits | grid
    definition_zh: str
    definition_en: str
    numerator: str | None = None
    denominator: str | None = None
    levels: tuple[str, ...] = ("township", "village", "grid")
    per: int = 1                       # a ratio's scale: 100 for "per 100 households"
    minus: tuple[str, str] | None = None   # a difference of two figures (a − b)

    def name(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en

    def unit(self, lang: str = "zh") -> str:
        return self.unit_zh if lang == "zh" else self.unit_en

    def definition(self, lang: str = "zh") -> str:
        text = self.definition_zh if lang == "zh" else self.definition_en
        if self.numerator and self.denominator:
            n, d = METRICS[self.numerator], METRICS[self.denominator]
            text += f"（{n.name(lang)} / {d.name(lang)}）" if lang == "zh" else \
                f" ({n.name(lang)} / {d.name(lang)})"
        return text


_M = [
    Metric("disputes_total", "受理纠纷", "Disputes received", "件", "cases", "count", "neutral",
           "disputes", "统计期内登记（受理）的矛盾纠纷件数。",
           "Disputes reported in the period."),
    Metric("disputes_resolved", "本期受理已化解", "Received and resolved", "件", "cases", "count",
           "higher", "disputes", "统计期内受理、且在期末当日或之前化解的纠纷件数。",
           "Of the disputes reported in the period, those resolved on or before the period's end."),
    Metric("disputes_resolved_in_period", "本期办结", "Resolved in the period", "件", "cases", "count",
           "higher", "disputes", "统计期内（起止两日在内）化解的纠纷件数，不论何时受理。",
           "Disputes resolved within the period (both end days included), whatever their reported "
           "date."),
    Metric("backlog_open", "在办积案", "Open backlog", "件", "cases", "count", "lower", "disputes",
           "期末当日或之前受理、到期末仍未化解（期末之后才化解或至今未化解）的纠纷件数，不论何时受理。",
           "Disputes reported on or before the period's end and not resolved by it (resolved later, "
           "or not at all), whatever their reported date."),
    Metric("backlog_overdue", "超期未化解", "Overdue backlog", "件", "cases", "count", "lower",
           "disputes", f"在办积案中，到期末已受理超过{OVERDUE_DAYS}天的件数（督办清单）。",
           f"Of the open backlog, the disputes open for more than {OVERDUE_DAYS} days at the "
           f"period's end (the supervision list)."),
    Metric("resolution_rate", "化解率", "Resolution rate", "%", "%", "rate", "higher", "disputes",
           "统计期内受理的纠纷中，期末前已化解的比例。",
           "Share of the period's disputes resolved by the period's end.",
           "disputes_resolved", "disputes_total"),
    Metric("median_days_to_resolve", "化解用时中位数", "Median days to resolve", "天", "days",
           "days", "lower", "disputes",
           "已化解纠纷的（化解日期 − 受理日期）天数的中位数；件数为偶数时取中间两数的平均。",
           "Median of (resolved − reported) days over the resolved disputes; the mean of the two "
           "middle values when their number is even."),
    Metric("resolved_within_grid_rate", "网格内化解率", "Resolved within the grid", "%", "%", "rate",
           "higher", "disputes", "已化解纠纷中在网格层级化解的比例（小事不出网格）。",
           "Share of resolved disputes resolved at grid level.",
           "resolved_at_grid", "disputes_resolved"),
    Metric("resolved_within_village_rate", "村内化解率", "Resolved within the village", "%", "%",
           "rate", "higher", "disputes",
           "已化解纠纷中在网格或村级化解的比例（大事不出村）。",
           "Share of resolved disputes resolved at grid or village level.",
           "resolved_in_village", "disputes_resolved"),
    Metric("resolved_at_grid", "网格化解件数", "Resolved at grid level", "件", "cases", "count",
           "higher", "disputes", "已化解纠纷中化解层级为网格的件数。",
           "Resolved disputes whose resolution level is the grid."),
    Metric("resolved_in_village", "村内化解件数", "Resolved in the village", "件", "cases", "count",
           "higher", "disputes", "已化解纠纷中化解层级为网格或村级的件数。",
           "Resolved disputes resolved at grid or village level."),
    Metric("overdue_open", "本期受理超期未化解", "Overdue of the period's cases", "件", "cases",
           "count", "lower",
           "disputes",
           f"统计期内受理、到期末仍未化解，且到期末已超过{OVERDUE_DAYS}天的纠纷件数。",
           f"Disputes reported in the period, not resolved by its end, and open for more than "
           f"{OVERDUE_DAYS} days at the period's end."),
    Metric("disputes_per_100_households", "每百户纠纷数", "Disputes per 100 households", "件/百户",
           "per 100 households", "ratio", "lower", "disputes",
           "统计期内受理纠纷件数 ÷ 户数 × 100。", "Disputes received ÷ households × 100.",
           "disputes_total", "households", per=100),
    Metric("volunteer_activities", "志愿活动", "Volunteer activities", "场", "activities", "count",
           "higher", "volunteers", "统计期内开展的志愿服务活动场次。",
           "Volunteer activities held in the period."),
    Metric("volunteer_participants", "参与人次", "Volunteer participants", "人次", "person-times",
           "count", "higher", "volunteers", "统计期内各场活动参与人数之和（人次）。",
           "Sum of participants over the period's activities (person-times)."),
    Metric("volunteer_hours", "志愿服务时长", "Volunteer hours", "小时", "hours", "hours",
           "higher", "volunteers", "统计期内各场活动“参与人数 × 人均服务时长”之和。",
           "Sum over the period's activities of participants × hours per participant."),
    Metric("volunteer_points", "志愿积分", "Volunteer points", "分", "points", "count", "higher",
           "volunteers", "统计期内各场活动发放的志愿服务积分之和。",
           "Sum of points awarded for the period's activities."),
    Metric("volunteer_hours_per_100_residents", "每百人志愿时长", "Volunteer hours per 100 residents",
           "小时/百人", "hours per 100 residents", "ratio", "higher", "volunteers",
           "志愿服务时长 ÷ 人口 × 100。", "Volunteer hours ÷ population × 100.",
           "volunteer_hours", "population", ("township", "village"), per=100),
    Metric("rep_visits", "走访记录", "Representative visits", "次", "visits", "count", "higher",
           "visits", "统计期内两代表一委员的走访、接待、座谈记录条数。",
           "Visit, reception and forum records of representatives in the period.",
           levels=("township", "village")),
    Metric("voters_contacted", "联系选民", "Voters contacted", "人次", "person-times", "count",
           "higher", "visits", "统计期内走访、接待选民人次之和。",
           "Sum of voters contacted in the period's records.", levels=("township", "village")),
    Metric("suggestions_collected", "收集意见建议", "Suggestions collected", "条", "items", "count",
           "neutral", "visits", "统计期内收集的意见建议条数。",
           "Suggestions collected in the period's records.", levels=("township", "village")),
    Metric("issues_resolved", "解决问题", "Issues resolved", "个", "issues", "count", "higher",
           "visits", "统计期内代表直接推动解决的问题个数。",
           "Issues resolved in the period's records.", levels=("township", "village")),
    Metric("issues_referred", "转办问题", "Issues referred", "个", "issues", "count", "neutral",
           "visits", "统计期内转交有关部门办理的问题个数。",
           "Issues referred to government departments in the period's records.",
           levels=("township", "village")),
    Metric("suggestion_resolution_rate", "意见建议解决率", "Suggestion resolution rate", "%", "%",
           "rate", "higher", "visits", "收集的意见建议中已解决问题的比例。",
           "Issues resolved as a share of suggestions collected.",
           "issues_resolved", "suggestions_collected", ("township", "village")),
    Metric("households_per_grid_worker", "网格员人均服务户数", "Households per grid worker", "户/人",
           "households per worker", "ratio", "lower", "grid", "户数 ÷ 网格员人数。",
           "Households ÷ grid workers.", "households", "grid_workers"),
    Metric("households", "户数", "Households", "户", "households", "count", "neutral", "grid",
           "登记户数。", "Registered households."),
    Metric("population", "人口", "Population", "人", "residents", "count", "neutral", "grid",
           "登记人口。", "Registered population.", levels=("township", "village")),
    Metric("grid_workers", "网格员", "Grid workers", "人", "workers", "count", "neutral", "grid",
           "网格员人数。", "Number of grid workers."),
    Metric("grids", "网格数", "Grids", "个", "grids", "count", "neutral", "grid", "网格个数。",
           "Number of grids.", levels=("township", "village")),
    # Derived figures leaders also use (each from the sums above, never from averages).
    Metric("disputes_open", "本期受理未化解", "Received, still open", "件", "cases", "count", "lower",
           "disputes", "统计期内受理、到期末仍未化解的纠纷件数（受理纠纷 − 本期受理已化解）。",
           "Disputes reported in the period and not resolved by its end (received − resolved).",
           minus=("disputes_total", "disputes_resolved")),
    Metric("overdue_rate", "本期受理超期率", "Overdue share of the period's cases", "%", "%", "rate",
           "lower", "disputes",
           f"统计期内受理的纠纷中，到期末超过{OVERDUE_DAYS}天仍未化解的比例。",
           f"Share of the period's disputes still open more than {OVERDUE_DAYS} days at its end.",
           "overdue_open", "disputes_total"),
    Metric("volunteer_participants_per_100_residents", "每百人志愿参与人次",
           "Volunteer participants per 100 residents", "人次/百人", "per 100 residents", "ratio",
           "higher", "volunteers", "志愿参与人次 ÷ 人口 × 100。",
           "Volunteer participants (person-times) ÷ population × 100.",
           "volunteer_participants", "population", ("township", "village"), per=100),
    Metric("voters_per_visit", "每次走访联系选民", "Voters per visit", "人次/次", "per visit", "ratio",
           "higher", "visits", "联系选民人次 ÷ 走访记录条数。", "Voters contacted ÷ visit records.",
           "voters_contacted", "rep_visits", ("township", "village")),
    Metric("suggestion_referral_rate", "意见建议转办率", "Suggestion referral rate", "%", "%", "rate",
           "neutral", "visits", "收集的意见建议中转交有关部门办理的比例。",
           "Issues referred as a share of suggestions collected.",
           "issues_referred", "suggestions_collected", ("township", "village")),
    # ---- suggestions referred to departments, until answered (意见建议转办答复; the ledger
    # ---- 意见建议办理台账, rules in dashboard.suggestions) -------------------------------------
    Metric("suggestions_logged", "登记意见建议", "Suggestions logged", "条", "items", "count",
           "neutral", "visits", "意见建议办理台账中，统计期内（按收集日期）登记的意见建议条数。",
           "Suggestions in the suggestion ledger collected within the period (by collection date).",
           levels=("township", "village")),
    Metric("suggestions_on_the_spot", "当场解决建议", "Solved on the spot", "条", "items", "count",
           "higher", "visits", "统计期内登记的意见建议中，办理方式为“当场解决”的条数。",
           "Of the suggestions logged in the period, those solved on the spot.",
           levels=("township", "village")),
    Metric("suggestions_referred", "转办建议", "Suggestions referred", "条", "items", "count",
           "neutral", "visits", "统计期内（按转办日期）转交承办单位办理的意见建议条数。",
           "Suggestions referred to a department within the period (by referral date).",
           levels=("township", "village")),
    Metric("referrals_replied", "转办已答复", "Referrals answered", "条", "items", "count", "higher",
           "visits", "统计期内转办的意见建议中，期末当日或之前已答复的条数。",
           "Of the period's referrals, those answered on or before the period's end.",
           levels=("township", "village")),
    Metric("referral_reply_rate", "转办答复率", "Referral reply rate", "%", "%", "rate", "higher",
           "visits", "统计期内转办的意见建议中，期末前已答复的比例。",
           "Share of the period's referrals answered by the period's end.",
           "referrals_replied", "suggestions_referred", ("township", "village")),
    Metric("median_days_to_reply", "答复用时中位数", "Median days to reply", "天", "days", "days",
           "lower", "visits",
           "统计期内转办、期末前已答复的意见建议（答复日期 − 转办日期）天数的中位数；条数为偶数时取中间两数的平均。",
           "Median of (replied − referred) days over the period's referrals answered by its end; "
           "the mean of the two middle values when their number is even.",
           levels=("township", "village")),
    Metric("replies_overdue", "超期未答复", "Replies overdue", "条", "items", "count", "lower",
           "visits", f"期末当日或之前转办、到期末仍未答复，且转办已超过{REPLY_DAYS}天的意见建议条数，不论何时转办（督办清单）。",
           f"Referrals made on or before the period's end, not answered by it and referred more "
           f"than {REPLY_DAYS} days before it, whatever the referral date (the supervision list).",
           levels=("township", "village")),
    Metric("referrals_satisfied", "答复满意", "Answers found satisfactory", "条", "items", "count",
           "higher", "visits", "转办已答复的意见建议中，代表评价为“满意”或“基本满意”的条数。",
           "Of the referrals answered, those the representative rated satisfied or basically "
           "satisfied.", levels=("township", "village")),
    Metric("satisfied_rate", "答复满意率", "Satisfaction with answers", "%", "%", "rate", "higher",
           "visits", "转办已答复的意见建议中，代表评价为“满意”或“基本满意”的比例。",
           "Share of the answered referrals rated satisfied or basically satisfied.",
           "referrals_satisfied", "referrals_replied", ("township", "village")),
    # ---- end of the suggestion figures ------------------------------------------------------
]

METRICS: dict[str, Metric] = {m.key: m for m in _M}
# The headline figures: the overview's KPI row and the meeting deck's KPI slide.
HEADLINE = ("disputes_total", "disputes_resolved", "resolution_rate",
            "resolved_within_village_rate", "volunteer_hours", "rep_visits",
            "suggestions_collected")
# What may colour a map or sort a ranking (the registry's derived figures).
MAPPABLE = tuple(k for k, m in METRICS.items() if k not in ("grids",))


def get(key: str) -> Metric:
    return METRICS[key]


def target(key: str) -> float | None:
    """The figure's target from the targets file (dashboard.settings.target_specs; the
    resolution rate's defaults to DASHBOARD_TARGET_RATE); None without one."""
    from dashboard import settings
    spec = settings.target_specs().get(key)
    return None if not spec or spec.get("target") is None else float(spec["target"])


def meets_target(key: str, value, goal=None) -> bool | None:
    """Whether a value reaches the target (``goal``, else ``target(key)``) in the figure's better
    direction (a "lower" figure meets it at or below; a float a hair short of it, 1e-12, meets
    it); None when either is undefined. The one "below target" rule of charts, deck, alerts,
    briefing and the traffic lights (dashboard.targets.light)."""
    goal = target(key) if goal is None else goal
    if value is None or goal is None or value != value:
        return None
    sign = -1 if METRICS[key].direction == "lower" else 1
    return sign * (value - goal) >= -1e-12


def small(key: str, values: Mapping) -> bool:
    """A rate over fewer than SMALL_N cases (its denominator): shown marked, ranked after the
    others (a village with 1 case at 100 % is not a model)."""
    m = METRICS[key]
    if m.kind != "rate" or not m.denominator:
        return False
    d = values.get(m.denominator)
    return d is not None and d < SMALL_N


def rank_order(rows: Mapping, key: str) -> list:
    """Ids of ``rows`` ({id: {metric: value}}) best first by ``key`` in its better direction: the
    registry's ranking rule. Undefined values last; rates over fewer than SMALL_N cases after the
    others (``small``); ties by the larger denominator, then id."""
    m = METRICS[key]
    sign = 1 if m.direction == "lower" else -1

    def sort_key(i):
        v = rows[i].get(key)
        den = rows[i].get(m.denominator) if m.denominator else None
        return (v is None, small(key, rows[i]), 0 if v is None else sign * v, -(den or 0), i)
    return sorted(rows, key=sort_key)


# ---------------------------------------------------------------- computation

STATIC_KEYS = aggregates.STATIC_FACTS    # households, population, grid workers, grids
MEDIAN_KEYS = ("median_days_to_resolve", "median_days_to_reply")   # from days histograms
# The figures summed in the database (every other one is derived from them by ``derive``): the
# registry's plain figures, less the static facts and the medians (from the days histograms). The
# base-sum layer (dashboard.aggregates.BASE_SUMS) answers exactly these, by name.
BASE_KEYS = tuple(k for k, m in METRICS.items()
                  if not (m.numerator or m.minus) and k not in STATIC_KEYS
                  and k not in MEDIAN_KEYS)


def months_of(period: Period) -> list[str]:
    """Every 'YYYY-MM' the period touches, in order (so months without rows still show)."""
    out, y, m = [], period.start.year, period.start.month
    while (y, m) <= (period.end.year, period.end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def month_periods(period: Period) -> list[Period]:
    """The calendar months the period touches, clipped at its ends (custom where clipped)."""
    from dashboard import periods
    out = []
    for m in months_of(period):
        p = periods.month(int(m[:4]), int(m[5:]))
        s, e = max(p.start, period.start), min(p.end, period.end)
        out.append(p if (s, e) == (p.start, p.end) else Period(s, e, "custom"))
    return out


_COUNT_KEYS = frozenset(k for k, m in METRICS.items() if m.kind == "count")


def _ratios(n: np.ndarray, d: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """n / d × scale elementwise; NaN (undefined) where d is 0 or unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = n / d * scale
    return np.where(d == 0, np.nan, r)


def derive(base: dict[str, np.ndarray], median: np.ndarray) -> dict[str, np.ndarray]:
    """Every registry metric, for many villages (or grids) at once, from column arrays of the
    base sums and static facts (float64; NaN = unknown) and of the median days.

    The one implementation of the derived figures: the township's row goes through it too.
    Generic over the registry: a ratio is its numerator / denominator × ``per``, a difference
    ``minus``; a new ratio is one registry line."""
    nan = np.full(len(median), np.nan)
    m = {k: base.get(k, nan) if k in STATIC_KEYS else base[k] for k in (*BASE_KEYS, *STATIC_KEYS)}
    m["median_days_to_resolve"] = median
    m["median_days_to_reply"] = base.get("median_days_to_reply", nan)
    todo = [k for k in METRICS if k not in m]
    while todo:  # a figure of figures waits for its parts (registry order otherwise)
        left = []
        for k in todo:
            x = METRICS[k]
            a, b = x.minus or (x.numerator, x.denominator)
            if a not in m or b not in m:
                left.append(k)
            else:
                m[k] = _combine(x, m[a], m[b])
        if len(left) == len(todo):
            raise ValueError(f"registry: figures without their parts: {left}")
        todo = left
    return m


def _combine(x: Metric, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A derived figure from its two parts: a − b for a difference, else a / b × per."""
    return a - b if x.minus else _ratios(a, b, x.per)


def of(key: str, parts: Mapping) -> float | None:
    """One derived figure (a ratio or a difference of the registry) from its parts' values by
    name, e.g. ``of("resolution_rate", {"disputes_resolved": 9, "disputes_total": 10})`` → 0.9;
    None when a part is undefined or the denominator is 0. For breakdowns the registry's columns
    do not hold (per category, per visit type): the same rule as ``derive``."""
    x = METRICS[key]
    a, b = x.minus or (x.numerator, x.denominator)
    if a is None or b is None:
        raise ValueError(f"{key} is not derived from parts")
    va, vb = parts.get(a), parts.get(b)
    if va is None or vb is None:
        return None
    v = float(_combine(x, np.array([float(va)]), np.array([float(vb)]))[0])
    return None if v != v else v


def _pylist(arr: np.ndarray, key: str) -> list:
    """A column as plain Python values: ints for counts, floats otherwise, None for NaN."""
    nan = np.isnan(arr)
    if key in _COUNT_KEYS:
        if not nan.any():
            return arr.astype(np.int64).tolist()
        return [None if x != x else int(x) for x in arr.tolist()]
    out = arr.tolist()
    return [None if x != x else x for x in out] if nan.any() else out


class Figures(Mapping):
    """The metrics of many villages (or grids), ``{id: {metric: value}}``, held as columns.

    ``compute`` derives every figure of every village at once (numpy); a village's dict of
    plain ints, floats and None is built the first time it is read, so what ``compute`` costs
    does not grow with the villages a page reads afterwards. ``frame()``: all as a DataFrame.
    """

    def __init__(self, ids, cols: dict[str, np.ndarray], keys=None):
        self.ids = [int(i) for i in ids]
        self._cols = cols
        self._keys = list(keys if keys is not None else cols)
        self._lists: dict | None = None
        self._pos: dict | None = None
        self._rows: dict = {}

    def _index(self) -> dict:
        if self._pos is None:
            self._pos = {k: i for i, k in enumerate(self.ids)}
        return self._pos

    def __getitem__(self, key):
        row = self._rows.get(key)
        if row is None:
            i = self._index()[key]
            if self._lists is None:
                self._lists = {k: _pylist(self._cols[k], k) for k in self._keys}
            row = self._rows[key] = {k: self._lists[k][i] for k in self._keys}
        return row

    def __contains__(self, key) -> bool:
        return key in self._index()

    def __iter__(self):
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, key: str) -> np.ndarray:
        """One metric for every id, in ``ids`` order (NaN = undefined)."""
        return self._cols[key]

    def frame(self):
        """Every metric as a DataFrame indexed by id (NaN = undefined)."""
        import pandas as pd
        return pd.DataFrame({k: self._cols[k] for k in self._keys}, index=pd.Index(self.ids, name="id"))

    def __repr__(self) -> str:
        return f"Figures({len(self.ids)} rows × {len(self._keys)} metrics)"


def _one(cols: dict[str, np.ndarray]) -> dict:
    """The first row of derived columns as a plain dict (the township's figures)."""
    return {k: _pylist(v[:1], k)[0] for k, v in cols.items()}


def compute(conn, period: Period, village_ids: Iterable[int] | None = None) -> dict:
    """All metrics for the township (the selected villages together) and for each village.

    Returns ``{"township": {metric: value}, "villages": Figures}`` (``Figures`` reads like
    ``{village_id: {metric: value}}``, in village id order). Villages with no rows still
    appear (counts 0, rates None). The base sums come from dashboard.aggregates.base; the
    township's are the villages' sums, so its ratios are ratios of sums.
    """
    b = aggregates.base(conn, period, village_ids, "village")
    villages = Figures(b.ids, derive(b.sums, b.median))
    total = {k: np.array([float(np.sum(v))]) for k, v in b.sums.items()}
    total["volunteer_hours"] = np.array([round(math.fsum(b.sums["volunteer_hours"].tolist()), 2)])
    total["median_days_to_reply"] = np.array([np.nan if b.reply_town_median is None
                                              else b.reply_town_median])
    town = np.array([np.nan if b.town_median is None else b.town_median])
    return {"township": _one(derive(total, town)), "villages": villages}




GRID_KEYS = tuple(k for k, m in METRICS.items() if "grid" in m.levels)


def compute_grids(conn, period: Period, village_ids: Iterable[int] | None = None) -> Figures:
    """Grid-level metrics (those whose ``levels`` include "grid"): ``{grid_id: {metric: value}}``."""
    b = aggregates.base(conn, period, village_ids, "grid")
    m = derive(b.sums, b.median)
    return Figures(b.ids, m, [k for k in m if k in GRID_KEYS])


def change(metric_key: str, current, previous) -> float | None:
    """Change against a comparison period.

    Rates: the difference in percentage points as a fraction (0.023 = +2.3 个百分点).
    Everything else: the relative change ((current − previous) / previous); None when
    the previous value is 0 or either value is undefined.
    """
    if current is None or previous is None:
        return None
    if METRICS[metric_key].kind == "rate":
        return current - previous
    if previous == 0:
        return None
    return (current - previous) / previous


def with_changes(conn, period: Period, village_ids=None) -> dict:
    """``compute`` for the period plus 环比 and 同比 changes of the township figures."""
    cur = compute(conn, period, village_ids)
    prev = compute(conn, period.previous(), village_ids)["township"]
    ago = compute(conn, period.year_ago(), village_ids)["township"]
    cur["previous"], cur["year_ago"] = prev, ago
    cur["mom"] = {k: change(k, cur["township"].get(k), prev.get(k)) for k in METRICS}
    cur["yoy"] = {k: change(k, cur["township"].get(k), ago.get(k)) for k in METRICS}
    return cur


def rounded(values: dict) -> dict:
    """Values for JSON: rates to 4 decimals, ratios/days/hours to 2, counts as ints."""
    out = {}
    for k, v in values.items():
        m = METRICS.get(k)
        if v is None or m is None:
            out[k] = v
        elif m.kind == "rate":
            out[k] = round(v, 4)
        elif m.kind in ("ratio", "days", "hours"):
            out[k] = round(float(v), 2)
        else:
            out[k] = int(v)
    return out


def table(values: dict, keys: Iterable[str] | None = None) -> dict:
    """The registry's metrics only (in registry order), rounded for JSON / exports."""
    keys = list(METRICS) if keys is None else list(keys)
    return rounded({k: values.get(k) for k in keys})


def parts(key: str, values: dict) -> tuple | None:
    """(numerator, denominator) values of a rate or ratio, or None for a plain figure."""
    m = METRICS[key]
    if not (m.numerator and m.denominator):
        return None
    return values.get(m.numerator), values.get(m.denominator)


def formula(key: str, values: dict, lang: str = "zh") -> str:
    """'化解纠纷 / 受理纠纷 = 180 / 200' for a rate or ratio; '' for a plain figure."""
    from dashboard import fmt
    p = parts(key, values)
    if p is None:
        return ""
    m = METRICS[key]
    n, d = METRICS[m.numerator], METRICS[m.denominator]
    return (f"{n.name(lang)} / {d.name(lang)} = {fmt.value(p[0], n.kind)} / "
            f"{fmt.value(p[1], d.kind)}")
