"""Widgets of the 数据上传 page: choices, preview, problem table, templates, history and undo.

The checks and writes are the intake's (``loaders``), called through
``dashboard.auth.audited_import``/``audited_undo`` so that role, village scope and
the audit log apply. Text from a file is shown only in dataframes (rendered as
text, never HTML or markdown) and exported with formula cells neutralised.
"""
from __future__ import annotations

import hashlib
import re

import pandas as pd
import streamlit as st

import loaders
from dashboard import auth, export
from dashboard.errors import UserError
from dashboard.ui import common as ui

AUTO = "auto"
NO_VILLAGE = 0
# No type filter: the browser would refuse any other file with its own English tooltip; the
# reader refuses what it cannot read with a Chinese message (.xls and .ods are read).
TYPES = None


def kinds(user: dict) -> list[str]:
    """Kinds the user may upload (registry and grids need an admin)."""
    return [k for k in loaders.KINDS if auth.can(user, auth.action_for_kind(k))]


def villages(user: dict) -> dict[int, str]:
    names = ui.village_names()
    allowed = auth.allowed_village_ids(user)
    return names if allowed is None else {i: n for i, n in names.items() if i in allowed}


def choices(user: dict) -> tuple[str | None, str | None, str]:
    """(kind or None for detection, village name or None, coordinate system) from the form."""
    allowed_kinds = kinds(user)
    c1, c2, c3 = st.columns(3)
    # labels as dicts: AppTest formats values outside the script run, where ui.t() is not the page's
    klab = {AUTO: ui.t("upload.kind_auto"), **{k: ui.t(f"loader.kind.{k}") for k in allowed_kinds}}
    kind = c1.selectbox(ui.t("upload.kind"), list(klab), key="up_kind", format_func=klab.get)
    names = villages(user)
    vlab = dict(names) if auth.allowed_village_ids(user) is not None else \
        {NO_VILLAGE: ui.t("upload.village_none"), **names}
    vid = c2.selectbox(ui.t("upload.village"), list(vlab), key="up_village",
                       help=ui.t("upload.village_help"), format_func=vlab.get)
    clab = {c: ui.t(f"upload.coord_{c}") for c in ("wgs84", "gcj02", "bd09")}
    coord = c3.selectbox(ui.t("upload.coord"), list(clab), key="up_coord", format_func=clab.get)
    return (None if kind == AUTO else kind), (names.get(vid) if vid else None), coord


def mapping_for(data: bytes) -> dict[str, str]:
    """Columns mapped by hand for this file (forgotten when another file is dropped)."""
    sha = hashlib.sha256(data).hexdigest()
    if st.session_state.get("up_mapping_sha") != sha:
        st.session_state["up_mapping_sha"] = sha
        st.session_state["up_mapping"] = {}
    return dict(st.session_state["up_mapping"])


def check(user: dict, data: bytes, name: str, kind, village, coord, mapping) -> loaders.ImportResult:
    """The dry run for this file and these choices (kept in session state across reruns)."""
    key = hashlib.sha256(repr((hashlib.sha256(data).hexdigest(), name, kind, village, coord,
                               sorted(mapping.items()), ui.lang(), ui.version())).encode()).hexdigest()
    cache = st.session_state.setdefault("up_checks", {})
    if key not in cache:
        cache.clear()
        cache[key] = auth.audited_import(ui.engine(), data, name, user, kind=kind, village=village,
                                         dry_run=True, lang=ui.lang(), coord_system=coord,
                                         mapping=mapping or None)
    return cache[key]


def mapping_editor(res: loaders.ImportResult) -> dict[str, str]:
    """How columns were matched, and a select box for each unmatched column."""
    df = pd.DataFrame([{ui.t("upload.col_file"): c["column"],
                        ui.t("upload.col_field"): c.get("label", ""),
                        ui.t("upload.col_how"): ui.t(f"upload.how_{c['how']}")} for c in res.columns])
    with st.expander(ui.t("upload.columns"), expanded=any(c["how"] == "unmatched" for c in res.columns)):
        st.dataframe(df, hide_index=True, width="stretch")
        mapping = dict(st.session_state.get("up_mapping", {}))
        todo = [c for c in res.columns if c["how"] in ("unmatched", "manual") and c["column"]]
        if todo and res.kind:
            st.caption(ui.t("upload.map_by_hand"))
            fields = {"": ui.t("upload.map_none"),
                      **{f["field"]: f["label"] for f in loaders.fields_for(res.kind, ui.lang())}}
            for c in todo:
                cur = mapping.get(c["column"], "")
                pick = st.selectbox(c["column"], list(fields), key=f"up_map_{c['index']}",
                                    index=list(fields).index(cur) if cur in fields else 0,
                                    format_func=fields.get)
                if pick:
                    mapping[c["column"]] = pick
                else:
                    mapping.pop(c["column"], None)
        st.session_state["up_mapping"] = mapping
    return mapping


def preview(res: loaders.ImportResult) -> None:
    kind = ui.t(f"loader.kind.{res.kind}") if res.kind else "—"
    if res.format in ("geojson", "shapefile"):
        st.caption(ui.t("upload.detected_geo", kind=kind, format=res.format, n=res.rows_read))
    elif res.header_row:
        st.caption(ui.t("upload.detected", kind=kind, encoding=res.encoding or "xlsx",
                        sheet=res.sheet or "—", row=res.header_row))
    for note in res.notes:
        st.info(note)
    if res.preview:
        st.caption(ui.t("upload.rows_preview", n=len(res.preview)))
        st.dataframe(pd.DataFrame(res.preview).astype(str), hide_index=True, width="stretch")


def md_escape(text: str) -> str:
    """Text from a file inside a markdown element: every markdown/HTML character escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", str(text))


def errors_frame(res: loaders.ImportResult, lang: str) -> pd.DataFrame:
    from dashboard.i18n import t
    return pd.DataFrame([{t("upload.err_row", lang): "" if e["row"] is None else e["row"],
                          t("upload.err_column", lang): e["column"],
                          t("upload.err_value", lang): e["value"],
                          t("upload.err_message", lang): e["message"]} for e in res.errors])


def errors_csv(res: loaders.ImportResult, lang: str) -> bytes:
    """The problem list as CSV: UTF-8 with BOM, formula-looking cells neutralised."""
    return export.table_to_csv(errors_frame(res, lang).astype(str), index=False)


def problems(res: loaders.ImportResult) -> None:
    lang = ui.lang()
    if res.refused:
        st.error(ui.t("upload.refused", message=md_escape(res.errors[0]["message"] if res.errors else "")))
    else:
        st.error(ui.t("upload.errors", n=res.total_errors or len(res.errors), rows=res.rejected))
    if res.total_errors > len(res.errors):
        st.caption(ui.t("upload.errors_more", shown=len(res.errors), n=res.total_errors))
    st.dataframe(errors_frame(res, lang), hide_index=True, width="stretch")
    st.download_button(ui.t("upload.errors_download"), errors_csv(res, lang), key="up_err_dl",
                       file_name="upload_problems.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:")


def do_import(user: dict, data: bytes, name: str, kind, village, coord, mapping) -> None:
    res = auth.audited_import(ui.engine(), data, name, user, kind=kind, village=village,
                              lang=ui.lang(), coord_system=coord, mapping=mapping or None)
    st.session_state.pop("up_checks", None)
    if res.ok:
        key = "upload.imported" if res.inserted or res.updated else "upload.nothing_new"
        st.session_state["up_done"] = ui.t(key, batch=res.batch_id, inserted=res.inserted,
                                           updated=res.updated, unchanged=res.unchanged)
    else:
        st.session_state["up_failed"] = res


def templates(user: dict) -> None:
    with st.expander(ui.t("upload.templates")):
        st.caption(ui.t("upload.templates_help"))
        cols = st.columns(len(kinds(user)) or 1)
        for col, k in zip(cols, kinds(user)):
            col.download_button(ui.t("upload.template_button", kind=ui.t(f"loader.kind.{k}")),
                                loaders.template_xlsx(k, ui.lang()), file_name=f"template_{k}.xlsx",
                                key=f"up_tpl_{k}", on_click="ignore", icon=":material/download:",
                                mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def history(user: dict) -> None:
    allowed = auth.allowed_village_ids(user)
    with ui.engine().connect() as conn:
        rows = loaders.list_batches(conn, village_ids=allowed, limit=100)
    st.subheader(ui.t("upload.history"))
    rows = [r for r in rows if r["kind"] != "demo"]
    if not rows:
        st.caption(ui.t("upload.history_empty"))
        return
    df = pd.DataFrame([{ui.t("upload.h_id"): r["id"],
                        ui.t("upload.h_time"): f"{r['created_at']:%Y-%m-%d %H:%M}",
                        ui.t("upload.h_kind"): ui.t(f"loader.kind.{r['kind']}"),
                        ui.t("upload.h_file"): r["file_name"], ui.t("upload.h_village"): r["village"] or "",
                        ui.t("upload.h_user"): r["username"],
                        ui.t("upload.h_counts"): f"{r['inserted']}/{r['updated']}/{r['unchanged']}",
                        ui.t("upload.h_state"): ui.t(f"upload.state_{r['state']}")} for r in rows])
    st.dataframe(df, hide_index=True, width="stretch")
    applied = [r["id"] for r in rows if r["state"] == "applied"]
    if not applied or not auth.can(user, "undo"):
        return
    with st.form("up_undo"):
        st.caption(ui.t("upload.undo"))
        bid = st.selectbox(ui.t("upload.undo_pick"), applied, key="up_undo_pick")
        sure = st.checkbox(ui.t("upload.undo_confirm"), key="up_undo_sure")
        if st.form_submit_button(ui.t("upload.undo_button")) and sure:
            try:
                out = auth.audited_undo(ui.engine(), bid, user, ui.lang())
                st.session_state["up_done"] = ui.t("upload.undone", batch=out["batch_id"],
                                                   deleted=out["deleted"], restored=out["restored"])
                st.rerun()
            except UserError as exc:
                ui.show_error(exc)
