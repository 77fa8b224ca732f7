"""Streamlit entry: page config, language switch, login gate, navigation with translated titles."""
import streamlit as st

from dashboard.ui import auth as auth_ui
from dashboard.ui import common as ui
from dashboard.ui import nav

st.set_page_config(page_title=ui.t("app.title"), page_icon=str(nav.ROOT / "static" / "favicon.png"), layout="wide")

with st.sidebar:
    st.radio(ui.t("app.language"), ["zh", "en"], key=ui.LANG_KEY, horizontal=True,
             format_func=lambda code: ui.t(f"app.lang_{code}"), index=0 if ui.lang() == "zh" else 1)

# With auth on and no valid session this serves the login page alone and stops.
user = auth_ui.require_login()
sections: dict[str, list] = {}
for slug, path, title, icon, section, _roles in nav.available(user["role"]):
    sections.setdefault(ui.t(section), []).append(
        st.Page(path, title=ui.t(title), icon=icon, url_path=slug, default=slug == "overview"))
st.navigation(auth_ui.account_pages(sections)).run()
