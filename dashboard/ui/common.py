"""Page furniture shared by every page: language, engine, cached queries, filters, errors.

Pages call these and core functions; they hold no SQL and no literal strings.
Cached reads are keyed on the database's data version (bumped by every write),
so an upload or undo by anyone shows on every page at the next rerun.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import streamlit as st

from dashboard import fmt, i18n, periods, settings
from dashboard.db.engine import failure_kind, get_engine, version_token
from dashboard.errors import UserError

LANG_KEY = "lang"


def lang() -> str:
    if LANG_KEY not in st.session_state:
        st.session_state[LANG_KEY] = settings.get("DASHBOARD_LANG")
    return st.session_state[LANG_KEY]


def t(key: str, **params) -> str:
    return i18n.t(key, lang(), **params)


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    return get_engine(url, create=False)


def engine():
    return _engine(settings.database_url())


def db_url() -> str:
    return settings.database_url()


def version() -> str:
    return version_token(engine())


def cached(fn):
    """Wrap a core function ``fn(conn, *args)`` as a cached call keyed on (db, data version, args).

    Arguments must be hashable by st.cache_data (dates, tuples, strings, Periods).
    """
    @st.cache_data(show_spinner=False, max_entries=256)
    def _run(url: str, ver: str, name: str, *args):
        with get_engine(url, create=False).connect() as conn:
            return fn(conn, *args)

    def call(*args):
        return _run(db_url(), version(), f"{fn.__module__}.{fn.__qualname__}", *args)

    call.__wrapped__ = fn
    return call


def current_user() -> dict:
    """The logged-in user: {username, role, village_ids (None = all)}.

    Replaced by the login flow when authentication is on; without it the viewer is
    an anonymous leader (read-only) unless the demo grants more.
    """
    return st.session_state.get("user") or {"username": "anonymous", "role": "leader",
                                            "village_ids": None, "display_name": ""}


_LOG = logging.getLogger("dashboard.ui")
if not _LOG.handlers:       # Streamlit configures only its own logger: the details need a way out
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _LOG.addHandler(_handler)
    _LOG.propagate = False


def show_error(exc: BaseException) -> None:
    """The visitor's side of a failure: a Chinese sentence (full disk, read-only or unreachable
    database, or a general one) with a reference number; the traceback, URL, host and paths go
    to the server log under that number, never to the page (client.showErrorDetails is off too)."""
    kind = failure_kind(exc)
    if isinstance(exc, UserError) and kind == "other":
        st.error(exc.message(lang()))
        return
    ref = uuid.uuid4().hex[:8]
    _LOG.error("page failed, ref %s (%s)", ref, kind, exc_info=exc)
    st.error(t(f"app.error_{kind}", ref=ref), icon=":material/error:")


# ---------------------------------------------------------------- filters

@dataclass(frozen=True)
class Filters:
    period: periods.Period
    village_ids: tuple[int, ...] | None   # None = all villages

    @property
    def key(self) -> tuple:
        return (self.period, self.village_ids)


def _facts(conn):
    from dashboard.queries import summary
    return dict(range=summary.data_range(conn), villages=summary.villages(conn),
                township=summary.township(conn), demo=summary.is_demo(conn))


facts = cached(_facts)


def guard() -> None:
    """Stop a page before it renders anything unless the session may see it.

    app.py gates every page, but Streamlit runs ``pages/<name>.py`` named by a deep
    link directly on a session's first request (its pages-directory mode), without
    app.py; every page calls page_header or filters first, so the gate runs here too.
    """
    from dashboard.ui import auth as auth_ui  # auth_ui imports this module
    _through_app()
    auth_ui.guard_page()


VIA_APP = "_via_app"
DEEPLINK = "_deeplink"


def _through_app() -> None:
    """Send a deep link that Streamlit ran without app.py back through it.

    Run that way a page has no page config, language switch or translated
    navigation; app.py then opens the page the link named (after login).
    AppTest runs a page as its own main script, which is left alone.
    """
    import inspect
    from pathlib import Path

    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    if ctx is None or st.session_state.get(VIA_APP) or Path(ctx.main_script_path).name != "app.py":
        return
    pages_dir = Path(ctx.main_script_path).resolve().parent / "pages"
    for frame in inspect.stack():
        f = Path(frame.filename).resolve()
        if f.parent == pages_dir:
            st.session_state[DEEPLINK] = (f.stem, dict(st.query_params))
            break
    st.switch_page(Path(ctx.main_script_path).name)


def filters(show_villages: bool = True, key: str = "f") -> Filters:
    """The sidebar period and village filters, shared by every page through session state."""
    guard()
    f = facts()
    first, last = f["range"]
    today = date.today()
    first = first or today
    last = last or today
    kinds = list(periods.GRANULARITIES)
    with st.sidebar:
        st.subheader(t("filter.period"))
        kind = st.radio(t("filter.granularity"), kinds, index=kinds.index(st.session_state.get(
            "period_kind", "quarter")), format_func=lambda k: t(f"filter.{k}"),
            horizontal=True, key="period_kind")
        if kind == "custom":
            default = periods.latest_complete("quarter", last, today)
            c1, c2 = st.columns(2)
            a = c1.date_input(t("filter.from"), value=st.session_state.get("period_from", default.start),
                              key="period_from")
            b = c2.date_input(t("filter.to"), value=st.session_state.get("period_to", default.end),
                              key="period_to")
            if b < a:
                a, b = b, a
            period = periods.Period(a, b, "custom")
        else:
            opts = periods.options(kind, first, last)
            default = periods.latest_complete(kind, last, today)
            labels = [periods.compact(p) for p in opts]
            cur = st.session_state.get(f"period_{kind}")
            idx = labels.index(cur) if cur in labels else (
                labels.index(periods.compact(default)) if periods.compact(default) in labels else 0)
            choice = st.selectbox(t("filter.which"), labels, index=idx,
                                  format_func=lambda s: periods.parse(kind, s).label(lang()),
                                  key=f"period_{kind}")
            period = periods.parse(kind, choice)
        village_ids = None
        if show_villages:
            # names as options (unique within a township): AppTest and URLs handle strings best
            ids = {v["name"]: v["id"] for v in f["villages"]}
            chosen = st.multiselect(t("filter.villages"), list(ids),
                                    placeholder=t("filter.all_villages"), key="villages")
            village_ids = tuple(sorted(ids[n] for n in chosen if n in ids)) or None
    return Filters(period, village_ids)


def page_header(title_key: str) -> None:
    guard()
    f = facts()
    st.title(t(title_key))
    if f["demo"]:
        st.info(t("app.demo_banner"), icon="ℹ️")


def data_as_of() -> str:
    f = facts()
    last = f["range"][1]
    return t("app.data_as_of", when=last.isoformat() if last else "—")


def village_names() -> dict[int, str]:
    return {v["id"]: v["name"] for v in facts()["villages"]}


def now() -> datetime:
    return datetime.now()


__all__ = ["lang", "t", "engine", "cached", "filters", "Filters", "page_header", "show_error",
           "current_user", "esc", "fmt", "village_names", "data_as_of"]
