"""The page list: file, title key, icon, section, and who may see it.

app.py registers whichever of these files exist, so a new page is one line here.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (slug, file, title key, icon, section key, roles allowed; None = everyone logged in)
PAGES = [
    ("overview", "pages/overview.py", "nav.overview", ":material/dashboard:", "nav.section_dashboard", None),
    ("county", "pages/county.py", "nav.county", ":material/account_tree:", "nav.section_dashboard", None),
    ("map", "pages/map.py", "nav.map", ":material/map:", "nav.section_dashboard", None),
    ("disputes", "pages/disputes.py", "nav.disputes", ":material/balance:", "nav.section_dashboard", None),
    ("volunteers", "pages/volunteers.py", "nav.volunteers", ":material/volunteer_activism:", "nav.section_dashboard", None),
    ("visits", "pages/visits.py", "nav.visits", ":material/record_voice_over:", "nav.section_dashboard", None),
    ("village", "pages/village.py", "nav.village", ":material/holiday_village:", "nav.section_dashboard", None),
    ("completeness", "pages/completeness.py", "nav.completeness", ":material/fact_check:", "nav.section_dashboard", None),
    ("meeting", "pages/meeting.py", "nav.meeting", ":material/slideshow:", "nav.section_dashboard", None),
    ("upload", "pages/upload.py", "nav.upload", ":material/upload_file:", "nav.section_data", ("clerk", "admin")),
    ("admin", "pages/admin.py", "nav.admin", ":material/admin_panel_settings:", "nav.section_admin", ("admin",)),
]


FAVICON = "/app/static/favicon.png"     # static/favicon.png, served by Streamlit's static serving


def favicon_url() -> str:
    """The page icon as a static file URL (honours server.baseUrlPath). Given as a file path,
    Streamlit would serve it from /media, which the login gate closes to visitors who are not
    logged in: the login page showed a broken icon and the server logged a 403 for it."""
    import streamlit as st
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{FAVICON}" if base else FAVICON


def home_page(target):
    """The app's root URL as a hidden page that opens ``target`` (the overview) with the query
    string it was given. The overview keeps its own path, /overview, so that bookmarked or sent
    links to it open it: Streamlit serves a default page only at / and answers its path with an
    English "Page not found"."""
    import streamlit as st

    def home():
        st.switch_page(target, query_params=dict(st.query_params))
    return st.Page(home, title=target.title, icon=target.icon, url_path="home", default=True,
                   visibility="hidden")


def login_everywhere(login) -> list:
    """Before login, every page's path serves the login form, so that a bookmarked link is
    neither "not found" nor lost: once logged in, the same path opens that page."""
    import streamlit as st
    return [st.Page(login, title=slug, url_path=slug, visibility="hidden") for slug, *_ in PAGES]


# pages that only mean something to someone who sees several townships (a county)
SEVERAL_TOWNSHIPS = ("county",)


def available(role: str | None = None, several_townships: bool = True) -> list[tuple]:
    """Pages whose file exists and that the role may open (role None: all); without
    ``several_townships`` (one township in the database, or a township's own staff) the county
    pages are left out, so nothing changes for a single township's users."""
    return [p for p in PAGES if (ROOT / p[1]).exists() and (role is None or p[5] is None or role in p[5])
            and (several_townships or p[0] not in SEVERAL_TOWNSHIPS)]
