"""志愿服务 Volunteers: monthly hours, hours per 100 residents by village, teams, activity mix, points."""
import streamlit as st

from dashboard import charts
from dashboard.queries import volunteers as q
from dashboard.ui import common as ui
from dashboard.ui import widgets as w

ui.page_header("volunteers.title")
f = ui.filters()
lang = ui.lang()
w.caption(f)
args = (f.period, f.village_ids)

w.kpi_block(q.KPIS, "volunteers_changes", f, per_row=3)

st.subheader(ui.t("volunteers.monthly"))
monthly = ui.cached(q.monthly)(*args)
w.chart(charts.volunteer_monthly(monthly, lang), monthly, q.MONTHLY_SPEC, "volunteers_monthly", f)

st.subheader(ui.t("volunteers.per_100"))
bv = ui.cached(q.by_village)(*args)
town = bv["township"]
w.chart(charts.metric_by_village(bv["villages"], "volunteer_hours_per_100_residents",
                                 town["volunteer_hours_per_100_residents"], lang, scope=ui.scope(f)),
        bv["villages"], q.VILLAGE_SPEC, "volunteers_by_village", f)

st.subheader(ui.t("volunteers.teams"))
teams = ui.cached(q.teams)(*args)
if not w.no_data(teams):
    c1, c2 = st.columns([3, 2])
    with c1:
        st.plotly_chart(charts.teams_bar(teams, lang), width="stretch", config=charts.CONFIG,
                        key="chart_teams")
    with c2:
        w.table(teams, q.TEAM_SPEC, "volunteers_teams", f, height=460)

c1, c2 = st.columns(2)
with c1:
    st.subheader(ui.t("volunteers.mix"))
    cats = ui.cached(q.categories)(*args)
    if not w.no_data(cats):
        w.chart(charts.activity_mix(cats, lang), cats, q.CATEGORY_SPEC, "volunteers_mix", f)
with c2:
    st.subheader(ui.t("volunteers.points"))
    st.caption(ui.t("volunteers.points_note", points=ui.fmt.num(town["volunteer_points"]), scope=ui.scope(f)))
    w.chart(charts.metric_by_village(bv["villages"], "volunteer_points", None, lang, sort=True),
            bv["villages"], q.VILLAGE_SPEC, "volunteers_points", f)

w.definitions(q.KPIS)
