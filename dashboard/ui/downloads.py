"""Every download button of the app: the file is made at the click, for a login valid then.

``button(container, label, make, ...)`` hands Streamlit a callable (st.download_button's
deferred data): nothing is made while the page runs, and when the button is pressed the
session's login, captured with the page, is checked against the database again
(``auth.session_user``: logged out, expired, disabled or a changed password → no data) before
``make()`` runs, through ``export.at_click``. The callable runs in a worker thread outside the
script run, so it reads no session state: the token, the database URL and whether a login is
required are taken when the page is drawn. With authentication off (the demo) anyone may see
every page and there is nothing to re-check. The gate (dashboard.web) checks the login again
when the browser fetches the file from /media.
"""
from __future__ import annotations

from dashboard import auth, export
from dashboard.db.engine import get_engine
from dashboard.ui import auth as auth_ui
from dashboard.ui import common as ui


def login_check():
    """() -> bool, to run at the click: is the login that drew this page still valid?"""
    if not auth_ui.auth_enabled():
        return lambda: True
    token, url = auth_ui.session_token(), ui.db_url()

    def still_valid() -> bool:
        if not token:
            return False
        with get_engine(url, create=False).connect() as conn:
            return auth.session_user(conn, token) is not None
    return still_valid


def button(container, label: str, make, *, file_name: str, mime: str, key: str, **kw):
    """``container.download_button`` whose file ``make()`` (or the bytes ``make``) is made at
    the click after a fresh login check. Extra keywords go to st.download_button."""
    kw.setdefault("on_click", "ignore")
    return container.download_button(label, export.at_click(make, login_check()), file_name=file_name,
                                     mime=mime, key=key, **kw)
