"""数据上传 Data upload: pick the kind (and village), drop a file, check, import; history and undo."""
import streamlit as st

from dashboard.ui import auth as aui
from dashboard.ui import common as ui
from dashboard.ui import upload as up

ui.page_header("upload.title")
user = aui.require("upload")
st.caption(ui.t("upload.intro"))
if not ui.village_names() and "villages" not in up.kinds(user):
    st.warning(ui.t("upload.no_villages"))
up.templates(user)

if msg := st.session_state.pop("up_done", None):
    st.success(msg)
if failed := st.session_state.pop("up_failed", None):
    up.problems(failed)

kind, village, coord = up.choices(user)
f = st.file_uploader(ui.t("upload.file"), type=up.TYPES, key="up_file", help=ui.t("upload.file_help"))
if f is not None:
    data = f.getvalue()
    mapping = up.mapping_for(data)
    res = up.check(user, data, f.name, kind, village, coord, mapping)
    st.subheader(ui.t("upload.preview"))
    if res.columns:
        new_mapping = up.mapping_editor(res)
        if new_mapping != mapping:
            st.rerun()
    up.preview(res)
    if res.ok:
        st.success(ui.t("upload.ready", rows=res.rows_read, inserted=res.inserted,
                        updated=res.updated, unchanged=res.unchanged))
        if st.button(ui.t("upload.import_button"), type="primary", key="up_go"):
            up.do_import(user, data, f.name, res.kind, village, coord, mapping)
            st.rerun()
    else:
        up.problems(res)

up.history(user)
