"""总览 Overview: headline KPIs with 环比/同比, alerts, the village table, the governance index (红黑榜)."""
import streamlit as st

from dashboard import charts, export, fmt, metrics, settings
from dashboard.queries import completeness, overview, ranking
from dashboard.ui import common as ui
from dashboard.ui import quality as quality_ui
from dashboard.ui import widgets as w

ui.page_header("overview.title")
f = ui.filters()
lang = ui.lang()
st.caption(f"{f.period.label(lang)} · {ui.data_as_of()}")

k = ui.cached(overview.kpis)(f.period, f.village_ids)
st.subheader(ui.t("overview.kpis"))
items = list(k.items())
cols = [c for row in range(0, len(items), 4) for c in st.columns(4)]  # rows of four: no truncated figures
for col, (key, v) in zip(cols, items):
    m = metrics.METRICS[key]
    w.lit(col, key, v["value"]).metric(m.name(lang), fmt.value(v["value"], m.kind),
               delta=None if v["mom"] is None else  # Streamlit reads the sign from an ASCII "-"
               f"{overview.format_change(key, v['mom'], lang).replace(chr(0x2212), '-')} {ui.t('overview.mom')}",
               delta_color="off" if v["mom"] is None or m.direction == "neutral"
               else ("normal" if m.direction == "higher" else "inverse"),
               help=f"{m.definition(lang)}\n\n{ui.t('overview.yoy')}：{overview.format_change(key, v['yoy'], lang)}"
               + w.target_help(key, v["value"]),
               border=True)

st.subheader(ui.t("overview.alerts"))
target = settings.get("DASHBOARD_TARGET_RATE")
items = ui.shared("overview.alerts", f.key, target, lang)(lambda: [  # each full list as Arrow, once
    {**a, "table": None if a.get("table") is None else ui.arrow(a["table"])}
    for a in ui.cached(overview.alert_items)(f.period, f.village_ids, target, lang)])
for a in items or [{"text": ui.t("overview.no_alerts"), "villages": None}]:
    st.markdown(f"- {fmt.md(a['text'])}")
    if a.get("table") is not None:   # the sentence names a few; the whole list is one click away
        with st.expander(ui.t("alerts.full_list", n=len(a["table"]))):
            st.dataframe(a["table"], width="stretch", hide_index=True)
for line in ui.cached(completeness.overview_lines)(f.period.end, f.village_ids, lang):  # 报送情况
    st.markdown(f"- {fmt.md(line)}")
quality_ui.overview_panel(f)

st.subheader(ui.t("overview.village_table"))
sort_key = st.selectbox(ui.t("overview.sort_by"), overview.TABLE_METRICS,
                        format_func=lambda key: metrics.METRICS[key].name(lang), index=2)
# formatted once for every session viewing this filter and sort (not at each rerun)
shown = ui.shared("overview.table", f.key, sort_key, lang)(lambda: ui.arrow(overview.table_for_display(
    ui.cached(overview.village_table)(f.period, f.village_ids, sort_key, lang), lang)))
st.dataframe(shown, width="stretch")
# numbers, not the formatted text, in the file (made at the click)
w.download(lambda: export.table_to_csv(overview.table_for_display(
    ui.cached(overview.village_table)(f.period, f.village_ids, sort_key, lang), lang, True)),
    "overview", f, label_key="overview.download")

st.subheader(ui.t("ranking.title"))
weights = ranking.load_weights()
board = w.ranking_board(f, weights)
if board["empty"]:
    st.info(ui.t("ranking.none"))
else:
    w.red_black(board)
    fig = ui.shared("overview.index_bar", f.key, weights, lang)(
        lambda: w.frozen(charts.index_bar(ui.cached(ranking.index)(f.period, f.village_ids, weights),
                                          lang, ui.t("ranking.chart"))))
    w.chart(fig, board["marked"], ranking.spec(weights), "governance_index", f)
if board["small"]:
    st.caption(ui.t("ranking.small_note", n=metrics.SMALL_N, k=board["small"]))
w.weights_expander(weights)
