"""Streamlit widgets shared by the analytics pages: KPI cards, charts with data downloads, tables.

A KPI card shows the registry's name and value (Chinese formatting), the 环比 change as its
delta and, on hover, the definition, "numerator / denominator" with the actual figures, the
同比 change and the previous values. Every chart and table comes with a CSV download
(UTF-8 with BOM) of the numbers behind it.
"""
from __future__ import annotations

import itertools
import re

import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, export, fmt, metrics, targets
from dashboard.queries import overview
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl


def _delta_color(key: str, change) -> str:
    m = metrics.METRICS[key]
    if change is None or m.direction == "neutral" or abs(change) < 0.0005:
        return "off"
    return "normal" if m.direction == "higher" else "inverse"


def help_text(key: str, values: dict, mom=None, yoy=None, previous=None, year_ago=None) -> str:
    """Hover text: definition, numerator / denominator with figures, both changes."""
    lang = ui.lang()
    m = metrics.METRICS[key]
    lines = [f"**{ui.t('analytics.definition')}**：{m.definition(lang)}"]
    f = metrics.formula(key, values, lang)
    if f:
        lines.append(f"{ui.t('analytics.formula')}：{f}")
    if previous is not None or mom is not None:
        lines.append(f"{ui.t('overview.mom')}：{overview.format_change(key, mom, lang)}"
                     f"（{ui.t('analytics.previous')} {fmt.value(previous, m.kind)}）")
    if year_ago is not None or yoy is not None:
        lines.append(f"{ui.t('overview.yoy')}：{overview.format_change(key, yoy, lang)}"
                     f"（{ui.t('analytics.year_ago')} {fmt.value(year_ago, m.kind)}）")
    return "\n\n".join(lines)


_LIGHT_CSS = "".join(
    f'[class*="st-key-light-{k}-"] [data-testid="stMetric"]{{border-left:.45rem solid {c} !important}}'
    for k, c in targets.COLOURS.items())
_boxes = itertools.count()
# Streamlit cuts a long delta ("-2.5个百分点 环比" in a sixth of a 1366 screen) with an ellipsis; wrap it
_CARD_CSS = ('[data-testid="stMetricDelta"],[data-testid="stMetricDelta"] *'
             '{white-space:normal !important;overflow:visible !important;text-overflow:clip !important}')


def lit(container, key: str, value, target: float | None = None):
    """``container``, or a box inside it edged green/amber/red when the figure has a target."""
    light = targets.light(key, value, target)
    if light is None:
        return container
    container.html(f"<style>{_LIGHT_CSS}</style>")   # style only: takes no space
    return container.container(key=f"light-{light}-{next(_boxes)}")


def target_help(key: str, value, target: float | None = None) -> str:
    """The hover line of a figure with a target: its light and the thresholds ("" without)."""
    light = targets.light(key, value, target)
    if light is None:
        return ""
    lang = ui.lang()
    return f"\n\n{targets.symbol(light, lang)}（{targets.rule(key, lang, target)}）"


def metric_card(container, key: str, values: dict, mom=None, yoy=None, previous=None,
                year_ago=None) -> None:
    lang = ui.lang()
    m = metrics.METRICS[key]
    container = lit(container, key, values.get(key))
    delta = None
    if mom is not None:
        # Streamlit reads the arrow's direction from a leading ASCII "-", so the change goes first
        delta = f"{overview.format_change(key, mom, lang).replace(chr(0x2212), '-')} {ui.t('overview.mom')}"
    container.metric(m.name(lang), fmt.value(values.get(key), m.kind), delta=delta,
                     delta_color=_delta_color(key, mom),
                     help=help_text(key, values, mom, yoy, previous, year_ago) + target_help(key, values.get(key)),
                     border=True)


def kpi_row(keys, result: dict, per_row: int = 6) -> None:
    """Cards for keys from metrics.with_changes() output (township figures and changes)."""
    keys = list(keys)
    st.html(f"<style>{_CARD_CSS}</style>")   # style only: takes no space
    for i in range(0, len(keys), per_row):
        cols = st.columns(per_row)
        for col, key in zip(cols, keys[i:i + per_row]):
            metric_card(col, key, result["township"], result["mom"].get(key), result["yoy"].get(key),
                        result["previous"].get(key), result["year_ago"].get(key))


def kpi_block(keys, name: str, f, per_row: int = 6) -> dict:
    """A topic page's KPI section: heading, cards with 环比, the changes expander; returns the figures."""
    from dashboard import metrics
    st.subheader(ui.t("analytics.kpis"))
    result = ui.cached(metrics.with_changes)(f.period, f.village_ids)
    kpi_row(keys, result, per_row=per_row)
    changes(keys, result, name, f)
    return result


def changes(keys, result: dict, name: str, f=None) -> None:
    """An expander with this period, the previous one, last year's and both changes (and a CSV)."""
    lang = ui.lang()
    with st.expander(ui.t("changes.title")):
        st.dataframe(overview.changes_table(result, keys, lang), width="stretch")
        download(lambda: export.table_to_csv(overview.changes_table(result, keys, lang, export=True)), name, f)


def csv_data(df, spec=None, lang: str = "zh"):
    """() -> the CSV bytes (UTF-8 with BOM) of df, formatted by ``spec`` as in fmt.frame(export=True)
    (None: df as it is); made only when called, i.e. when someone presses the download button."""
    def make() -> bytes:
        return export.table_to_csv(df if spec is None else fmt.frame(df, spec, lang, export=True))
    return make


def download(df, name: str, f=None, label_key: str = "analytics.download") -> None:
    """A CSV download (UTF-8 with BOM) of df; the file name carries the period.

    df: a frame, or a callable making the bytes (``csv_data``): then the file is made when the
    button is pressed, not on every run of the page."""
    suffix = f"_{f.period.start}_{f.period.end}" if f is not None else ""
    data = df if callable(df) else csv_data(df)
    dl.button(st, ui.t(label_key), data, file_name=f"{name}{suffix}.csv",
                     mime="text/csv", key=f"dl_{name}", icon=":material/download:")


def village_from_query(names: dict[int, str], param: str = "village") -> int | None:
    """The village id in ?village=<id> (the map links here), if it names a known village."""
    raw = st.query_params.get(param)
    try:
        vid = int(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if vid in names:
        return vid
    if any(v["id"] == vid for v in ui.facts()["villages"]) and \
            st.session_state.get("_village_denied") != raw:     # another township's village
        st.session_state["_village_denied"] = raw
        ui.out_of_scope({param: raw})
    return None


class _Frozen(go.Figure):
    def __init__(self, source):
        super().__init__(source)
        self._frozen_dict = super().to_dict()

    def to_dict(self):
        return self._frozen_dict


def frozen(fig) -> go.Figure:
    """A figure for ``ui.shared``: its dict made once. st.plotly_chart asks a figure for its
    dict (a deep copy of every trace) at every rerun of every session: for the county's
    500-village index bar, more time than the rest of the chart. The figure must not change
    after this (shared values never do)."""
    return _Frozen(fig)


def chart(fig, df, spec, name: str, f=None) -> None:
    """The figure (offline plotly config) and a CSV download of the numbers behind it.

    spec: the columns as in fmt.frame (None: df as it is)."""
    st.plotly_chart(fig, width="stretch", config=charts.CONFIG, key=f"chart_{name}")
    download(csv_data(df, spec, ui.lang()), name, f)


def table(df, spec, name: str, f=None, height: int | None = None, total: int | None = None,
          full=None) -> None:
    """A formatted table (Chinese number formats, translated headers) and its CSV download.

    A list longer than settings.LIST_ON_SCREEN shows its first that many rows and says so; the
    download holds every row: ``full()`` (made at the click) when the caller read only the
    first rows (``total``: how many there are), else ``df``."""
    from dashboard import settings
    lang = ui.lang()
    n = len(df) if total is None else total
    cut = df.head(settings.LIST_ON_SCREEN)
    shown = fmt.frame(cut, spec, lang)
    kw = {"height": height} if height and len(cut) > 10 else {}
    st.dataframe(shown, width="stretch", hide_index="rank" in df.columns, **kw)
    if n > len(cut):
        st.caption(ui.t("analytics.list_cut", shown=fmt.num(len(cut)), n=fmt.num(n)))
    make = csv_data(df, spec, lang) if full is None else (lambda: csv_data(full(), spec, lang)())
    download(make, name, f)


def supervision(df, f, name: str, total: int | None = None, full=None) -> None:
    """The 督办 list (queries.disputes.supervision) under its heading, with its count and download.
    ``df`` may be the oldest cases only: then ``total`` is the registry's backlog_overdue and
    ``full()`` the whole list (see ``table``)."""
    from dashboard.queries import disputes
    n = len(df) if total is None else int(total)
    st.subheader(ui.t("disputes.overdue", days=metrics.OVERDUE_DAYS, end=f.period.end.isoformat(),
                      n=fmt.num(n)))
    st.caption(ui.t("disputes.overdue_note", days=metrics.OVERDUE_DAYS))
    if df.empty:
        st.success(ui.t("disputes.no_overdue"))
    else:
        table(df, disputes.OVERDUE_SPEC, name, f, height=360, total=n, full=full)


def definitions(keys) -> None:
    """An expander listing the definition of each metric on the page (口径说明)."""
    lang = ui.lang()
    with st.expander(ui.t("analytics.definitions")):
        for k in keys:
            m = metrics.METRICS[k]
            st.markdown(f"- **{fmt.md(m.name(lang))}**（{fmt.md(m.unit(lang))}）：{fmt.md(m.definition(lang))}")


def caption(f) -> None:
    """Period, comparison periods and data freshness under the title."""
    lang = ui.lang()
    st.caption(ui.t("analytics.caption", period=f.period.label(lang),
                    previous=f.period.previous().label(lang), year_ago=f.period.year_ago().label(lang),
                    as_of=ui.data_as_of()))


def no_data(df) -> bool:
    """Show the 'no data' note when the frame is empty; True when it was."""
    if df is None or len(df) == 0:
        st.info(ui.t("app.no_data"))
        return True
    return False


def village_picker(names: dict[int, str], key: str = "village_pick") -> int | None:
    """A village select box that follows ?village=<id> (links from the map) and writes it back,
    so the address of the page names the village shown."""
    if not names:
        return None
    ids = list(names)
    wanted = village_from_query(names)
    if wanted is not None and st.session_state.get(f"_{key}_synced") != wanted:
        st.session_state[key] = wanted      # arrived through a link: show that village
    if st.session_state.get(key) not in names:
        st.session_state[key] = ids[0]
    vid = st.selectbox(ui.t("village.choose"), ids, format_func=names.get, key=key)
    st.session_state[f"_{key}_synced"] = vid
    if st.query_params.get("village") != str(vid):
        st.query_params["village"] = str(vid)
    return vid


def light_columns(df, spec, lang: str) -> dict:
    """st.dataframe column_config giving each traffic-light column of ``spec`` the thresholds on
    hover, as the cards do (dashboard.targets)."""
    from dashboard.queries import ranking
    out = {}
    for col, label, kind in spec:
        if col == "light":
            out[ui.t(label)] = st.column_config.TextColumn(help=targets.rule(ranking.INDEX_CASES, lang))
    return out


def ranking_board(f, weights: dict) -> dict:
    """The governance index for the filter, built once for every session viewing it (per data
    version, weights and language): the index, its 红榜/黑榜 as display frames with their light
    columns, the index with its small-number marks (the chart's CSV) and how many are marked."""
    from dashboard.queries import ranking
    lang = ui.lang()

    def make():
        idx = ui.cached(ranking.index)(f.period, f.village_ids, weights)
        red, black = ranking.red_black(idx, weights["red_black_size"])
        spec = ranking.spec(weights)[:ranking.LIST_COLUMNS]
        lists = [(len(df), ui.arrow(fmt.frame(ranking.with_marks(df, lang), spec, lang)), light_columns(df, spec, lang))
                 for df in (red, black)]
        return {"idx": idx, "empty": red.empty, "lists": lists, "marked": ranking.with_marks(idx, lang),
                "small": int(idx["small"].sum())}
    return ui.shared("ranking.board", f.key, weights, lang)(make)


def red_black(board: dict) -> None:
    """The 红榜 and 黑榜 side by side (``ranking_board``): rank, village, index, cases and
    resolution rate with its light (thresholds on hover) and the small-number note."""
    (n_red, red, red_cfg), (n_black, black, black_cfg) = board["lists"]
    c1, c2 = st.columns(2)
    for col, shown, cfg, head in ((c1, red, red_cfg, f"**:red[{fmt.md(ui.t('ranking.red', n=n_red))}]**"),
                                  (c2, black, black_cfg, f"**{fmt.md(ui.t('ranking.black', n=n_black))}**")):
        col.markdown(head)
        col.dataframe(shown, width="stretch", column_config=cfg)


def weights_expander(weights: dict) -> None:
    """The governance index's weights and method, as configured (DASHBOARD_WEIGHTS)."""
    from dashboard.queries import ranking
    lang = ui.lang()
    with st.expander(ui.t("ranking.weights")):
        st.markdown(ui.t("ranking.method"))
        st.dataframe(ui.shared("ranking.weights_table", weights, lang)(
            lambda: ui.arrow(fmt.frame(ranking.weights_table(weights, lang), ranking.WEIGHT_SPEC, lang))), width="stretch")

