"""报送情况 Reporting completeness: villages × ledgers × months (reported / zero report / missing,
late), the missing reports as a reminder to copy or download."""
import streamlit as st

from dashboard.ui import common as ui
from dashboard.ui import completeness as cu

ui.page_header("completeness.title")
f = ui.filters(show_period=False)     # the township and villages; the months are chosen here
month, n = cu.choices()
if month is None:
    st.info(ui.t("completeness.none"))
    st.stop()
bd = cu.board(month, n, f.village_ids)
cu.reminder(bd, month)
