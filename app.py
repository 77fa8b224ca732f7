"""Streamlit entry: page config, language switch, login gate, navigation with translated titles.

Whatever fails in the gate or a page (a wrong DATABASE_URL, a read-only or full disk, a bug) reaches
the visitor as a Chinese sentence with a reference number (ui.show_error), its details only the
server log; client.showErrorDetails is "none" as well. st.stop()/st.rerun() are BaseExceptions and
pass through."""
import streamlit as st

from dashboard import auth
from dashboard.ui import auth as auth_ui
from dashboard.ui import common as ui
from dashboard.ui import nav, server_guard, streamlit_zh

server_guard.guard_cache_clearing()
st.set_page_config(page_title=ui.t("app.title"), page_icon=nav.favicon_url(), layout="wide")
streamlit_zh.install(ui.lang())

with st.sidebar:
    st.radio(ui.t("app.language"), ["zh", "en"], key=ui.LANG_KEY, horizontal=True,
             format_func=lambda code: ui.t(f"app.lang_{code}"), index=0 if ui.lang() == "zh" else 1)

# With auth on and no valid session this serves the login page alone and stops.
try:
    user = auth_ui.require_login()
except Exception as exc:  # noqa: BLE001 - see the module docstring
    ui.show_error(exc)
    st.stop()
sections: dict[str, list] = {}
by_slug: dict[str, st.Page] = {}
try:   # the county pages only for someone who sees several townships
    seen = auth.visible_township_ids(user)   # None: the whole county
    several = len(ui.facts()["townships"]) > 1 and (seen is None or len(seen) > 1)
except Exception as exc:  # noqa: BLE001 - a database that does not answer: see the module docstring
    ui.show_error(exc)
    st.stop()
for slug, path, title, icon, section, _roles in nav.available(user["role"], several):
    by_slug[slug] = st.Page(path, title=ui.t(title), icon=icon, url_path=slug)
    sections.setdefault(ui.t(section), []).append(by_slug[slug])
next(iter(sections.values())).append(nav.home_page(by_slug["overview"]))  # / → /overview
page = st.navigation(auth_ui.account_pages(sections))
st.session_state[ui.VIA_APP] = True
# A deep link Streamlit first ran without this file (see ui.common._through_app) goes on here.
if ui.DEEPLINK in st.session_state:
    slug, params = st.session_state.pop(ui.DEEPLINK)
    if slug in by_slug:
        st.switch_page(by_slug[slug], query_params=params)
try:
    with auth_ui.checked_this_run():    # the page's own guard need not ask the database again
        page.run()
except Exception as exc:  # noqa: BLE001 - see the module docstring
    ui.show_error(exc)
