"""系统管理 Administration (admin only): accounts, townships, the audit log, uploads. A
township administrator manages their township's accounts and sees its row and uploads; the
core (dashboard.auth, dashboard.townships) refuses anything beyond."""
import streamlit as st

from dashboard import auth, townships
from dashboard.ui import auth as aui
from dashboard.ui import common as ui

ui.page_header("admin.title")
me = aui.require("manage_users")
names = ["tab_users", "tab_townships"] + (["tab_audit"] if auth.can(me, "read_audit") else []) \
    + ["tab_uploads"]
tabs = dict(zip(names, st.tabs([ui.t(f"admin.{n}") for n in names])))
users_tab, uploads_tab = tabs["tab_users"], tabs["tab_uploads"]
roles = list(auth.ROLES)

with users_tab:
    with st.form("add_user", clear_on_submit=True):
        st.subheader(ui.t("admin.add_user"))
        c1, c2, c3 = st.columns(3)
        username = c1.text_input(ui.t("auth.username"), max_chars=64)
        display = c2.text_input(ui.t("admin.display_name"), max_chars=100)
        role = c3.selectbox(ui.t("admin.role"), roles, format_func=lambda r: ui.t(f"auth.role.{r}"))
        villages = aui.village_picker("add_villages")
        town = aui.township_picker("add_township")
        c4, c5 = st.columns(2)
        pw = c4.text_input(ui.t("auth.password"), type="password", autocomplete="new-password")
        pw2 = c5.text_input(ui.t("admin.password_again"), type="password", autocomplete="new-password")
        if st.form_submit_button(ui.t("admin.add"), type="primary"):
            if pw != pw2:
                st.error(ui.t("auth.password_mismatch"))
            else:
                aui.manage("user_add", auth.create_user, username, pw, role, villages,
                           display_name=display, township_ids=aui.place(role, town))

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
        new_town = aui.township_picker("change_township")
        if st.form_submit_button(ui.t("admin.apply")) and target:
            if op in ("user_disable", "user_enable"):
                done = aui.manage(op, auth.set_disabled, target, op == "user_disable")
            elif op == "user_password":
                done = aui.manage(op, auth.set_password, target, new_pw)
            else:
                done = aui.manage(op, auth.set_role, target, new_role, new_villages,
                                  township_ids=aui.place(new_role, new_town))
            if done:
                rows = aui.users()
    st.dataframe(aui.users_frame(rows), hide_index=True, width="stretch")

with tabs["tab_townships"]:
    st.caption(ui.t("admin.townships_intro"))
    listed = st.container()        # filled after the forms, so that a change shows at once
    if not auth.can(me, "manage_townships"):
        st.info(ui.t("admin.townships_county_only"))
    else:
        c1, c2 = st.columns(2)
        with c1.form("add_township", clear_on_submit=True):
            st.subheader(ui.t("admin.add_township"))
            t_name = st.text_input(ui.t("admin.township_name"), max_chars=townships.NAME_MAX)
            t_code = st.text_input(ui.t("admin.township_code"), max_chars=12,
                                   help=ui.t("admin.township_code_help"))
            if st.form_submit_button(ui.t("admin.add"), type="primary"):
                aui.manage(townships.ADD, townships.add, t_name, t_code)
        with c2.form("rename_township", clear_on_submit=True):
            st.subheader(ui.t("admin.rename_township"))
            tws = {t["id"]: t["name"] for t in ui.visible_townships()}
            t_id = st.selectbox(ui.t("admin.col_township"), list(tws), format_func=tws.get)
            t_new = st.text_input(ui.t("admin.new_name"), max_chars=townships.NAME_MAX)
            if st.form_submit_button(ui.t("admin.rename")) and t_id is not None:
                aui.manage(townships.RENAME, townships.rename, t_id, t_new)
    with listed:
        aui.table(aui.townships_frame())

if "tab_audit" in tabs:
    with tabs["tab_audit"]:
        shown = aui.audit_frame(aui.audit_filters([u["username"] for u in rows]))
        aui.table(shown)

with uploads_tab:
    aui.table(aui.uploads_frame())
