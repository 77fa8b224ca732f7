"""矛盾纠纷 Disputes: monthly flow, resolution rate by village, levels, days to resolve, categories, overdue."""
import streamlit as st

from dashboard import charts, metrics, settings, targets
from dashboard.queries import disputes as q
from dashboard.ui import common as ui
from dashboard.ui import widgets as w

ui.page_header("disputes.title")
f = ui.filters()
lang = ui.lang()
w.caption(f)
target = targets.get("resolution_rate").target   # the targets file: the same lights everywhere
args = (f.period, f.village_ids)

figures = w.kpi_block(q.KPIS, "disputes_changes", f, per_row=5)

st.subheader(ui.t("disputes.monthly"))
monthly = ui.cached(q.monthly)(*args)
last_year = ui.cached(q.monthly)(f.period.year_ago(), f.village_ids)
w.chart(charts.disputes_monthly(monthly, lang, last_year), monthly, q.MONTHLY_SPEC, "disputes_monthly", f)
st.caption(ui.t("disputes.monthly_note"))

st.subheader(ui.t("disputes.by_village"))
bv = ui.cached(q.by_village)(*args)
w.chart(charts.metric_by_village(bv["villages"], "resolution_rate", bv["township"]["resolution_rate"],
                                 lang, target, scope=ui.scope(f)), q.village_table(bv["villages"], lang),
        q.VILLAGE_SPEC, "disputes_by_village", f)
st.caption(ui.t("disputes.by_village_note", n=metrics.SMALL_N, rule=targets.rule("resolution_rate", lang)))

st.subheader(ui.t("disputes.levels"))
levels = ui.cached(q.levels)(*args)
c1, c2 = st.columns([2, 3])
with c1:
    totals = q.level_totals(levels)
    st.plotly_chart(charts.level_funnel(totals, lang), width="stretch", config=charts.CONFIG,
                    key="chart_level_funnel")
    st.caption(ui.t("disputes.levels_note"))
with c2:
    w.chart(charts.levels_by_village(levels, lang), levels, q.LEVEL_SPEC, "disputes_levels", f)

c1, c2 = st.columns(2)
with c1:
    st.subheader(ui.t("disputes.days"))
    dist = ui.cached(q.days_distribution)(*args)
    w.chart(charts.days_histogram(dist, lang), q.days_table(dist, lang), q.DAYS_SPEC, "disputes_days", f)
with c2:
    st.subheader(ui.t("disputes.categories"))
    cats = ui.cached(q.categories)(*args)
    if not w.no_data(cats):
        w.chart(charts.categories_bar(cats, lang), cats, q.CATEGORY_SPEC, "disputes_categories", f)

# the oldest cases on screen, counted by the registry; the whole list (a county's may run to
# six figures) is read when its download is pressed
w.supervision(ui.cached(q.supervision)(*args, settings.LIST_ON_SCREEN), f, "disputes_overdue",
              total=figures["township"]["backlog_overdue"], full=ui.reader(q.supervision, *args))

w.definitions(q.KPIS)
