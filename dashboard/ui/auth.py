"""The login gate, session handling and the account widgets.

``require_login()`` runs in app.py before navigation. When authentication is on
(DASHBOARD_AUTH=on, or auto on any database that is not the demo) and the
browser session holds no valid token, it serves the login page alone and stops
the script: no other page, chart, file or export is built. Every rerun re-checks
the token against the database, so expiry, logout, a disabled account or a
password reset take effect at the next click.

Where the token lives: in a browser (a script run for a WebSocket client) only in
the HttpOnly cookie that dashboard.web sets: the Streamlit session id is no login,
a reload keeps the login, and logout in one tab ends the others. The login form
hands its tab a one-time ticket that a few lines of script trade for the cookie
(``POST /account/claim``), then reload. Without a client (AppTest, bare runs) there
is no cookie and session state carries the token (``auth_token``).

Session state: ``auth_token`` (without a browser), ``auth_ticket`` (between a good
password and the cookie) and ``user`` (the user dict pages read through
``ui.current_user()``).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from urllib.parse import quote, urlencode

import pandas as pd
import streamlit as st

from dashboard import auth, settings, web
from dashboard.db.engine import run_write
from dashboard.errors import UserError
from dashboard.ui import common as ui
from dashboard.ui import nav

TOKEN_KEY = "auth_token"
TICKET_KEY = "auth_ticket"
CLEAR_COOKIE_KEY = "auth_clear_cookie"
USER_KEY = "user"
NOTICE_KEY = "auth_notice"
ERROR_KEY = "auth_error"
CHECKED_KEY = "_auth_checked_this_run"
LOGIN_PAGE = "pages/login.py"
HOME_PAGE = "pages/overview.py"


def _login_page(**kw):
    return st.Page(str(nav.ROOT / LOGIN_PAGE), title=ui.t("nav.login"), icon=":material/login:",
                   url_path="login", **kw)


def auth_enabled() -> bool:
    """DASHBOARD_AUTH on/off; auto (and anything unrecognised) = on unless the database is the demo."""
    mode = str(settings.get("DASHBOARD_AUTH")).strip().lower()
    return auth.auth_mode_on(mode, mode == "auto" and ui.facts()["demo"])


def _has_browser() -> bool:
    """Is this run for a connected client? Then only its cookie can carry a login."""
    from collections.abc import Mapping

    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    if not (ctx and runtime.exists()):
        return False
    client = runtime.get_instance().get_client(ctx.session_id)
    # AppTest runs under a mock runtime: its "client" has no real cookie mapping
    return isinstance(getattr(getattr(client, "client_context", None), "cookies", None), Mapping)


def _token() -> str | None:
    if _has_browser():
        st.session_state.pop(TOKEN_KEY, None)       # a session id must never carry a login
        return st.context.cookies.get(web.LOGIN_COOKIE)
    return st.session_state.get(TOKEN_KEY)


def session_token() -> str | None:
    """This session's login token (the cookie's in a browser), for checks made outside the
    script run (a download made at its click: dashboard.ui.downloads)."""
    return _token()


def _source() -> str:
    """The client's address for the failed-login back-off (see web.client_source)."""
    if not _has_browser():
        return "local"
    from streamlit.runtime.context import _get_client_context
    ctx = _get_client_context()
    headers = {k.lower(): v for k, v in st.context.headers.items()}
    return web.client_source(ctx.remote_ip if ctx else None, headers)


def _valid_user() -> dict | None:
    token = _token()
    if not token:
        return None
    claims = auth.token_claims(token)       # signature, expiry, logout: at every rerun
    user = None if claims is None else ui.cached(auth.account_for)(*claims)
    if user is None:
        st.session_state.pop(TOKEN_KEY, None)
        st.session_state.pop(USER_KEY, None)
        if not st.session_state.get(NOTICE_KEY):
            st.session_state[NOTICE_KEY] = "auth.session_expired"
        st.session_state[CLEAR_COOKIE_KEY] = _has_browser()
        return None
    st.session_state[USER_KEY] = user
    return user


def require_login() -> dict:
    """The current user; with auth on and no valid session, serve only the login page and stop."""
    user = _valid_user()
    if user is None and auth_enabled():
        st.session_state.pop(USER_KEY, None)
        st.navigation([_login_page(default=True), *nav.login_everywhere(login_page)], position="hidden").run()
        st.stop()
    user = user or ui.current_user()
    _account_box(user)
    return user


def guard_page() -> None:
    """The gate again, for a page script: stop it unless the session is valid (when auth is on).

    Defence in depth: on the first request after a server start, Streamlit runs a
    ``pages/<name>.py`` named by the URL directly (its "pages directory" mode),
    without app.py and so without :func:`require_login`. Call this before a page
    renders anything (``ui.page_header`` and ``ui.filters``, which every page calls
    first, are the places), so no page renders for someone without a session.
    """
    if st.session_state.get(CHECKED_KEY) is True:
        return              # app.py checked this very run's login before running the page
    if _valid_user() is None and auth_enabled():
        st.session_state.pop(USER_KEY, None)
        login_page()
        st.stop()


@contextmanager
def checked_this_run():
    """Around ``page.run()`` in app.py, after :func:`require_login` let the run through: the
    page's :func:`guard_page` skips a second and third database check of the same login in the
    same run. The mark is removed however the page ends (a rerun or stop is an exception too),
    so a page that Streamlit runs without app.py always checks for itself."""
    st.session_state[CHECKED_KEY] = True
    try:
        yield
    finally:
        st.session_state.pop(CHECKED_KEY, None)


def account_pages(sections: dict) -> dict:
    """The login page: listed for an anonymous visitor when auth is off (the demo, to try a
    role); hidden but reachable otherwise, so that the page a login happened on still exists."""
    visible = not _token() and not auth_enabled()
    section = ui.t("auth.section_account") if visible or not sections else next(iter(sections))
    sections.setdefault(section, []).append(_login_page(visibility="visible" if visible else "hidden"))
    return sections


def _account_box(user: dict) -> None:
    with st.sidebar:
        if not _token():
            st.caption(ui.t("auth.anonymous"))
            return
        st.caption(ui.t("auth.logged_in_as"))
        # st.text: never markdown or HTML, so a typed display name renders as itself
        st.text(f"{user.get('display_name') or user['username']} · {ui.t('auth.role.' + user['role'])}")
        st.button(ui.t("auth.logout"), on_click=logout, icon=":material/logout:", key="logout")


def logout() -> None:
    """End this login in every tab that holds it (they see the login page at their next click)."""
    user = st.session_state.get(USER_KEY) or {}
    token = _token()
    if token:
        auth.revoke_session(token)
        run_write(ui.engine(), lambda c: auth.record(c, user.get("username"), "logout", True))
    for k in (TOKEN_KEY, USER_KEY):
        st.session_state.pop(k, None)
    st.session_state[NOTICE_KEY] = "auth.logged_out"
    st.session_state[CLEAR_COOKIE_KEY] = _has_browser()


def log_in(username: str, password: str) -> str | None:
    """Check the credentials; on success start a session and return None, else the error text."""
    minutes = int(settings.get("DASHBOARD_SESSION_MINUTES"))
    source = _source()

    def txn(conn):
        res = auth.authenticate(conn, username, password, source=source)
        return res, (auth.issue_session(conn, res.user, minutes) if res.ok else None)

    res, token = run_write(ui.engine(), txn)
    if not res.ok:
        return ui.t(res.message_key, seconds=res.retry_after)
    if _has_browser():
        binding = web.ticket_binding(st.context.cookies.get(web.XSRF_COOKIE))
        st.session_state[TICKET_KEY] = auth.issue_ticket(token, binding)
    else:
        st.session_state[TOKEN_KEY] = token
        st.session_state[USER_KEY] = res.user
    return None


def _cookie_script() -> None:
    """Trade a pending ticket for the login cookie and reload; or delete a dead cookie."""
    ticket = st.session_state.pop(TICKET_KEY, None)
    if ticket:
        st.info(ui.t("auth.signing_in"))
        failed = json.dumps(ui.t("auth.sign_in_failed"))
        # the reload starts a new session: a bookmarked page (ui.DEEPLINK, kept only in this
        # session) is where it must land, not the page the login form happened to be on
        go = "window.location.reload();"
        if ui.DEEPLINK in st.session_state:
            slug, params = st.session_state[ui.DEEPLINK]
            target = "./" + quote(slug) + ("?" + urlencode(params, doseq=True) if params else "")
            go = f"window.location.replace({json.dumps(target)});"
        st.html(f"""<script>
fetch({json.dumps(web.CLAIM_PATH)}, {{method: "POST", body: {json.dumps(ticket)},
      credentials: "same-origin"}}).then(function (r) {{
  if (r.status === 204) {{ {go} }} else {{ alert({failed}); }}
}});
</script>""", unsafe_allow_javascript=True)
    elif st.session_state.pop(CLEAR_COOKIE_KEY, False):
        st.html(f"""<script>
fetch({json.dumps(web.LOGOUT_PATH)}, {{method: "POST", credentials: "same-origin"}});
</script>""", unsafe_allow_javascript=True)


def _submit() -> None:
    # A form callback runs before the script, so a good login serves the app in this same run.
    name = st.session_state.get("login_username") or ""
    password = st.session_state.get("login_password") or ""
    st.session_state["login_password"] = ""
    st.session_state[ERROR_KEY] = log_in(name, password)


def login_page() -> None:
    if _token() and _valid_user() and (nav.ROOT / HOME_PAGE).exists():
        st.switch_page(str(nav.ROOT / HOME_PAGE))      # logged in: on to the dashboard
    st.title(ui.t("auth.title"))
    _cookie_script()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(ui.t(notice))
    st.caption(ui.t("auth.intro"))
    with st.form("login", clear_on_submit=False):
        st.text_input(ui.t("auth.username"), max_chars=64, autocomplete="username", key="login_username")
        st.text_input(ui.t("auth.password"), type="password", max_chars=auth.MAX_PASSWORD_LENGTH,
                      autocomplete="current-password", key="login_password")
        st.form_submit_button(ui.t("auth.submit"), type="primary", on_click=_submit)
    error = st.session_state.pop(ERROR_KEY, None)
    if error:
        st.error(error)
    with ui.engine().connect() as conn:
        if auth.user_count(conn) == 0:
            st.warning(ui.t("auth.no_users"))
    if ui.facts()["demo"]:
        from dashboard.demo_users import login_hints
        st.subheader(ui.t("auth.demo_title"))
        st.caption(ui.t("auth.demo_hint"))
        st.dataframe(pd.DataFrame([{ui.t("auth.demo_col_user"): h["username"],
                                    ui.t("auth.demo_col_password"): h["password"],
                                    ui.t("auth.demo_col_role"): h["role"]}
                                   for h in login_hints(ui.lang())]), hide_index=True)


# ---------------------------------------------------------------- page guards and admin helpers

def require(action: str) -> dict:
    """Stop the page with a message unless the current user may do ``action``."""
    user = ui.current_user()
    if not auth.can(user, action):
        st.error(ui.t("auth.forbidden"))
        st.stop()
    return user


def manage(action: str, fn, *args, **kwargs) -> bool:
    """Run a user- or township-management change as the current user (whose scope the core
    enforces); show the outcome. True on success."""
    try:
        auth.manage(ui.engine(), ui.current_user(), action, fn, *args, **kwargs)
    except UserError as exc:
        ui.show_error(exc)
        return False
    st.success(ui.t("admin.done", what=ui.t(f"admin.action.{action}")))
    return True


def table(df: pd.DataFrame) -> None:
    """A read-only table (text cells render as text, never HTML), or a note when empty."""
    if len(df):
        st.dataframe(df, hide_index=True, width="stretch")
    else:
        st.info(ui.t("admin.no_rows"))


def village_picker(key: str) -> list[int]:
    """A multiselect of villages by name (a name repeated across townships carries its
    township's name); returns their ids."""
    ids = ui.village_labels(ui.visible_villages(township_id=ui.chosen_township_id()))
    chosen = st.multiselect(ui.t("admin.villages"), list(ids), key=key,   # not Streamlit's English
                            placeholder=ui.t("admin.villages_placeholder"))
    return sorted(ids[n] for n in chosen if n in ids)


def township_picker(key: str) -> int | None:
    """The township a leader or admin account is given: the county (None) is offered only to a
    county administrator; a township administrator picks among their own."""
    tws = ui.visible_townships()
    opts = ([None] if auth.visible_township_ids(ui.current_user()) is None else []) + [t["id"] for t in tws]
    names = {t["id"]: t["name"] for t in tws}
    return st.selectbox(ui.t("admin.township"), opts, key=key,
                        format_func=lambda i: ui.t("admin.county") if i is None else names[i])


def place(role: str, township_id: int | None) -> list[int]:
    """The township scope a form gives: none for a clerk (their villages place them)."""
    return [] if role == "clerk" or township_id is None else [township_id]


def users() -> list[dict]:
    """The accounts the current user manages (a township administrator: their township's)."""
    with ui.engine().connect() as conn:
        return auth.list_users(conn, ui.current_user())


def townships_frame() -> pd.DataFrame:
    from dashboard import townships
    with ui.engine().connect() as conn:
        rows = townships.listing(conn, ui.current_user())
    cols = {"name": "township_name", "code": "col_code", "villages": "col_villages_n",
            "grids": "col_grids_n", "users": "col_users_n"}
    return pd.DataFrame(rows, columns=list(cols)).rename(
        columns={k: ui.t(f"admin.{v}") for k, v in cols.items()})


def users_frame(rows: list[dict]) -> pd.DataFrame:
    now = datetime.now()

    def state(u):
        if u["disabled"]:
            return ui.t("admin.state_disabled")
        return ui.t("admin.state_locked" if u["locked_until"] and u["locked_until"] > now
                    else "admin.state_active")
    return pd.DataFrame({ui.t("admin.col_username"): [u["username"] for u in rows],
                         ui.t("admin.col_display"): [u["display_name"] for u in rows],
                         ui.t("admin.col_role"): [ui.t(f"auth.role.{u['role']}") for u in rows],
                         ui.t("admin.col_township"): [ui.t("admin.county") if u["townships"] is None
                                                      else "、".join(u["townships"]) for u in rows],
                         ui.t("admin.col_villages"): ["、".join(u["villages"]) for u in rows],
                         ui.t("admin.col_state"): [state(u) for u in rows],
                         ui.t("admin.col_created"): [u["created_at"] for u in rows]})


def audit_filters(usernames: list[str]) -> dict:
    with ui.engine().connect() as conn:
        actions = auth.audit_actions(conn)
    c1, c2, c3 = st.columns(3)
    anyone = ui.t("admin.any")
    who = c1.selectbox(ui.t("admin.filter_user"), [anyone, *usernames], key="audit_user")
    act = c2.selectbox(ui.t("admin.filter_action"), [anyone, *actions], key="audit_action",
                       format_func=lambda a: a if a == anyone else ui.t(f"admin.action.{a}"))
    res = c3.selectbox(ui.t("admin.filter_result"), ["all", "ok", "failed"], key="audit_ok",
                       format_func=lambda r: ui.t(f"admin.result_{r}"))
    c4, c5, c6 = st.columns(3)
    since = c4.date_input(ui.t("admin.filter_from"), value=date.today() - timedelta(days=30), key="audit_from")
    until = c5.date_input(ui.t("admin.filter_to"), value=date.today(), key="audit_to")
    text = c6.text_input(ui.t("admin.filter_text"), key="audit_text")
    return {"username": None if who == anyone else who, "action": None if act == anyone else act,
            "ok": {"all": None, "ok": True, "failed": False}[res], "since": since,
            "until": until + timedelta(days=1) if until else None, "text": text or None}


def audit_frame(filters: dict) -> pd.DataFrame:
    with ui.engine().connect() as conn:
        rows = auth.audit_rows(conn, filters)
    return pd.DataFrame({ui.t("admin.col_at"): [r["at"] for r in rows],
                         ui.t("admin.col_username"): [r["username"] for r in rows],
                         ui.t("admin.col_action"): [ui.t(f"admin.action.{r['action']}")
                                                    if ui.i18n.has(f"admin.action.{r['action']}")
                                                    else r["action"] for r in rows],
                         ui.t("admin.col_ok"): [bool(r["ok"]) for r in rows],
                         ui.t("admin.col_detail"): [r["detail"] or "" for r in rows]})


def uploads_frame() -> pd.DataFrame:
    from dashboard import uploads
    with ui.engine().connect() as conn:
        me = ui.current_user()
        rows = uploads.history(conn, village_ids=auth.visible_village_ids(me),
                               township_ids=auth.visible_township_ids(me))
    cols = {"id": "col_batch", "created_at": "col_at", "username": "col_username", "kind": "col_kind",
            "file_name": "col_file", "village": "col_village", "rows_read": "col_rows",
            "inserted": "col_inserted", "updated": "col_updated", "unchanged": "col_unchanged",
            "state": "col_state"}
    df = pd.DataFrame(rows, columns=list(cols))
    df["state"] = [ui.t(f"admin.state_{s}") for s in df["state"]]
    return df.rename(columns={k: ui.t(f"admin.{v}") for k, v in cols.items()})
