"""网格地图 Grid map: villages or grids coloured by any registry metric, offline, click → profile."""
import streamlit as st

from dashboard.ui import common as ui
from dashboard.ui import map as map_ui

ui.page_header("map.title")
f = ui.filters()
opt = map_ui.controls()
st.caption(f"{map_ui.caption(f, opt)} · {ui.data_as_of()}")
try:
    map_ui.map_fragment(f, opt)
except Exception as exc:  # noqa: BLE001 - one helper shows every error the same way
    ui.show_error(exc)
map_ui.downloads(f, opt)
