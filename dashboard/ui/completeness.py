"""Widgets of the 报送情况 page: the month and span chosen, the board, the reminder to send."""
from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import export, fmt, settings
from dashboard.queries import completeness as C
from dashboard.ui import common as ui
from dashboard.ui import downloads as dl
from loaders.zero import month_label

SPANS = (1, 3, 6, 12)


def choices() -> tuple[str | None, int]:
    """(the last month shown, how many months) from the form; the month opens on the latest
    month with data that is already due."""
    latest = ui.cached(C.latest_month)()
    if latest is None:
        return None, 1
    months = C.months_to(latest, 24)[::-1]
    lang = ui.lang()
    c1, c2 = st.columns(2)
    month = c1.selectbox(ui.t("completeness.month"), months, key="cp_month",
                         format_func=lambda m: month_label(m, lang))
    n = c2.selectbox(ui.t("completeness.months"), SPANS, index=2, key="cp_span")
    return month, int(n)


def _colour(v: str) -> str:
    if v.startswith("✖"):
        return "background-color: #fde2e1"
    if "（迟）" in v or "(late)" in v:
        return "background-color: #fff3cd"
    return ""


def board(month: str, n: int, village_ids=None) -> C.Board:
    """The board of the chosen villages (None: every village of the database)."""
    lang = ui.lang()
    day = settings.get("DASHBOARD_REPORT_DAY")
    bd = ui.cached(C.board)(tuple(C.months_to(month, n)), village_ids, None, day)
    st.caption(ui.t("completeness.caption", day=day))
    st.markdown(fmt.md(C.summary_line(bd, month, lang)))
    for line in C.lines(bd, month, lang, late=True):
        st.markdown(f"- {fmt.md(line)}")
    df = C.frame(bd, lang)
    st.caption(ui.t("completeness.legend"))
    st.dataframe(df.style.map(_colour, subset=list(df.columns[1:])), width="stretch", key="cp_board",
                 height=min(38 + 35 * len(df), 980))
    dl.button(st, ui.t("completeness.board_download"),
              lambda: export.table_to_csv(C.frame(bd, lang, words=True)),
              file_name=f"completeness_{bd.months[0]}_{bd.months[-1]}.csv", mime=export.CSV_MIME,
              key="cp_csv", icon=":material/download:")
    return bd


def reminder(bd: C.Board, month: str) -> None:
    """催报提醒: the text in a box with a copy button, and as a .txt download."""
    lang = ui.lang()
    one = ui.facts()["township"] if len(ui.facts()["townships"]) <= 1 else None   # else: the county
    town = (ui.township() or one or {}).get("name", "")
    text = C.reminder(bd, month, lang, township=town, today=date.today())
    st.subheader(ui.t("completeness.reminder_title"))
    st.caption(ui.t("completeness.reminder_copy"))
    st.code(text, language=None, wrap_lines=True)
    dl.button(st, ui.t("completeness.reminder_download"), lambda: export.text_to_txt(text),
              file_name=f"reminder_{month}.txt", mime=export.TXT_MIME, key="cp_txt",
              icon=":material/download:")
