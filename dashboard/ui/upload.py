"""Widgets of the 数据上传 page: choices, preview, problem table, templates, history and undo.

The checks and writes are the intake's (``loaders``), called through the upload service
(``dashboard.uploads``) so that role, village scope and the audit log apply. Text from a file is shown only in dataframes (rendered as
text, never HTML or markdown) and exported with formula cells neutralised.
"""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

import loaders
from dashboard import auth, export, fmt, uploads
from dashboard.errors import UserError
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl

AUTO = "auto"
NO_VILLAGE = 0
# No type filter: the browser would refuse any other file with its own English tooltip; the
# reader refuses what it cannot read with a Chinese message (.xls and .ods are read).
TYPES = None


def kinds(user: dict) -> list[str]:
    """Kinds the user may upload (registry and grids need an admin)."""
    return [k for k in loaders.KINDS if auth.can(user, auth.action_for_kind(k))]


def townships(user: dict) -> dict[str, str]:
    """The townships a user may place a file in ({code: name}); empty when there is nothing to
    choose: one township in the database, or a township's own staff (theirs is fixed)."""
    if auth.fixed_township(user) is not None:
        return {}
    vis = auth.visible_township_ids(user)
    tws = [t for t in ui.facts()["townships"] if vis is None or t["id"] in vis]
    return {t["code"]: t["name"] for t in tws} if len(tws) > 1 else {}


def township() -> str | None:
    """The township chosen on the form (its code), or None: the file's own column decides."""
    return st.session_state.get("up_township") or None


def villages(user: dict) -> dict[int, str]:
    names = ui.village_names()
    allowed = auth.allowed_village_ids(user)
    code = township()
    if code:
        tid = next((t["id"] for t in ui.facts()["townships"] if t["code"] == code), None)
        inside = {v["id"] for v in ui.facts()["villages"] if v.get("township_id") == tid}
        names = {i: n for i, n in names.items() if i in inside}
    return names if allowed is None else {i: n for i, n in names.items() if i in allowed}


def boundaries_allowed(user: dict) -> bool:
    return any(k in kinds(user) for k in uploads.GEO_KINDS)


def intro(user: dict) -> None:
    """What this person may upload: a clerk is not told about 名册, boundaries or Shapefiles."""
    st.caption(ui.t("upload.intro" if boundaries_allowed(user) else "upload.intro_ledgers"))


def choices(user: dict) -> tuple[str | None, str | None]:
    """(kind or None for detection, village name or None) from the form."""
    allowed_kinds = kinds(user)
    c1, c2 = st.columns(2)
    # labels as dicts: AppTest formats values outside the script run, where ui.t() is not the page's
    klab = {AUTO: ui.t("upload.kind_auto"), **{k: ui.t(f"loader.kind.{k}") for k in allowed_kinds}}
    kind = c1.selectbox(ui.t("upload.kind"), list(klab), key="up_kind", format_func=klab.get)
    tws = townships(user)
    if tws:
        tlab = {"": ui.t("upload.township_from_file"), **tws}
        st.selectbox(ui.t("upload.township"), list(tlab), key="up_township", format_func=tlab.get,
                     help=ui.t("upload.township_help"))
    else:
        st.session_state.pop("up_township", None)
    names = villages(user)
    vlab = dict(names) if auth.allowed_village_ids(user) is not None else \
        {NO_VILLAGE: ui.t("upload.village_none"), **names}
    vid = c2.selectbox(ui.t("upload.village"), list(vlab), key="up_village",
                       help=ui.t("upload.village_help"), format_func=vlab.get)
    return (None if kind == AUTO else kind), (names.get(vid) if vid else None)


def coord_choice(user: dict, kind: str | None, file_name: str | None) -> str:
    """The coordinate system: asked only for boundaries (a registry/grid kind or a geo file)."""
    geo = kind in uploads.GEO_KINDS or (kind is None and uploads.is_geo_name(file_name))
    if not geo or not boundaries_allowed(user):
        return "wgs84"
    clab = {c: ui.t(f"upload.coord_{c}") for c in ("wgs84", "gcj02", "bd09")}
    return st.selectbox(ui.t("upload.coord"), list(clab), key="up_coord", format_func=clab.get)


def mapping_for(data: bytes) -> dict[str, str]:
    """Columns mapped by hand for this file (forgotten when another file is dropped)."""
    sha = hashlib.sha256(data).hexdigest()
    if st.session_state.get("up_mapping_sha") != sha:
        st.session_state["up_mapping_sha"] = sha
        st.session_state["up_mapping"] = {}
        st.session_state["up_catmap"] = {}
        st.session_state.pop("up_mapping_recalled", None)
        st.session_state.pop("up_sheets", None)   # another workbook, other sheets
    return dict(st.session_state["up_mapping"])


def _village_id(village: str | None) -> int:
    return next((i for i, n in ui.village_names().items() if n == village), 0) if village else 0


def recall_mapping(res: loaders.ImportResult, village: str | None, mapping: dict) -> bool:
    """Once per file: the mapping this village last made by hand for these headers, if any.
    True when it was put in place (the caller checks the file again with it)."""
    if mapping or not res.kind or not res.columns or "up_mapping_recalled" in st.session_state:
        return False
    sig = uploads.header_signature([c["column"] for c in res.columns])
    with ui.engine().connect() as conn:
        saved = uploads.saved_mapping(conn, _village_id(village), res.kind, sig)
    st.session_state["up_mapping_recalled"] = bool(saved)
    if saved:
        st.session_state["up_mapping"] = saved
    return bool(saved)


def category_map() -> dict[str, str]:
    """Categories outside the vocabulary mapped by the clerk for this file."""
    return dict(st.session_state.get("up_catmap", {}))


def category_editor(res: loaders.ImportResult) -> dict[str, str]:
    """Each category outside the vocabulary: keep as written, or file under a vocabulary name
    (其他 included). Returns the mapping chosen."""
    chosen = category_map()
    if not res.categories:
        return chosen
    names = {"": ui.t("upload.cat_keep"), **{c: c for c in loaders.spec.DISPUTE_CATEGORIES}}
    with st.expander(ui.t("upload.cat_title", n=len(res.categories)), expanded=True):
        st.caption(ui.t("upload.cat_help"))
        for i, c in enumerate(res.categories):
            _pick(ui.t("upload.cat_row", value=fmt.md(c["value"]), rows=c["rows"]), names, chosen,
                  c["value"], f"up_cat_{i}")
    st.session_state["up_catmap"] = chosen
    return chosen


def _pick(label: str, options: dict, chosen: dict, name: str, key: str) -> None:
    """One select box of a by-hand mapping: chosen[name] = the pick ("" = none, removed)."""
    cur = chosen.get(name, "")
    pick = st.selectbox(label, list(options), index=list(options).index(cur) if cur in options else 0,
                        format_func=options.get, key=key)
    if pick:
        chosen[name] = pick
    else:
        chosen.pop(name, None)


def check(user: dict, data: bytes, name: str, kind, village, coord, mapping,
          sheets: list[str] | None = None) -> loaders.ImportResult:
    """The dry run for this file and these choices (kept in session state across reruns)."""
    key = hashlib.sha256(repr((hashlib.sha256(data).hexdigest(), name, kind, village, township(), coord,
                               sorted(mapping.items()), sorted(category_map().items()), ui.lang(),
                               ui.version(), sheets)).encode()).hexdigest()
    cache = st.session_state.setdefault("up_checks", {})
    if key not in cache:
        # two entries: the reader's own sheet choice (it fills the sheet box) and the clerk's
        while len(cache) >= 2:
            cache.pop(next(iter(cache)))
        cache[key] = uploads.run_import(ui.engine(), loaders.ImportContext(
            data, name, kind=kind, village=village, township=township(), dry_run=True, lang=ui.lang(),
            coord_system=coord, mapping=mapping or None, category_map=category_map() or None,
            sheets=sheets or None), user)
    return cache[key]


def sheet_choice(res: loaders.ImportResult) -> list[str] | None:
    """For a workbook of several sheets: the sheets to read, chosen from all of them, by default
    those the reader picked (the skipped ones labelled with the reason). None: the reader's
    own choice stands. ``res`` is the check made without a choice, so the default never moves."""
    if len(res.sheets) < 2:
        return None
    why = {s["sheet"]: s["message"] for s in res.sheets_skipped}
    labels = {s: ui.t("upload.sheet_skipped", sheet=s, reason=why[s]) if s in why else s
              for s in res.sheets}
    chosen = st.multiselect(ui.t("upload.sheets"), list(res.sheets), default=list(res.sheets_read),
                            key="up_sheets", format_func=labels.get, help=ui.t("upload.sheets_help"),
                            placeholder=ui.t("upload.sheets_placeholder"))
    if not chosen:
        st.warning(ui.t("upload.sheets_none"))
        st.stop()
    return None if chosen == list(res.sheets_read) else chosen


def mapping_editor(res: loaders.ImportResult) -> dict[str, str]:
    """How columns were matched, and a select box for each unmatched column."""
    df = pd.DataFrame([{ui.t("upload.col_file"): c["column"],
                        ui.t("upload.col_field"): c.get("label", ""),
                        ui.t("upload.col_how"): ui.t(f"upload.how_{c['how']}")} for c in res.columns])
    recalled = st.session_state.get("up_mapping_recalled")
    with st.expander(ui.t("upload.columns"),
                     expanded=bool(recalled) or any(c["how"] == "unmatched" for c in res.columns)):
        if recalled:
            st.info(ui.t("upload.mapping_recalled"))
        st.dataframe(df, hide_index=True, width="stretch")
        mapping = dict(st.session_state.get("up_mapping", {}))
        todo = [c for c in res.columns if c["how"] in ("unmatched", "manual") and c["column"]]
        if todo and res.kind:
            st.caption(ui.t("upload.map_by_hand"))
            fields = {"": ui.t("upload.map_none"),
                      **{f["field"]: f["label"] for f in loaders.fields_for(res.kind, ui.lang())}}
            for c in todo:
                _pick(fmt.md(c["column"]), fields, mapping, c["column"], f"up_map_{c['index']}")
        st.session_state["up_mapping"] = mapping
    return mapping


def preview(res: loaders.ImportResult) -> None:
    kind = ui.t(f"loader.kind.{res.kind}") if res.kind else "—"
    if res.format in ("geojson", "shapefile"):
        st.caption(ui.t("upload.detected_geo", kind=kind, format=res.format, n=res.rows_read))
    elif res.header_row and res.encoding:
        st.caption(ui.t("upload.detected", kind=kind, encoding=res.encoding,
                        sheet=fmt.md(res.sheet or "—"), row=res.header_row))
    elif res.header_row:  # a workbook has sheets, not an encoding
        st.caption(ui.t("upload.detected_book", kind=kind, sheet=fmt.md(res.sheet or "—"), row=res.header_row))
    for note in res.notes:
        st.info(fmt.md(note))
    if res.preview:
        st.caption(ui.t("upload.rows_preview", n=len(res.preview)))
        st.dataframe(pd.DataFrame(res.preview).astype(str), hide_index=True, width="stretch")


def errors_frame(res: loaders.ImportResult, lang: str) -> pd.DataFrame:
    from dashboard.i18n import t
    return pd.DataFrame([{t("upload.err_row", lang): "" if e["row"] is None else e["row"],
                          t("upload.err_column", lang): e["column"],
                          t("upload.err_value", lang): e["value"],
                          t("upload.err_message", lang): e["message"]} for e in res.errors])


def bad_cells(res: loaders.ImportResult, lang: str, rows: int = 50) -> pd.DataFrame | None:
    """The rows with problems as the file has them, one column per column with a problem,
    the bad cells filled (and highlighted by the caller), the rest blank."""
    from dashboard.i18n import t
    cells = [e for e in res.errors if e["row"] is not None and e["column"]]
    if not cells:
        return None
    order = list(dict.fromkeys(e["row"] for e in cells))[:rows]
    cols = list(dict.fromkeys(e["column"] for e in cells if e["row"] in order))
    df = pd.DataFrame("", index=order, columns=cols)
    for e in cells:
        if e["row"] in order:
            df.loc[e["row"], e["column"]] = str(e["value"]) if e["value"] not in (None, "") \
                else t("upload.bad_blank", lang)
    return df.rename_axis(t("upload.err_row", lang)).reset_index().astype(str)


def errors_csv(res: loaders.ImportResult, lang: str) -> bytes:
    """The problem list as CSV: UTF-8 with BOM, formula-looking cells neutralised."""
    return export.table_to_csv(errors_frame(res, lang).astype(str), index=False)


def problems(res: loaders.ImportResult) -> None:
    lang = ui.lang()
    if res.refused:
        st.error(ui.t("upload.refused", message=fmt.md(res.errors[0]["message"] if res.errors else "")))
    else:
        st.error(ui.t("upload.errors", n=res.total_errors or len(res.errors), rows=res.rejected))
    if res.total_errors > len(res.errors):
        st.caption(ui.t("upload.errors_more", shown=len(res.errors), n=res.total_errors))
    bad = bad_cells(res, lang)
    if bad is not None:
        st.caption(ui.t("upload.bad_cells"))
        st.dataframe(bad.style.apply(lambda c: ["background-color: #fde2e1" if v else "" for v in c],
                                     subset=list(bad.columns[1:])),
                     hide_index=True, width="stretch", key="up_bad_cells")
    st.dataframe(errors_frame(res, lang), hide_index=True, width="stretch")
    dl.button(st, ui.t("upload.errors_download"), lambda: errors_csv(res, lang), key="up_err_dl",
                     file_name="upload_problems.csv", mime="text/csv", icon=":material/download:")


def diff_view(res: loaders.ImportResult) -> tuple[bool, bool, bool]:
    """The diff before 确认导入: new rows, changed rows old → new per cell, unchanged rows,
    a village's stored rows the file no longer holds (keep or remove), reused numbers (their
    own confirmation). Returns (remove_missing, accept_reused, may_import)."""
    d = res.diff
    if not d:
        return False, False, True
    st.markdown("**" + ui.t("upload.diff_title") + "**")
    st.caption("；".join([ui.t("upload.diff_new", n=d["new_total"]),
                         ui.t("upload.diff_changed", n=d["changed_total"]),
                         ui.t("upload.diff_unchanged", n=d["unchanged"])]))
    col = {k: ui.t(f"upload.diff_col_{k}") for k in ("row", "key", "field", "old", "new", "date", "what")}
    if d["changed"]:
        lines = [{col["row"]: r["row"], col["key"]: r["key"], col["field"]: f,
                  col["old"]: "" if a is None else str(a), col["new"]: "" if b is None else str(b)}
                 for r in d["changed"] for f, (a, b) in r["cells"].items()]
        st.dataframe(pd.DataFrame(lines), hide_index=True, width="stretch", key="up_diff_changed")
    accept = True
    if d["reused"]:
        fields = "、".join(dict.fromkeys(f for r in d["reused"] for f in r["fields"]))
        st.warning(ui.t("upload.diff_reused", n=d["reused_total"], fields=fields))
        accept = st.checkbox(ui.t("upload.diff_reused_confirm", n=d["reused_total"]),
                             key=f"up_reused_ok_{res.sha256[:12]}")
    remove = False
    if d["missing_total"]:
        st.warning(ui.t("upload.diff_missing", n=d["missing_total"], start=d["span"][0], end=d["span"][1]))
        st.dataframe(pd.DataFrame([{col["date"]: m["date"], col["key"]: m["key"], col["what"]: m["what"]}
                                   for m in d["missing"]]).astype(str),
                     hide_index=True, width="stretch", key="up_diff_missing")
        opts = {"keep": ui.t("upload.diff_missing_keep"), "remove": ui.t("upload.diff_missing_remove")}
        remove = st.radio(ui.t("upload.diff_missing_choice"), list(opts), format_func=opts.get,
                          key=f"up_missing_{res.sha256[:12]}", horizontal=True) == "remove"
    return remove, bool(accept), bool(accept)


def imported_here(data: bytes) -> str | None:
    """The result message when this very file (these bytes) was imported in this session."""
    done = st.session_state.get("up_done_file")
    return done[1] if done and done[0] == hashlib.sha256(data).hexdigest() else None


def do_import(user: dict, data: bytes, name: str, kind, village, coord, mapping,
              remove_missing: bool = False, accept_reused: bool = False,
              sheets: list[str] | None = None, withdraw_zero: bool = False) -> None:
    res = uploads.run_import(ui.engine(), loaders.ImportContext(
        data, name, kind=kind, village=village, township=township(), lang=ui.lang(), coord_system=coord,
        mapping=mapping or None, remove_missing=remove_missing, accept_reused=accept_reused,
        withdraw_zero=withdraw_zero,
        category_map=category_map() or None, sheets=sheets or None), user)
    st.session_state.pop("up_checks", None)
    if res.ok:
        key = "upload.imported" if res.inserted or res.updated or res.deleted else "upload.nothing_new"
        msg = ui.t(key, batch=res.batch_id, inserted=res.inserted, updated=res.updated,
                   unchanged=res.unchanged)
        if res.deleted:
            msg += " " + ui.t("upload.removed", n=res.deleted)
        # shown where the button was, for as long as this file stays in the uploader
        st.session_state["up_done_file"] = (hashlib.sha256(data).hexdigest(), msg)
        if mapping and res.kind and res.columns:  # next month's file maps itself
            uploads.remember_mapping(ui.engine(), _village_id(village), res.kind,
                                     uploads.header_signature([c["column"] for c in res.columns]),
                                     mapping, user.get("username") or "")
    else:
        st.session_state["up_failed"] = res


def templates(user: dict) -> None:
    with st.expander(ui.t("upload.templates")):
        st.caption(ui.t("upload.templates_help"))
        cols = st.columns(len(kinds(user)) or 1)
        for col, k in zip(cols, kinds(user)):
            dl.button(col, ui.t("upload.template_button", kind=ui.t(f"loader.kind.{k}")),
                             lambda k=k, lang=ui.lang(): loaders.template_xlsx(k, lang),
                             file_name=f"template_{k}.xlsx", key=f"up_tpl_{k}", icon=":material/download:",
                             mime=export.XLSX_MIME)


def history(user: dict) -> None:
    with ui.engine().connect() as conn:
        rows = uploads.batches(conn, user)
    st.subheader(ui.t("upload.history"))
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
    batch_detail(user, rows)
    undo_box(user, rows)


def batch_detail(user: dict, rows: list[dict]) -> None:
    """One batch's rows (added, changed, removed) and their download, through the exporter."""
    ledgers = {r["id"]: r for r in rows if r["kind"] in loaders.spec.LEDGER_KINDS}
    if not ledgers:
        return
    labels = {b: ui.t("upload.undo_option", **batch_words(r)) for b, r in ledgers.items()}
    bid = st.selectbox(ui.t("upload.batch_pick"), list(labels), index=None, key="up_batch_view",
                       placeholder=ui.t("upload.undo_placeholder"), format_func=labels.get)
    if bid is None:
        return
    with ui.engine().connect() as conn:
        df = uploads.batch_rows(conn, bid, user, ui.lang())
    if df is None or not len(df):
        st.caption(ui.t("upload.batch_empty"))
        return
    st.dataframe(df.astype(str), hide_index=True, width="stretch", key="up_batch_rows")
    dl.button(st, ui.t("upload.batch_download", batch=bid),
                     lambda: export.table_to_csv(df.astype(str), index=False),
                     file_name=f"batch_{bid}.csv", mime="text/csv", key=f"up_batch_dl_{bid}",
                     icon=":material/download:")


def batch_words(r: dict) -> dict:
    """A batch as the clerk knows it: file, kind, village, rows added/changed, who, when."""
    return {"batch": r["id"], "file": r["file_name"] or "—", "kind": ui.t(f"loader.kind.{r['kind']}"),
            "village": r["village"] or ui.t("upload.village_many"), "inserted": r["inserted"],
            "updated": r["updated"], "user": r["username"], "time": f"{r['created_at']:%Y-%m-%d %H:%M}"}


def _undo_now(user: dict, bid: int) -> None:
    """The 撤销 button's callback: acts on the batch it was drawn for (``bid``), only if that
    batch's own confirmation is ticked, then resets the selection and every confirmation."""
    sure_key = f"up_undo_sure_{bid}"
    if not st.session_state.get(sure_key):
        st.session_state["up_undo_msg"] = ("warning", ui.t("upload.undo_need_confirm", batch=bid))
        return
    try:
        out = uploads.undo(ui.engine(), bid, user, ui.lang())
        st.session_state.pop("up_done_file", None)  # the file may be imported again
        st.session_state["up_undo_msg"] = ("success", ui.t(
            "upload.undone", batch=out["batch_id"], deleted=out["deleted"], restored=out["restored"]))
    except UserError as exc:  # another tab undid it, a later batch is in the way, ...
        st.session_state["up_undo_msg"] = ("error", ui.t("upload.undo_refused",
                                                         message=exc.message(ui.lang())))
    st.session_state["up_undo_pick"] = None
    for k in [k for k in st.session_state if str(k).startswith("up_undo_sure_")]:
        del st.session_state[k]


def undo_box(user: dict, rows: list[dict]) -> None:
    """Pick one applied batch (nothing picked by default), read what it was, tick ITS
    confirmation, press its button. Nothing carries over to another batch or another click."""
    applied = {r["id"]: r for r in rows if r["state"] == "applied"}
    if not auth.can(user, "undo"):
        return
    st.markdown("**" + ui.t("upload.undo") + "**")
    if msg := st.session_state.pop("up_undo_msg", None):
        getattr(st, msg[0])(msg[1])
    if not applied:
        st.caption(ui.t("upload.undo_nothing"))
        return
    labels = {b: ui.t("upload.undo_option", **batch_words(r)) for b, r in applied.items()}
    if st.session_state.get("up_undo_pick") not in labels:
        st.session_state["up_undo_pick"] = None  # a batch gone (undone in another tab): no choice
    bid = st.selectbox(ui.t("upload.undo_pick"), list(labels), index=None, key="up_undo_pick",
                       placeholder=ui.t("upload.undo_placeholder"), format_func=labels.get)
    if bid is None:
        return
    words = {k: fmt.md(v) if isinstance(v, str) else v for k, v in batch_words(applied[bid]).items()}
    st.info(ui.t("upload.undo_what", **words))
    st.checkbox(ui.t("upload.undo_confirm", **words), key=f"up_undo_sure_{bid}")
    st.button(ui.t("upload.undo_button", batch=bid), key=f"up_undo_go_{bid}", type="primary",
              on_click=_undo_now, args=(user, bid))
