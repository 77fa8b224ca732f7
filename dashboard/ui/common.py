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


@st.cache_resource(show_spinner=False, max_entries=256)
def _shared(url: str, ver: str, name: str, key: tuple, _make):
    return _make()


def shared(name: str, *key):
    """``shared(name, *key)(make)``: what ``make()`` returns, built once for every session per
    (database, data version, name, key) and handed out as the same object, never copied
    (st.cache_resource). For what is costly to build *and* to copy: plotly figures, display
    frames. ``key`` must name everything the value depends on besides the data: the filter
    (period and villages: the scope of the figures), the language, the options. Callers never
    mutate the value (st.plotly_chart and st.dataframe do not). ``make`` reads the data it
    needs itself (through ``cached`` calls): data read before the version was would be kept
    under a newer version after a write in between.
    """
    def run(make):
        return _shared(db_url(), version(), name, key, make)
    return run


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


def facts() -> dict:
    """Data range, villages, township, demo flag: read at almost every step of a run, so one
    object shared by every session per data version (st.cache_resource), never copied."""
    def make():
        with get_engine(db_url(), create=False).connect() as conn:
            return _facts(conn)
    return shared("facts")(make)


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


SELECTION = "_selection"        # the period and villages chosen, shared by every page
_URL_SEEN = "_selection_url"    # the query string this session last wrote
URL_PERIOD, URL_VILLAGES = "period", "villages"


def period_from_url(value) -> periods.Period | None:
    """A period from its compact form (2025, 2025Q4, 2025-10, 2025-01-01..2025-03-31); None if not one."""
    s = str(value or "").strip()
    kind = ("custom" if ".." in s else "quarter" if "Q" in s.upper() else "month" if "-" in s else "year")
    try:
        if kind == "custom":   # either order: a hand-edited link still means that range
            a, b = sorted(date.fromisoformat(x) for x in s.split(".."))
            return periods.Period(a, b, "custom")
        return periods.parse(kind, s)
    except (ValueError, TypeError, OverflowError):
        return None


def village_tokens(village_ids, villages: list[dict]) -> str:
    """The villages as the URL names them: statistical codes (ids where a village has none), not
    names, which may repeat across townships."""
    by_id = {v["id"]: v for v in villages}
    return ",".join(str(by_id[i].get("code") or i) for i in village_ids if i in by_id)


def villages_from_url(value, villages: list[dict]) -> tuple[int, ...] | None:
    """The village ids a URL's comma-separated codes (or ids) name; unknown tokens are dropped."""
    by_code = {str(v["code"]): v["id"] for v in villages if v.get("code")}
    ids = {v["id"] for v in villages}
    out = set()
    for tok in str(value or "").split(","):
        tok = tok.strip()
        if tok in by_code:
            out.add(by_code[tok])
        elif tok.isascii() and tok.isdigit() and int(tok) in ids:
            out.add(int(tok))
    return tuple(sorted(out)) or None


def _selection(f: dict, default: dict) -> dict:
    """The session's selection; a query string this session did not write itself (a bookmark or a
    shared link) replaces it. Navigating between pages drops the query string: the selection stays."""
    sel = st.session_state.get(SELECTION) or dict(default, which=dict(default["which"]))
    incoming = {k: st.query_params.get(k) for k in (URL_PERIOD, URL_VILLAGES) if k in st.query_params}
    if incoming.get(URL_PERIOD) and incoming != st.session_state.get(_URL_SEEN):
        p = period_from_url(incoming[URL_PERIOD])
        first, last = f["range"]
        if p is not None and (p.kind == "custom" or (first and last and p.end >= first and p.start <= last)):
            sel = dict(sel, kind=p.kind, which=dict(sel["which"]))
            if p.kind == "custom":
                sel["from"], sel["to"] = p.start, p.end
            else:
                sel["which"][p.kind] = periods.compact(p)
        sel["villages"] = villages_from_url(incoming.get(URL_VILLAGES), f["villages"])
    st.session_state[SELECTION] = sel
    return sel


def _remember() -> None:
    """on_change of every filter widget: the widgets' values become the session's selection."""
    sel, ss = st.session_state[SELECTION], st.session_state
    sel["kind"] = ss.get("period_kind", sel["kind"])
    for k in ("month", "quarter", "year"):
        if ss.get(f"period_{k}"):
            sel["which"][k] = ss[f"period_{k}"]
    for k in ("from", "to"):
        if ss.get(f"period_{k}"):
            sel[k] = ss[f"period_{k}"]
    if "villages" in ss:
        ids = {v["name"]: v["id"] for v in facts()["villages"]}
        sel["villages"] = tuple(sorted(ids[n] for n in ss["villages"] if n in ids)) or None


def filters(show_villages: bool = True, key: str = "f") -> Filters:
    """The sidebar period and village filters: one selection per session, shared by every page,
    and written to the URL (?period=2025&villages=<codes>) so that a link opens exactly it."""
    guard()
    f = facts()
    first, last = f["range"]
    today = date.today()
    first = first or today
    last = last or today
    kinds = list(periods.GRANULARITIES)
    quarter = periods.latest_complete("quarter", last, today)
    sel = _selection(f, {"kind": "quarter", "which": {}, "from": quarter.start, "to": quarter.end,
                         "villages": None})
    ss = st.session_state
    # Widgets take their values from the selection (set before they are drawn) and give them back
    # through _remember: their own state does not survive a change of page.
    ss["period_kind"] = sel["kind"] if sel["kind"] in kinds else "quarter"
    with st.sidebar:
        st.subheader(t("filter.period"))
        kind = st.radio(t("filter.granularity"), kinds, format_func=lambda k: t(f"filter.{k}"),
                        horizontal=True, key="period_kind", on_change=_remember)
        if kind == "custom":
            ss["period_from"], ss["period_to"] = sel["from"], sel["to"]
            c1, c2 = st.columns(2)
            a = c1.date_input(t("filter.from"), key="period_from", on_change=_remember)
            b = c2.date_input(t("filter.to"), key="period_to", on_change=_remember)
            if b < a:
                a, b = b, a
            period = periods.Period(a, b, "custom")
        else:
            opts = periods.options(kind, first, last)
            default = periods.latest_complete(kind, last, today)
            labels = [periods.compact(p) for p in opts]
            cur = sel["which"].get(kind)
            ss[f"period_{kind}"] = cur if cur in labels else (
                periods.compact(default) if periods.compact(default) in labels else labels[0])
            choice = st.selectbox(t("filter.which"), labels,
                                  format_func=lambda s: periods.parse(kind, s).label(lang()),
                                  key=f"period_{kind}", on_change=_remember)
            period = periods.parse(kind, choice)
        village_ids = None
        if show_villages:
            # names as options (unique within a township); the URL carries codes
            names = {v["id"]: v["name"] for v in f["villages"]}
            ss["villages"] = [names[i] for i in sel.get("villages") or () if i in names]
            chosen = st.multiselect(t("filter.villages"), list(names.values()),
                                    placeholder=t("filter.all_villages"), key="villages",
                                    on_change=_remember)
            ids = {n: i for i, n in names.items()}
            village_ids = tuple(sorted(ids[n] for n in chosen if n in ids)) or None
    _to_url(period, village_ids, f["villages"])
    return Filters(period, village_ids)


def _to_url(period: periods.Period, village_ids, villages: list[dict]) -> None:
    want = {URL_PERIOD: periods.compact(period)}
    if village_ids:
        want[URL_VILLAGES] = village_tokens(village_ids, villages)
    for k in (URL_PERIOD, URL_VILLAGES):
        if k in want and st.query_params.get(k) != want[k]:
            st.query_params[k] = want[k]
        elif k not in want and k in st.query_params:
            del st.query_params[k]
    st.session_state[_URL_SEEN] = want


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


def scope(f: Filters) -> str:
    """全镇, the one village's name, or 所选村（社区）: the words for what the figures cover."""
    return i18n.scope(f.village_ids, village_names(), lang())


def now() -> datetime:
    return datetime.now()


__all__ = ["lang", "t", "engine", "cached", "filters", "Filters", "page_header", "show_error",
           "current_user", "esc", "fmt", "village_names", "data_as_of"]
