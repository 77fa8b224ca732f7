"""报送情况 Reporting completeness: villages × ledgers × months (reported / zero report / missing,
late), the missing reports as a reminder to copy or download."""
import streamlit as st

from dashboard.ui import common as ui
from dashboard.ui import completeness as cu

ui.page_header("completeness.title")
month, n = cu.choices()
if month is None:
    st.info(ui.t("completeness.none"))
    st.stop()
bd = cu.board(month, n)
cu.reminder(bd, month)
