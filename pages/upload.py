"""数据上传 Data upload: pick the kind (and village), drop a file, check, import; history and undo."""
import streamlit as st

from dashboard.ui import auth as aui
from dashboard.ui import common as ui
from dashboard.ui import upload as up
from dashboard.ui import zero as zr

ui.page_header("upload.title")
user = aui.require("upload")
up.intro(user)
if not ui.village_names() and "villages" not in up.kinds(user):
    st.warning(ui.t("upload.no_villages"))
up.templates(user)

kind, village = up.choices(user)
f = st.file_uploader(ui.t("upload.file"), type=up.TYPES, key="up_file",
                     help=ui.t("upload.file_help" if up.boundaries_allowed(user) else "upload.file_help_ledgers"))
coord = up.coord_choice(user, kind, f.name if f is not None else None)
if f is not None:
    data = f.getvalue()
    mapping = up.mapping_for(data)
    res = up.check(user, data, f.name, kind, village, coord, mapping)
    if (sheets := up.sheet_choice(res)) is not None:
        res = up.check(user, data, f.name, kind, village, coord, mapping, sheets)
    if up.recall_mapping(res, village, mapping):
        st.rerun()
    st.subheader(ui.t("upload.preview"))
    if res.columns:
        new_mapping = up.mapping_editor(res)
        if new_mapping != mapping:
            st.rerun()
    cats = up.category_map()
    if up.category_editor(res) != cats:
        st.rerun()
    up.preview(res)
    if failed := st.session_state.pop("up_failed", None):   # the import itself was refused
        up.problems(failed)
    elif done := up.imported_here(data):
        st.success(done)
        st.button(ui.t("upload.import_button"), type="primary", key="up_go", disabled=True)
    elif res.ok:
        remove, accept, may = up.diff_view(res)
        withdraw, may_zero = zr.withdraw_confirm(res)
        st.success(ui.t("upload.ready", rows=res.rows_read, inserted=res.inserted,
                        updated=res.updated, unchanged=res.unchanged))
        if st.button(ui.t("upload.import_button"), type="primary", key="up_go",
                     disabled=not (may and may_zero)):
            up.do_import(user, data, f.name, res.kind, village, coord, mapping, remove, accept, sheets,
                         withdraw)
            st.rerun()
    else:
        up.problems(res)

zr.box(user)
up.history(user)
