"""代表走访 Representative visits: by type and form, per village, per representative, monthly."""
import streamlit as st

from dashboard import charts
from dashboard.queries import visits as q
from dashboard.ui import common as ui
from dashboard.ui import widgets as w

ui.page_header("visits.title")
f = ui.filters()
lang = ui.lang()
w.caption(f)
args = (f.period, f.village_ids)

figures = w.kpi_block(q.KPIS, "visits_changes", f, per_row=4)

c1, c2 = st.columns([3, 2])
with c1:
    st.subheader(ui.t("visits.by_type"))
    types = ui.cached(q.by_type)(*args)
    w.chart(charts.visits_by_type(types, lang), types, q.TYPE_SPEC, "visits_by_type", f)
with c2:
    st.subheader(ui.t("visits.by_form"))
    forms = ui.cached(q.by_form)(*args)
    w.chart(charts.visits_by_form(forms, lang), forms, q.FORM_SPEC, "visits_by_form", f)
w.table(types, q.TYPE_SPEC, "visits_type_table", f)

st.subheader(ui.t("visits.by_level"))
levels = ui.cached(q.by_level)(*args)
w.chart(charts.visits_by_level(levels, lang), levels, q.LEVEL_SPEC, "visits_by_level", f)

st.subheader(ui.t("visits.monthly"))
monthly = ui.cached(q.monthly)(*args)
w.chart(charts.visits_monthly(monthly, lang), monthly, q.MONTHLY_SPEC, "visits_monthly", f)

st.subheader(ui.t("visits.per_village"))
bv = ui.cached(q.by_village)(*args)
w.chart(charts.visits_per_village(bv["villages"], lang), bv["villages"], q.VILLAGE_SPEC,
        "visits_per_village", f)

st.subheader(ui.t("visits.per_rep"))
st.caption(ui.t("visits.per_rep_note"))
reps = ui.cached(q.by_rep)(*args)
if not w.no_data(reps):
    w.chart(charts.visits_per_rep(reps, lang), reps, q.REP_SPEC, "visits_per_rep_chart", f)
    w.table(reps, q.REP_SPEC, "visits_per_rep", f, height=400)

st.header(ui.t("visits.referrals"))   # the suggestion ledger: referrals and replies
st.caption(ui.t("visits.referrals_note", days=q.REPLY_DAYS))
w.kpi_row(q.REFERRAL_KPIS, figures, per_row=3)
funnel = q.referral_funnel(figures["township"], lang)
st.caption(ui.t("visits.funnel_note"))
if funnel["n"].iloc[0] or figures["township"]["suggestions_referred"]:
    w.chart(charts.referral_funnel(funnel, lang), funnel, q.FUNNEL_SPEC, "referral_funnel", f)
else:
    st.info(ui.t("visits.no_suggestions"))
late = ui.cached(q.overdue_replies)(*args)
st.subheader(ui.t("visits.overdue", end=f.period.end.isoformat(), n=len(late)))
st.caption(ui.t("visits.overdue_note", days=q.REPLY_DAYS))
if late.empty:
    st.success(ui.t("visits.no_overdue"))
else:
    st.markdown(f"**{ui.t('visits.overdue_departments')}**")
    w.table(q.overdue_by_department(late), q.DEPT_SPEC, "overdue_replies_by_department", f)
    w.table(late, q.OVERDUE_REPLY_SPEC, "overdue_replies", f, height=360)
st.subheader(ui.t("visits.per_rep_referrals"))
by_rep = ui.cached(q.referrals_by_rep)(*args)
if not w.no_data(by_rep):
    w.table(by_rep, q.REP_REFERRAL_SPEC, "referrals_per_rep", f, height=400)

w.definitions((*q.KPIS, *q.REFERRAL_KPIS))
