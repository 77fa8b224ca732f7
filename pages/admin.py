"""系统管理 Administration (admin only): accounts, the audit log, uploads across villages."""
import streamlit as st

from dashboard import auth
from dashboard.ui import auth as aui
from dashboard.ui import common as ui

ui.page_header("admin.title")
aui.require("manage_users")
users_tab, audit_tab, uploads_tab = st.tabs([ui.t("admin.tab_users"), ui.t("admin.tab_audit"),
                                             ui.t("admin.tab_uploads")])
roles = list(auth.ROLES)

with users_tab:
    with st.form("add_user", clear_on_submit=True):
        st.subheader(ui.t("admin.add_user"))
        c1, c2, c3 = st.columns(3)
        username = c1.text_input(ui.t("auth.username"), max_chars=64)
        display = c2.text_input(ui.t("admin.display_name"), max_chars=100)
        role = c3.selectbox(ui.t("admin.role"), roles, format_func=lambda r: ui.t(f"auth.role.{r}"))
        villages = aui.village_picker("add_villages")
        c4, c5 = st.columns(2)
        pw = c4.text_input(ui.t("auth.password"), type="password", autocomplete="new-password")
        pw2 = c5.text_input(ui.t("admin.password_again"), type="password", autocomplete="new-password")
        if st.form_submit_button(ui.t("admin.add"), type="primary"):
            if pw != pw2:
                st.error(ui.t("auth.password_mismatch"))
            else:
                aui.manage("user_add", auth.create_user, username, pw, role, villages,
                           display_name=display)

    rows = aui.users()
    with st.form("change_user", clear_on_submit=True):
        st.subheader(ui.t("admin.change_user"))
        ops = ["user_disable", "user_enable", "user_password", "user_role"]
        labels = dict(zip(ops, ["op_disable", "op_enable", "op_password", "op_role"]))
        c1, c2 = st.columns(2)
        target = c1.selectbox(ui.t("admin.user"), [u["username"] for u in rows])
        op = c2.selectbox(ui.t("admin.operation"), ops, format_func=lambda o: ui.t(f"admin.{labels[o]}"))
        c3, c4 = st.columns(2)
        new_role = c3.selectbox(ui.t("admin.role"), roles, format_func=lambda r: ui.t(f"auth.role.{r}"))
        new_pw = c4.text_input(ui.t("admin.new_password"), type="password", autocomplete="new-password")
        new_villages = aui.village_picker("change_villages")
        if st.form_submit_button(ui.t("admin.apply")) and target:
            if op in ("user_disable", "user_enable"):
                done = aui.manage(op, auth.set_disabled, target, op == "user_disable")
            elif op == "user_password":
                done = aui.manage(op, auth.set_password, target, new_pw)
            else:
                done = aui.manage(op, auth.set_role, target, new_role, new_villages)
            if done:
                rows = aui.users()
    st.dataframe(aui.users_frame(rows), hide_index=True, width="stretch")

with audit_tab:
    shown = aui.audit_frame(aui.audit_filters([u["username"] for u in rows]))
    aui.table(shown)

with uploads_tab:
    aui.table(aui.uploads_frame())
