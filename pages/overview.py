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
items = ui.cached(overview.alert_items)(f.period, f.village_ids, settings.get("DASHBOARD_TARGET_RATE"), lang)
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
shown = ui.shared("overview.table", f.key, sort_key, lang)(lambda: overview.table_for_display(
    ui.cached(overview.village_table)(f.period, f.village_ids, sort_key, lang), lang))
st.dataframe(shown, width="stretch")
# numbers, not the formatted text, in the file (made at the click)
w.download(lambda: export.table_to_csv(overview.table_for_display(
    ui.cached(overview.village_table)(f.period, f.village_ids, sort_key, lang), lang, True)),
    "overview", f, label_key="overview.download")

st.subheader(ui.t("ranking.title"))
weights = ranking.load_weights()
idx = ui.cached(ranking.index)(f.period, f.village_ids, weights)
red, black = ranking.red_black(idx, weights["red_black_size"])
if red.empty:
    st.info(ui.t("ranking.none"))
else:
    w.red_black(red, black, weights)
    fig = ui.shared("overview.index_bar", f.key, weights, lang)(
        lambda: charts.index_bar(ui.cached(ranking.index)(f.period, f.village_ids, weights), lang,
                                 ui.t("ranking.chart")))
    w.chart(fig, ranking.with_marks(idx, lang), ranking.spec(weights), "governance_index", f)
if idx["small"].any():
    st.caption(ui.t("ranking.small_note", n=metrics.SMALL_N, k=int(idx["small"].sum())))
w.weights_expander(weights)
