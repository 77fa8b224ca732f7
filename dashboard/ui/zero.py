"""零报告 on the 数据上传 page: "本月无新增" per ledger kind, village and month, and the
confirmation an upload needs when its rows fall in a month already zero-reported.

Filing goes through the upload service (``dashboard.uploads.file_zero_report``): role, village
scope and the audit log apply as for a file. A clerk sees their own villages only.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

import loaders
from dashboard import auth, fmt, uploads
from dashboard.errors import UserError
from dashboard.ui import common as ui
from loaders import zero as Z

MONTHS_OFFERED = 24


def _months(today: date | None = None) -> list[str]:
    """The current month and the MONTHS_OFFERED - 1 before it, newest first."""
    today = today or date.today()
    out, d = [], today.replace(day=1)
    for _ in range(MONTHS_OFFERED):
        out.append(f"{d.year:04d}-{d.month:02d}")
        d = (d - timedelta(days=1)).replace(day=1)
    return out


def _villages(user: dict) -> dict[int, str]:
    names = ui.village_names()
    allowed = auth.allowed_village_ids(user)
    return names if allowed is None else {i: n for i, n in names.items() if i in allowed}


def box(user: dict) -> None:
    """The 本月无新增（零报告） form and the zero reports on file for the user's villages."""
    vill = _villages(user)
    if not vill or not auth.can(user, "upload"):
        return
    with st.expander(ui.t("zero.title"), expanded=bool(st.session_state.get("zero_msg"))):
        st.caption(ui.t("zero.help"))
        if msg := st.session_state.pop("zero_msg", None):
            getattr(st, msg[0])(msg[1])
        klab = {k: ui.t(f"loader.kind.{k}") for k in loaders.spec.LEDGER_KINDS}
        months = _months()
        mlab = {m: Z.month_label(m, ui.lang()) for m in months}
        c1, c2, c3 = st.columns(3)
        c1.selectbox(ui.t("zero.kind"), list(klab), format_func=klab.get, key="zero_kind")
        c2.selectbox(ui.t("zero.village"), list(vill), format_func=vill.get, key="zero_village")
        c3.selectbox(ui.t("zero.month"), months, index=1, format_func=mlab.get, key="zero_month")
        st.button(ui.t("zero.button"), key="zero_go", on_click=_file, args=(user, vill))
        on_file(user, vill)


def _file(user: dict, vill: dict[int, str]) -> None:
    """The button's callback: the choices as they are now (not as they were drawn)."""
    lang = ui.lang()
    ss = st.session_state
    kind, village, month = ss.get("zero_kind"), vill.get(ss.get("zero_village")), ss.get("zero_month")
    try:
        out = uploads.file_zero_report(ui.engine(), kind, village or "", month, user)
        st.session_state["zero_msg"] = ("success", ui.t(
            "zero.done", village=fmt.md(out["village"]), month=Z.month_label(out["month"], lang),
            kind=ui.t(f"loader.kind.{out['kind']}"), batch=out["batch_id"]))
    except UserError as exc:
        st.session_state["zero_msg"] = ("error", ui.t("zero.refused", message=fmt.md(exc.message(lang))))


def on_file(user: dict, vill: dict[int, str], limit: int = 12) -> None:
    allowed = auth.allowed_village_ids(user)
    with ui.engine().connect() as conn:
        rows = Z.list_reports(conn, village_ids=allowed)[:limit]
    if not rows:
        return
    st.caption(ui.t("zero.on_file", n=len(rows)))
    st.dataframe(pd.DataFrame([{
        ui.t("zero.col_village"): r["village"], ui.t("zero.col_kind"): ui.t(f"loader.kind.{r['kind']}"),
        ui.t("zero.col_month"): Z.month_label(r["month"], ui.lang()), ui.t("zero.col_batch"): r["batch_id"],
        ui.t("zero.col_user"): r["username"], ui.t("zero.col_time"): f"{r['created_at']:%Y-%m-%d %H:%M}"}
        for r in rows]).astype(str), hide_index=True, width="stretch", key="zero_on_file")


def withdraw_confirm(res: loaders.ImportResult) -> tuple[bool, bool]:
    """When the file's rows fall in zero-reported months: the warning and its confirmation.
    Returns (withdraw_zero, may_import)."""
    zs = (res.diff or {}).get("zero") or []
    if not zs:
        return False, True
    lang = ui.lang()
    items = "、".join(ui.t("zero.withdraw_item", village=fmt.md(z["village"]),
                          month=Z.month_label(z["month"], lang), rows=z["rows"]) for z in zs)
    st.warning(ui.t("zero.withdraw_warning", n=sum(z["rows"] for z in zs), items=items))
    ok = st.checkbox(ui.t("zero.withdraw_confirm"), key=f"up_zero_ok_{res.sha256[:12]}")
    return bool(ok), bool(ok)
