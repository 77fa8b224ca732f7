"""会议汇报 Meeting: the chosen period and villages as full-screen slides, and the report files."""
import streamlit as st

from dashboard.ui import common as ui
from dashboard.ui import meeting as mt

f = ui.filters()
if not mt.presenting():
    ui.page_header("meeting.title")
    st.caption(f"{f.period.label(ui.lang())} · {ui.data_as_of()} · {ui.t('meeting.intro')}")
opts = mt.options()

try:
    deck = mt.deck(f, opts)
except Exception as exc:  # noqa: BLE001 - one helper shows every error the same way
    ui.show_error(exc)
    st.stop()

mt.controls(deck)
mt.render_slide(deck, mt.index(deck), f, opts)

if not mt.presenting():
    st.divider()
    mt.downloads(deck, opts, f)
