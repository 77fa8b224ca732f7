"""One figure, one value: every figure the dashboard shows equals the registry's for the filter.

For each filter (a month, a quarter, a year, a custom range across a year end, one village,
three villages) on the demo township, each page runs in AppTest with the filter in its URL
(?period=…&villages=<codes>), and every place a figure can appear is read back:

* KPI cards (label → registry figure; the value must be ``fmt.value`` of the registry's);
* tables (st.dataframe) and every CSV/XLSX download: each column header naming a registry
  figure ("名称（单位）") is checked row by row against the row's entity (village, grid, month,
  or the figure named in the 指标 column); tables of slices (categories, teams, representatives,
  buckets) must add up to the registry's total; a header that is neither a registry figure nor
  a known non-figure column fails;
* plotly charts: a trace named by a registry figure is checked per category (village, month,
  slice of the deck); a trace with another name fails unless listed in TRACES;
* text (captions, alerts, headings, slides, the PDF's and the HTML's text): every number with a
  unit must be a registry value of the filter, formatted by ``dashboard.fmt``;
* the meeting deck through its screens and its PPTX (table cells, chart series), PDF, HTML,
  XLSX and CSV downloads.

So a figure that reaches the screen or a file without passing through the registry fails here.
"""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from datetime import date

import openpyxl
import pandas as pd
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from dashboard import fmt, maps, metrics, periods
from dashboard.i18n import t
from dashboard.periods import Period
from dashboard.queries import ranking, summary
from dashboard.report import build as rbuild
from dashboard.ui import nav
from loaders import spec as loaders_spec

FILTERS = {
    "month": ("2025-11", None),
    "quarter": ("2025Q4", None),
    "year": ("2025", None),
    "custom": ("2024-11-15..2025-02-10", None),
    "one_village": ("2025", ("东湖社区",)),
    "three_villages": ("2025Q3", ("红旗村", "东湖社区", "马鞍村")),
}
PAGES = ("overview", "disputes", "volunteers", "visits", "village", "map", "meeting")
L = "zh"
M = metrics.METRICS


def _head(key: str) -> list[str]:
    m = M[key]
    return [f"{m.zh}（{m.unit_zh}）", f"{m.zh}（%）", m.zh]


HEAD = {h: k for k in M for h in _head(k)}
HEAD[t("charts.month_rate", L)] = "resolution_rate"                  # the month's own rate
HEAD[t("charts.month_rate", L) + "（%）"] = "resolution_rate"
HEAD[maps.metric_label("backlog_overdue", L)] = "backlog_overdue"   # the map's name of it

C = {k: t(k, L) for k in ("col.village", "col.month", "col.grid", "col.grid_code", "col.metric",
                           "col.rank", "col.index", "col.topic", "village.col_value",
                           "village.col_township", "changes.current", "changes.previous",
                           "overview.mom", "changes.year_ago", "overview.yoy", "col.weight")}
SLICES = {t(k, L) for k in ("col.category", "col.team", "col.rep_type", "col.form", "col.rep_level",
                            "col.rep_name", "col.days_bucket", "col.activity_type", "col.case_no",
                            "col.department", "col.sugg_no")}
LEVEL_HEADS = {t(f"enum.level.{lv}", L): lv for lv in ("grid", "village", "township", "county")}
# the 报送情况 table's ledger columns (statuses, checked against the reporting board)
KIND_HEADS_OF = {t(f"loader.kind.{k}", L): k for k in loaders_spec.LEDGER_KINDS}
KIND_HEADS = set(KIND_HEADS_OF)
# Columns that carry no registry figure (text, dates, ranks, lights, notes) or one checked apart.
NON_FIGURES = {C["col.village"], C["col.month"], C["col.grid"], C["col.grid_code"], C["col.metric"],
               C["col.rank"], C["col.index"], C["col.topic"], t("overview.col_kind", L),
               t("col.direction", L), C["col.weight"], t("col.reps", L), t("col.rep_villages", L),
               t("col.days_open", L), t("col.status", L), t("col.level_so_far", L),
               t("col.reported_on", L), t("ranking.light_col", L), t("ranking.note_col", L),
               t("meeting.col_data_kind", L), t("targets.column", L, name=M["resolution_rate"].zh),
               C["village.col_value"], C["village.col_township"], C["changes.current"],
               C["changes.previous"], C["overview.mom"], C["changes.year_ago"], C["overview.yoy"],
               C["overview.mom"] + "（%）", C["overview.yoy"] + "（%）", *SLICES, *LEVEL_HEADS,
               # the suggestion 督办 list's dates and days waited (as the disputes' days open)
               *(t(k, L) for k in ("col.sugg_category", "col.collected_on", "col.referred_on",
                                    "col.days_waiting", "col.oldest_referral", "col.days_waiting_max")),
               "Unnamed: 0", "index", ""}
# Trace names that are not registry figures, and why they may be.
TRACES = {t("charts.received_year_ago", L): "last year's received, month by month (year_ago)",
          t("charts.index", L): "the governance index (checked against queries.ranking)",
          C["village.col_value"]: "the village's rates (categories are registry names)",
          t("scope.township", L): "the township's rates (categories are registry names)",
          **{k: "resolved per level (summed per village)" for k in LEVEL_HEADS}}
NUM = re.compile(r"(?<![\d.,A-Za-z])([+−-]?\d[\d,]*(?:\.\d+)?)\s?(%|件|场|小时|人次|分|次|条|个|户|人|天)")
NOT_FIGURES_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}|\d{4}年(第\d季度|\d{1,2}月)?|第 ?\d+ ?/ ?\d+ ?页|"
                              r"\d{1,2}月|[Qq]\d|前\d+名|后\d+名|后\d+位")


# ---------------------------------------------------------------- the registry's side

class Truth:
    """The registry's figures for one filter, and every formatted value they may show as."""

    def __init__(self, conn, spec):
        from dashboard.ui.common import period_from_url
        text, names = spec
        self.period: Period = period_from_url(text)
        vill = summary.villages(conn)
        self.by_name = {v["name"]: v["id"] for v in vill}
        self.name = {v["id"]: v["name"] for v in vill}
        self.code = {v["id"]: v["code"] for v in vill}
        self.ids = None if names is None else tuple(sorted(self.by_name[n] for n in names))
        self.r = metrics.with_changes(conn, self.period, self.ids)
        self.town = self.r["township"]
        self.villages = self.r["villages"]
        self.grids = metrics.compute_grids(conn, self.period, self.ids)
        g = conn.exec_driver_sql("SELECT id, code, name, village_id FROM grid").all()
        self.grid_by_code = {str(c): i for i, c, _, _ in g}
        self.grid_names = {(v, n): i for i, _, n, v in g}
        self.months = {p.start.strftime("%Y-%m"): metrics.compute(conn, p, self.ids)["township"]
                       for p in metrics.month_periods(self.period)}
        self.slices = {rbuild.slice_label(p, self.period, L): metrics.compute(conn, p, self.ids)["township"]
                       for p in rbuild.slices(self.period)}
        self.index = ranking.index(conn, self.period, self.ids)
        self.supervision_n = self.town["backlog_overdue"]
        self.allowed = self._allowed(conn)
        self.engine = conn.engine
        self._extra = {}

    scope_ids = None     # the village page: its trend is the village's

    def month(self, ym: str) -> dict:
        """The registry's figures of a calendar month (clipped to the period when inside it)."""
        if ym in self.months and self.scope_ids is None:
            return self.months[ym]
        key = (ym, self.scope_ids)
        if key not in self._extra:
            p = periods.month(int(ym[:4]), int(ym[5:]))     # the village's trend: calendar months
            if ym in self.months and self.scope_ids is None:
                p = next(q for q in metrics.month_periods(self.period) if q.start.strftime("%Y-%m") == ym)
            with self.engine.connect() as c:
                self._extra[key] = metrics.compute(c, p, self.scope_ids or self.ids)["township"]
        return self._extra[key]

    def url(self) -> dict:
        q = {"period": periods.compact(self.period)}
        if self.ids:
            q["villages"] = ",".join(str(self.code[i]) for i in self.ids)
        return q

    def _allowed(self, conn) -> set[str]:
        """Every text a registry value of this filter may show as (and the rules' constants)."""
        out = set()

        def add(key, v):
            if fmt.is_none(v) or key not in M:
                return
            for s in (fmt.value(v, M[key].kind), fmt.num(v), fmt.num(v, 1), fmt.pct(v)):
                out.add(s.replace(",", ""))
        dicts = [self.town, self.r["previous"], self.r["year_ago"], *self.months.values(),
                 *self.slices.values(), *(self.villages[i] for i in self.villages),
                 *(self.grids[i] for i in self.grids)]
        for d in dicts:
            for k, v in d.items():
                add(k, v)
        for ch in (self.r["mom"], self.r["yoy"]):
            for k, v in ch.items():
                if not fmt.is_none(v):
                    out.update({fmt.pp(abs(v)).lstrip("+"), fmt.pct(abs(v)), fmt.pp(v).replace("−", "-"),
                                fmt.pp(v), fmt.signed_pct(v).replace("−", "-"), fmt.signed_pct(v)})
        prev = metrics.compute(conn, self.period.previous(), self.ids)["villages"]
        for vid in self.villages:        # villages' own 环比 (the alerts' sharp drops)
            for k in ("resolution_rate",):
                c = metrics.change(k, self.villages[vid][k], prev[vid][k] if vid in prev else None)
                if c is not None:
                    out.update({fmt.pp(c), fmt.pp(c).replace("−", "-"), fmt.pp(abs(c)).lstrip("+")})
        # the village page's own 环比/同比 and the township's average per village
        for vid in self.villages:
            mine = self.villages[vid]
            n = len(self.villages)
            for k, v in mine.items():
                if k in M and M[k].kind in ("count", "hours") and not fmt.is_none(self.town.get(k)) and n:
                    add(k, self.town[k] / n)
        from dashboard import targets
        tg = targets.get("resolution_rate")
        out.update({fmt.pct(tg.target), fmt.pct(tg.amber_edge), str(metrics.OVERDUE_DAYS),
                    str(metrics.SMALL_N)})
        out.update(str(i) for i in range(0, len(self.name) + 1))   # counts of villages named
        # the 报送情况 sentence's counts: the reporting board's own definitions (a second registry,
        # of reports rather than ledger figures), for the month the overview speaks of
        from dashboard.queries import completeness
        month = min(completeness.month_of(self.period.end), completeness.last_due_month())
        bd = completeness.board(conn, [month], self.ids)
        out.update(str(bd.count(month, st)) for st in ("reported", "zero", "missing"))
        out.add(str(bd.count(month, timing="late")))
        out.update({"100"})          # the index's scale in its method text (0–100 分)
        return out


def row_values(truth: Truth, ctx, key: str):
    """The registry's value of ``key`` for a row's entity."""
    kind, ident = ctx
    if kind == "town":
        return truth.town.get(key)
    if kind == "village":
        return truth.villages[ident].get(key)
    if kind == "grid":
        return truth.grids[ident].get(key)
    if kind == "month":
        return truth.month(ident).get(key)
    if kind == "slice":
        return truth.slices[ident].get(key)
    raise AssertionError(ctx)


def shown_ok(shown, key: str, value, numeric: bool) -> bool:
    """The page's text is fmt.value of the registry's value; a file's number is within the
    export's rounding of it (rates in percent)."""
    kind = M[key].kind
    if not numeric:
        return str(shown) == fmt.value(value, kind)
    if fmt.is_none(value):
        return fmt.is_none(shown) or shown in ("", None)
    try:
        x = float(str(shown).replace(",", ""))
    except ValueError:
        return False
    want = value * 100 if kind == "rate" else float(value)
    return abs(x - want) <= 0.051 + 1e-9


# ---------------------------------------------------------------- checking what is shown

class Check:
    def __init__(self, truth: Truth, where: str, whole=None):
        self.truth, self.where = truth, where
        self.whole = whole or ("town", None)   # the entity cards and 指标 rows speak of
        self.errors: list[str] = []
        self.count = 0

    def fail(self, msg):
        self.errors.append(f"{self.where}: {msg}")

    def value(self, label, shown, key, ctx, numeric=False):
        self.count += 1
        v = row_values(self.truth, ctx, key)
        if not shown_ok(shown, key, v, numeric):
            self.fail(f"{label} [{ctx}] shows {shown!r}, registry {key} = {v!r} ({fmt.value(v, M[key].kind)})")

    # cards ------------------------------------------------------------
    def card(self, label, value):
        if label in (t("village.index", L), t("village.index_rank", L)):
            return    # the governance index and its rank: table checks below
        key = HEAD.get(label)
        if key is None:
            self.fail(f"card {label!r} = {value!r} is no registry figure")
            return
        self.value(f"card {label}", value, key, self.whole)

    # tables -----------------------------------------------------------
    def _reporting(self, df, name):
        """The 报送情况 table (deck, PDF, HTML): every cell is the reporting board's status of
        that village and ledger for the month the deck speaks of (a second registry, of reports)."""
        from dashboard.queries import completeness
        month = min(completeness.month_of(self.truth.period.end), completeness.last_due_month())
        with self.truth.engine.connect() as c:
            bd = completeness.board(c, [month], self.truth.ids)
        by_name = {n: v for v, n in bd.villages}
        for i in range(len(df)):
            vname = str(df.iloc[i][t("completeness.col_village", L)])
            if vname not in by_name:
                self.fail(f"{name}: {vname!r} is no village of the board")
                continue
            for head, kind in KIND_HEADS_OF.items():
                if head not in df.columns:
                    continue
                cell = bd.cell(by_name[vname], kind, month)
                want = t(f"completeness.status_{cell.status}", L) + (
                    f"（{t('completeness.timing_' + cell.timing, L)}）" if cell.timing == "late" else "")
                self.count += 1
                if str(df.iloc[i][head]) != want:
                    self.fail(f"{name}: {vname} {head} shows {df.iloc[i][head]!r}, board {want!r}")

    def _ctx(self, df: pd.DataFrame, i: int):
        row = df.iloc[i]
        cols = list(df.columns)
        if C["col.grid_code"] in cols:
            return ("grid", self.truth.grid_by_code[str(row[C["col.grid_code"]])])
        if C["col.village"] in cols and self._per_village(df):
            return ("village", self.truth.by_name[str(row[C["col.village"]])])
        if C["col.month"] in cols:
            return ("month", str(row[C["col.month"]]))
        return None

    def _per_village(self, df) -> bool:
        """One row per village (the overview's 类型 column is the village's kind, not a slice)."""
        if C["col.village"] not in df.columns:
            return False
        v = [str(x) for x in df[C["col.village"]]]
        return len(set(v)) == len(v) and all(x in self.truth.by_name for x in v) and not (
            set(df.columns) & (SLICES - {t("overview.col_kind", L)}))

    def table(self, df: pd.DataFrame, name: str, numeric: bool):
        df = df.reset_index() if not isinstance(df.index, pd.RangeIndex) and df.index.name else df
        cols = [str(c) for c in df.columns]
        df.columns = cols
        if C["col.weight"] in cols:
            return                                      # the index's weights: settings, not figures
        if t("completeness.col_no", L) in cols and set(cols) & KIND_HEADS:
            return self._reporting(df, name)            # 报送情况: statuses, from the board
        for c in cols:
            if c not in HEAD and c not in NON_FIGURES:
                self.fail(f"{name}: column {c!r} is neither a registry figure nor a known column")
        if C["col.metric"] in cols:                     # rows are figures: the changes / profile table
            return self._metric_rows(df, name, numeric)
        if set(cols) & SLICES and not self._per_village(df):
            return self._slices(df, name, numeric)
        for i in range(len(df)):
            ctx = self._ctx(df, i)
            if ctx is None:
                self.fail(f"{name}: row {i} names no village, grid or month")
                break
            for c in cols:
                if c in HEAD:
                    self.value(f"{name}.{c}", df.iloc[i][c], HEAD[c], ctx, numeric)
            self._levels(df, i, ctx, name, numeric)
            if C["col.index"] in cols and ctx[0] == "village":
                self._index(df.iloc[i][C["col.index"]], ctx[1], name, numeric, df.iloc[i].get(C["col.rank"]))

    def _index(self, shown, vid, name, numeric, rank=None):
        row = self.truth.index[self.truth.index["village_id"] == vid].iloc[0]
        want = None if fmt.is_none(row["index"]) else float(row["index"])
        ok = (fmt.is_none(shown) or shown == "") if want is None else (
            abs(float(shown) - want) <= 0.051 if numeric else shown == fmt.num(want, 1))
        if not ok:
            self.fail(f"{name}: 综合指数 of {self.truth.name[vid]} shows {shown!r}, ranking {want!r}")
        if rank is not None and not fmt.is_none(row["rank"]) and str(rank).strip() not in ("", "—"):
            if int(float(rank)) != int(row["rank"]):
                self.fail(f"{name}: rank of {self.truth.name[vid]} shows {rank!r}, ranking {row['rank']}")

    def _levels(self, df, i, ctx, name, numeric):
        levels = [c for c in df.columns if c in LEVEL_HEADS]
        if len(levels) == 4 and ctx[0] == "village":
            total = sum(int(float(str(df.iloc[i][c]).replace(",", ""))) for c in levels)
            self.count += 1
            if total != row_values(self.truth, ctx, "disputes_resolved"):
                self.fail(f"{name}: levels of {ctx} add up to {total}")

    def _metric_rows(self, df, name, numeric):
        for i in range(len(df)):
            key = HEAD.get(str(df.iloc[i][C["col.metric"]]))
            if key is None:
                self.fail(f"{name}: row {df.iloc[i][C['col.metric']]!r} is no registry figure")
                continue
            r = self.truth.r
            whole = self.whole
            if whole[0] == "town":
                cur, prev, ago = r["township"], r["previous"], r["year_ago"]
            else:
                cur, prev, ago = self.truth.villages[whole[1]], self.village_prev, self.village_ago
            for col, src in ((C["changes.current"], cur), (C["changes.previous"], prev),
                             (C["changes.year_ago"], ago), (C["village.col_value"], cur)):
                if col in df.columns:
                    self.count += 1
                    v = src.get(key)
                    if not shown_ok(df.iloc[i][col], key, v, numeric) and not (
                            numeric and col != C["village.col_value"] and _close(df.iloc[i][col], v, M[key].kind)):
                        self.fail(f"{name}: {key} {col} shows {df.iloc[i][col]!r}, registry {v!r}")
            if C["village.col_township"] in df.columns:
                town = self.town_all.get(key)
                n = self.n_all
                v = (town / n if town is not None else None) if M[key].kind in ("count", "hours") else town
                self.count += 1
                if not shown_ok(df.iloc[i][C["village.col_township"]], key, v, numeric):
                    self.fail(f"{name}: {key} township column shows {df.iloc[i][C['village.col_township']]!r}, "
                              f"registry {v!r}")

    def _slices(self, df, name, numeric):
        cols = list(df.columns)
        if t("col.case_no", L) in cols:                 # the 督办 list: one row per overdue case
            self.count += 1
            if len(df) != (self.supervision_total or 0) and len(df) != min(rbuild.TOP_N, self.supervision_total or 0):
                self.fail(f"{name}: {len(df)} cases listed, registry backlog_overdue = {self.supervision_total}")
            return
        full = not (t("col.rep_name", L) in cols and len(df) >= 20 and not numeric and False)
        whole = row_values(self.truth, self.whole, "disputes_total") is not None
        for c in cols:
            key = HEAD.get(c)
            if key is None:
                continue
            vals = [None if fmt.is_none(x) or x in ("", fmt.NONE) else float(str(x).replace(",", "").rstrip("%"))
                    for x in df[c]]
            m = M[key]
            if m.kind in ("count", "hours") and full and whole:
                self.count += 1
                total = row_values(self.truth, self.whole, key)
                got = sum(v for v in vals if v is not None)
                if abs(got - float(total)) > 0.06 * max(1, len(vals)):
                    self.fail(f"{name}: {c} adds up to {got}, registry {key} = {total}")
            elif m.kind == "rate" and m.numerator and m.denominator:
                nc = next((h for h in cols if HEAD.get(h) == m.numerator), None)
                dc = next((h for h in cols if HEAD.get(h) == m.denominator), None)
                if nc is None or dc is None:
                    self.fail(f"{name}: rate {c} without its count columns")
                    continue
                for i, v in enumerate(vals):
                    n = float(str(df.iloc[i][nc]).replace(",", ""))
                    d = float(str(df.iloc[i][dc]).replace(",", ""))
                    want = n / d if d else None
                    self.count += 1
                    if not shown_ok(df.iloc[i][c], key, want, numeric):
                        self.fail(f"{name}: {c} row {i} shows {df.iloc[i][c]!r}, {n}/{d}")

    supervision_total = None
    village_prev = village_ago = None
    town_all, n_all = None, 0          # the village page: the whole township it compares with

    # charts -----------------------------------------------------------
    def trace(self, name, cats, vals, chart: str):
        if name is None:
            return
        key = HEAD.get(name)
        if key is None:
            if name not in TRACES:
                self.fail(f"chart {chart}: series {name!r} is no registry figure")
            elif name == C["village.col_value"]:
                for c, v in zip(cats, vals):
                    self._num(f"chart {chart} {name}", HEAD[c], self.whole, v)
            elif name == t("scope.township", L):    # the village page compares with the whole township
                town = self.town_all or self.truth.town
                for c, v in zip(cats, vals):
                    self.count += 1
                    want = town.get(HEAD[c])
                    if not (fmt.is_none(want) and fmt.is_none(v)) and (
                            fmt.is_none(want) or fmt.is_none(v) or abs(v - want) > 1e-9):
                        self.fail(f"chart {chart} {name}: {c} = {v!r}, registry {want!r}")
            elif name == t("charts.index", L):
                for c, v in zip(cats, vals):
                    self._index(v, self.truth.by_name[c], f"chart {chart}", True)
            return
        for c, v in zip(cats, vals):
            c = str(c)
            ctx = (("village", self.truth.by_name[c]) if c in self.truth.by_name else
                   ("month", c) if re.fullmatch(r"\d{4}-\d{2}", c) else
                   ("slice", c) if c in self.truth.slices else None)
            if ctx is None:
                return          # a slice (category, team, representative): its table is checked
            self._num(f"chart {chart} {name}", key, ctx, v)

    def _num(self, label, key, ctx, v):
        self.count += 1
        want = row_values(self.truth, ctx, key)
        if fmt.is_none(want):
            if not fmt.is_none(v):
                self.fail(f"{label} [{ctx}] = {v!r}, registry undefined")
            return
        if fmt.is_none(v) or abs(float(v) - float(want)) > 1e-6 * max(1, abs(float(want))) and \
                abs(float(v) - float(want) * 100) > 0.051:
            self.fail(f"{label} [{ctx}] = {v!r}, registry {key} = {want!r}")

    # text -------------------------------------------------------------
    def text(self, s: str, where: str):
        s = NOT_FIGURES_TEXT.sub(" ", str(s).replace("\\", ""))
        for num, unit in NUM.findall(s):
            self.count += 1
            n = num.replace(",", "").lstrip("+").replace("−", "-")
            shown = n + ("%" if unit == "%" else "")
            if shown not in self.truth.allowed and n not in self.truth.allowed and n.lstrip("-") not in self.truth.allowed:
                self.fail(f"{where}: {num}{unit} is no registry value of this filter")

    def done(self, at_least: int = 1):
        print(f"{self.where}: {self.count} figures checked")
        assert not self.errors, "\n".join(self.errors[:40])
        assert self.count >= at_least, f"{self.where}: only {self.count} figures checked"


def _close(shown, v, kind) -> bool:
    try:
        x = float(shown)
    except (TypeError, ValueError):
        return fmt.is_none(v) and fmt.is_none(shown)
    return v is not None and abs(x - (v * 100 if kind == "rate" else v)) <= 0.051


# ---------------------------------------------------------------- running the pages

pytestmark = pytest.mark.usefixtures("fresh_cache")


@pytest.fixture(scope="module")
def truths(demo_url):
    from dashboard.db.engine import get_engine
    eng = get_engine(demo_url)
    with eng.connect() as c:
        return {k: Truth(c, v) for k, v in FILTERS.items()}


@pytest.fixture
def env(demo_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    return demo_url


@pytest.fixture
def downloads(monkeypatch):
    got: list[tuple[str, bytes]] = []
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def rec_add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:
            got.append((file_name, data))
        return add(self, data, mimetype, coordinates, file_name, is_for_static_download)

    def rec_deferred(self, fn, mimetype, coordinates, file_name=None, **kw):
        got.append((file_name, fn))
        return add_deferred(self, fn, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", rec_add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", rec_deferred)
    return got


def _run(page: str, truth: Truth, village: int | None = None) -> AppTest:
    at = AppTest.from_file(str(nav.ROOT / f"pages/{page}.py"), default_timeout=180)
    at.session_state["lang"] = L
    for k, v in truth.url().items():
        at.query_params[k] = v
    if village is not None:
        at.query_params["village"] = str(village)
    if page == "meeting":
        at.session_state["meeting_opts"] = {"preparer": "", "orientation": "landscape", "with_map": False}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _csv(data: bytes) -> pd.DataFrame:
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return pd.DataFrame(rows[1:], columns=rows[0]).replace({"": None})


def _page_elements(at: AppTest, chk: Check, page: str):
    for m in at.metric:
        chk.card(m.label, m.value)
    for i, d in enumerate(at.dataframe):
        chk.table(d.value.copy(), f"{page} table {i}", numeric=False)
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        for tr in spec["data"]:
            x, y = tr.get("x"), tr.get("y")
            if tr.get("type") in ("pie", "funnel", "scatterpolar") or x is None or y is None:
                continue
            cats, vals = (x, y) if tr.get("orientation") != "h" else (y, x)
            chk.trace(tr.get("name"), cats, vals, spec.get("layout", {}).get("title", {}).get("text", ""))
    for kind in ("caption", "markdown", "subheader", "info", "success", "warning"):
        for e in getattr(at, kind):
            chk.text(e.value, f"{page} {kind}")
    for e in at.get("html"):
        chk.text(re.sub(r"<style>.*?</style>|<[^>]+>", " ", e.proto.body, flags=re.S), f"{page} html")


def _files(chk: Check, files, page: str):
    for name, data in files:
        data = data() if callable(data) else data
        if name.endswith(".csv"):
            chk.table(_csv(data), f"{page} {name}", numeric=True)
        elif name.endswith(".xlsx"):
            wb = openpyxl.load_workbook(io.BytesIO(data))
            for ws in wb.worksheets:
                rows = [list(r) for r in ws.iter_rows(values_only=True)]
                chk.table(pd.DataFrame(rows[1:], columns=[str(h or "") for h in rows[0]]), f"{page} {name}", True)
        elif name.endswith(".pptx"):
            _pptx(chk, data, name)
        elif name.endswith(".pdf"):
            _pdf(chk, data, name)
        elif name.endswith(".html"):
            _html(chk, data.decode("utf-8") if isinstance(data, bytes) else data, name)


def _pptx(chk: Check, data: bytes, name: str):
    from pptx import Presentation
    prs = Presentation(io.BytesIO(data))
    for n, slide in enumerate(prs.slides, start=1):
        for sh in slide.shapes:
            if sh.has_table:
                rows = [[c.text for c in r.cells] for r in sh.table.rows]
                chk.table(pd.DataFrame(rows[1:], columns=rows[0]), f"{name} slide {n} table", numeric=False)
            elif sh.has_chart:
                ch = sh.chart
                cats = list(ch.plots[0].categories)
                if ch.chart_type is not None and "PIE" in str(ch.chart_type):
                    s = ch.series[0]
                    vals = [v or 0 for v in s.values]
                    key = HEAD.get(s.name)
                    chk.count += 1
                    if key is None or abs(sum(vals) - (chk.truth.town.get(key) or 0)) > 1e-6:
                        chk.fail(f"{name} slide {n}: pie {s.name!r} adds up to {sum(vals)}")
                    elif sum(vals):      # each slice's share of a checked total (pie labels)
                        chk.truth.allowed.update(fmt.pct(v / sum(vals)) for v in vals)
                        chk.truth.allowed.update(fmt.num(v) for v in vals)
                    continue
                for s in ch.series:
                    chk.trace(s.name, cats, list(s.values), f"{name} slide {n}")
            elif sh.has_text_frame:
                chk.text(sh.text_frame.text, f"{name} slide {n}")


def _pdf(chk: Check, data: bytes, name: str):
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    chk.text(out.stdout.decode("utf-8"), name)


def _map_data(page: str) -> list[dict]:
    """The tooltips' properties of every coloured layer in a map page (maps.Choropleth)."""
    out, dec = [], json.JSONDecoder()
    for mo in re.finditer(r'\{"s":\d', page):
        obj, _ = dec.raw_decode(page, mo.start())
        out.append([p for _, p in obj["f"]])
    rows = [json.loads(mo.group(1)) for mo in re.finditer(r"var rows = (\[\[.*?\]\]);", page)]
    coloured = [o for o in out if any(isinstance(p, dict) and "x" in p for p in o)]
    return list(zip(coloured, rows)) if rows else [(o, []) for o in coloured]


def _map(chk: Check, page: str, name: str, metric: str, level: str):
    """Each tooltip: the registry's value (fmt) and its rank by the registry's rule."""
    from dashboard.queries import map as qmap
    layers = [(props, rows) for props, rows in _map_data(page) if any("x" in p for p in props if isinstance(p, dict))]
    assert layers, f"{name}: no coloured layer found"
    props, rows = layers[0]
    label = maps.metric_label(metric, L)
    if rows:
        assert [label, "x"] in rows, (name, rows)
    vals = chk.truth.villages if level == "village" else chk.truth.grids
    rk = ranking.ranks({i: vals[i] for i in vals}, metric)
    for p in props:
        if not isinstance(p, dict) or "i" not in p:
            continue
        ctx = (level, int(p["i"]))
        chk.count += 1
        m = M[metric]
        den = row_values(chk.truth, ctx, m.denominator) if m.kind == "rate" else None
        want = maps.format_value(metric, row_values(chk.truth, ctx, metric), L)
        if den is not None and not fmt.is_none(row_values(chk.truth, ctx, metric)):   # the rate beside its count
            want += f"（{fmt.num(den)}{M[m.denominator].unit_zh}）"
        if p["x"] != maps.esc(want):
            chk.fail(f"{name}: tooltip of {ctx} shows {p['x']!r}, registry {want!r}")
        if p.get("r") != rk[int(p["i"])][0]:
            chk.fail(f"{name}: tooltip rank of {ctx} is {p.get('r')!r}, registry rule {rk[int(p['i'])][0]!r}")


def _html(chk: Check, page: str, name: str):
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", page, flags=re.S)
    for tb in pd.read_html(io.StringIO(body), thousands=None, keep_default_na=False) if "<table" in body else []:
        chk.table(tb.astype(str).replace({"nan": None}), f"{name} table", numeric=False)
    chk.text(re.sub(r"<[^>]+>", " ", body), name)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("filt", list(FILTERS))
def test_every_figure_is_the_registrys(env, truths, downloads, filt, page):
    truth = truths[filt]
    village = None
    whole = ("town", None)
    if page == "village":
        village = truth.ids[0] if truth.ids else truth.by_name["红旗村"]
        whole = ("village", village)
    chk = Check(truth, f"{filt}/{page}", whole)
    if page == "village":
        from dashboard.db.engine import get_engine
        with get_engine(env).connect() as c:
            chk.village_prev = metrics.compute(c, truth.period.previous(), [village])["villages"][village]
            chk.village_ago = metrics.compute(c, truth.period.year_ago(), [village])["villages"][village]
            chk.supervision_total = metrics.compute(c, truth.period, [village])["township"]["backlog_overdue"]
            everyone = metrics.compute(c, truth.period)
            chk.town_all, chk.n_all = everyone["township"], len(everyone["villages"])
    else:
        chk.supervision_total = truth.town["backlog_overdue"]
    if page == "village":
        truth.scope_ids = (village,)
    try:
        at = _run(page, truth, village)
        _page_elements(at, chk, page)
        _rest(at, chk, truth, page, downloads)
    finally:
        truth.scope_ids = None
    chk.done(at_least=3)


def _rest(at, chk, truth, page, downloads):
    if page == "map":          # the default map, then 超期积案 per grid
        html_files = [(n, d) for n, d in downloads if n.endswith(".html")]
        _map(chk, html_files[-1][1](), "map html", "resolution_rate", "village")
        del downloads[:]
        at.selectbox(key="map_metric").set_value("backlog_overdue").run()
        at.radio(key="map_level").set_value("grid").run()
        assert not at.exception, [e.value for e in at.exception]
        _page_elements(at, chk, "map grid")
        html_files = [(n, d) for n, d in downloads if n.endswith(".html")]
        _map(chk, html_files[-1][1](), "map html grid", "backlog_overdue", "grid")
        caption = " ".join(c.value for c in at.caption)
        assert maps.metric_label("backlog_overdue", L) == "超期积案" and "超期积案" in caption
        return
    if page == "meeting":      # every screen of the deck
        from dashboard.ui import meeting as mt
        n = int(re.search(r"/ (\d+)", next(m.value for m in at.markdown if "页" in m.value)).group(1))
        for _ in range(n - 1):
            at.button(key=mt.NEXT).click().run()
            assert not at.exception, [e.value for e in at.exception]
            _page_elements(at, chk, f"{page} screen")
    _files(chk, downloads, page)
