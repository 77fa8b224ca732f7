"""村庄画像 Village profile: one village across every topic, its grids, trend, rank and the township."""
import streamlit as st

from dashboard import charts
from dashboard.queries import ranking
from dashboard.queries import village as q
from dashboard.ui import common as ui
from dashboard.ui import quality as quality_ui
from dashboard.ui import widgets as w

ui.page_header("village.title")
f = ui.filters(show_villages=False)
lang = ui.lang()
vid = w.village_picker(ui.village_names())
if vid is None:
    st.info(ui.t("app.no_data"))
    st.stop()
w.caption(f)
p = ui.cached(q.profile)(vid, f.period, lang)
v, idx = p["village"], p["index"]

st.subheader(ui.t("village.heading", name=ui.fmt.md(v["name"]), kind=ui.t(f"enum.kind.{v['kind']}")))
st.caption(ui.t("village.facts", households=ui.fmt.num(v["households"]),
                population=ui.fmt.num(v["population"]), members=ui.fmt.num(v["party_members"]),
                grids=ui.fmt.num(p["values"]["grids"]), workers=ui.fmt.num(p["values"]["grid_workers"])))
c1, c2 = st.columns(2)
c1.metric(ui.t("village.index"), ui.fmt.num(idx["value"], 1), border=True, help=ui.t("ranking.method"))
c2.metric(ui.t("village.index_rank"), ui.t("village.rank_of", rank=idx["rank"] or "—", n=idx["ranked"]),
          border=True)
quality_ui.village_panel(f, vid)
w.kpi_row(q.KPIS, p["kpis"], per_row=3)
w.changes(q.CHANGE_KEYS, p["kpis"], "village_changes", f)

st.subheader(ui.t("village.compare"))
st.plotly_chart(charts.village_vs_township(p["values"], p["township"], lang), width="stretch",
                config=charts.CONFIG, key="chart_vs_township")
st.caption(ui.t("village.compare_note"))
st.dataframe(q.table_for_display(p["table"], lang), width="stretch", height=480)
w.download(q.table_for_display(p["table"], lang, export=True), "village_profile", f)

st.subheader(ui.t("village.trend"))
w.chart(charts.village_trend(p["trend"], lang), p["trend"], q.TREND_SPEC, "village_trend", f)

c1, c2 = st.columns([2, 3])
with c1:
    st.subheader(ui.t("village.index_scores"))
    st.plotly_chart(charts.index_radar(idx["scores"], lang), width="stretch", config=charts.CONFIG,
                    key="chart_index_radar")
    w.weights_expander(ranking.load_weights())
with c2:
    st.subheader(ui.t("village.grids"))
    if not w.no_data(p["grids"]):
        w.table(p["grids"], q.GRID_SPEC, "village_grids", f, height=420)

w.supervision(p["supervision"], f, "village_supervision")
