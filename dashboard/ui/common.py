"""Page furniture shared by every page: language, engine, cached queries, filters, errors.

Pages call these and core functions; they hold no SQL and no literal strings.
Cached reads are keyed on the database's data version (bumped by every write),
so an upload or undo by anyone shows on every page at the next rerun.
"""
from __future__ import annotations

import logging
import pickle
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import fmt, i18n, periods, settings
from dashboard.db.engine import failure_kind, get_engine, local_writes, version_token
from dashboard.errors import UserError

LANG_KEY = "lang"


def lang() -> str:
    """The session's language, read once per script run (every t() asks; a session-state read
    takes its lock). The language radio's change reaches session state before the run starts."""
    return _per_run("lang", (), _session_lang)


def _session_lang() -> str:
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
    """The data version, read once per script run: a page asks for it at every cached read
    (15-20 times a run), and with 25 sessions each database round trip waits for the GIL.
    Read again within the run after this process wrote (its own upload, then its table); the
    next run reads it anew, so a write by anyone shows at the next rerun, as before."""
    return _per_run("version", (db_url(), local_writes()), lambda: version_token(engine()))


def _per_run(name: str, key: tuple, make):
    """``make()`` once per script run of this session while ``key`` stays the same."""
    # a fresh object per run (ScriptRunContext.reset); without it (bare mode): made every time
    run = getattr(get_script_run_ctx(suppress_warning=True), "parallel_coordinator", None)
    memo = getattr(run, "_dashboard_memo", None) if run is not None else {}
    if memo is None:
        memo = run._dashboard_memo = {}
    hit = memo.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = make()
    memo[name] = (key, value)
    return value


_CACHED: dict = {}


def _key(*parts) -> bytes:
    """A cache key as bytes. st.cache_data and st.cache_resource hash bytes in one pass, but a
    tuple of Periods, dates and dicts object by object: ~0.23 ms against ~0.01 ms, at 15-20
    cached reads in every run of every session. pickle is deterministic for what keys hold
    (strings, numbers, dates, tuples, dataclasses, dicts in the same order); where two equal
    values pickle apart (a dict built in another order) the cost is a miss, never a wrong hit."""
    return pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL)


def cached(fn):
    """Wrap a core function ``fn(conn, *args)`` as a cached call keyed on (db, data version, args).

    Arguments must be hashable by st.cache_data (dates, tuples, strings, Periods). One wrapper
    per function for the life of the process (st.cache_data reads a function's source to key it:
    making the wrapper at each call cost more than the cache hit).
    """
    call = _CACHED.get(fn)
    if call is not None:
        return call

    # one argument: st.cache_data looks up the signature once per argument at every call
    @st.cache_data(show_spinner=False, max_entries=256)
    def _run(key: bytes):
        url, _ver, _name, args = pickle.loads(key)
        with get_engine(url, create=False).connect() as conn:
            return fn(conn, *args)

    name = f"{fn.__module__}.{fn.__qualname__}"

    def call(*args):
        return _run(_key(db_url(), version(), name, args))

    call.__wrapped__ = fn
    _CACHED[fn] = call
    return call


def reader(fn, *args):
    """``() -> fn(conn, *args)``, uncached, on the database of this run: what a download of a
    whole list (too long to keep in the cache of every session) reads when it is pressed."""
    url = db_url()

    def read():
        with get_engine(url, create=False).connect() as conn:
            return fn(conn, *args)
    return read


@st.cache_resource(show_spinner=False, max_entries=256)
def _shared(key: bytes, _make):      # one keyed argument: see ``cached``
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
        return _shared(_key(db_url(), version(), name, key), make)
    return run


def arrow(df):
    """A display frame as the Arrow table st.dataframe would make of it, for a ``shared`` value:
    converted once for every session instead of at every rerun of every one (the same bytes:
    Streamlit's own conversion)."""
    from streamlit import dataframe_util
    return dataframe_util.convert_pandas_df_to_arrow_table(df)


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
    # None = every village of the database; otherwise the villages the figures cover: those
    # picked, or every village of the chosen township / of the user's scope (never None for a
    # township-scoped user, so that no query can fall back to the county)
    village_ids: tuple[int, ...] | None
    township_id: int | None = None        # the township chosen or fixed (None: several/county)
    whole: bool = True                    # no villages picked: the whole township / county

    @property
    def key(self) -> tuple:
        return (self.period, self.village_ids, self.township_id)


def _facts(conn):
    from dashboard.queries import summary
    return dict(range=summary.data_range(conn), villages=summary.villages(conn),
                township=summary.township(conn), townships=summary.townships(conn),
                demo=summary.is_demo(conn))


def facts() -> dict:
    """Data range, villages, township, demo flag: read at almost every step of a run, so one
    object shared by every session per data version (st.cache_resource), never copied."""
    def make():
        with get_engine(db_url(), create=False).connect() as conn:
            return _facts(conn)
    # asked for 8 times a run: the shared object, looked up once per run and version
    return _per_run("facts", (db_url(), version()), lambda: shared("facts")(make))


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
_LABELS = "_village_labels"     # the village filter's {label: id} of this run (for _remember)
URL_PERIOD, URL_VILLAGES, URL_TOWNSHIP = "period", "villages", "township"


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


def visible_townships(user: dict | None = None) -> list[dict]:
    """The townships the user may see (every one for the county), by code."""
    from dashboard import auth
    vis = auth.visible_township_ids(current_user() if user is None else user)
    return [t for t in facts()["townships"] if vis is None or t["id"] in vis]


def visible_villages(user: dict | None = None, township_id: int | None = None) -> list[dict]:
    """The villages the user may see, within ``township_id`` when given."""
    from dashboard import auth
    vis = auth.visible_village_ids(current_user() if user is None else user)
    return [v for v in facts()["villages"] if (vis is None or v["id"] in vis)
            and (township_id is None or v.get("township_id") == township_id)]


def chosen_township_id() -> int | None:
    """The township of this session's selection (fixed for a one-township user), or None."""
    tws = visible_townships()
    if len(tws) == 1:
        return tws[0]["id"]
    tid = (st.session_state.get(SELECTION) or {}).get("township")
    return tid if any(t["id"] == tid for t in tws) else None


def out_of_scope(denied: dict) -> None:
    """A link or filter naming places outside the user's scope: ignored, audited, said once."""
    from dashboard import auth
    from dashboard.db.engine import run_write
    user = current_user()
    detail = {k: str(v)[:200] for k, v in denied.items()}
    try:
        run_write(engine(), lambda c: auth.record(c, user.get("username"), "scope_denied", False,
                                                  detail))
    except Exception:  # a read-only database still refuses the place; the log says why
        _LOG.warning("could not audit an out-of-scope link %s", detail, exc_info=True)
    st.warning(t("auth.out_of_scope"))


def _township_from_url(value, tws: list[dict], all_tws: list[dict]):
    """(township id or None, False) for a URL's township code; (None, True) for one the user
    may not see (another township's code, or any unknown token)."""
    code = str(value or "").strip()
    if not code:
        return None, False
    hit = next((t["id"] for t in tws if str(t["code"]) == code), None)
    return (hit, False) if hit is not None else (None, True)


def _selection(f: dict, default: dict) -> dict:
    """The session's selection; a query string this session did not write itself (a bookmark or a
    shared link) replaces it. Navigating between pages drops the query string: the selection stays.
    Places outside the user's scope in it are dropped and audited (``scope_denied``)."""
    sel = st.session_state.get(SELECTION) or dict(default, which=dict(default["which"]))
    keys = (URL_PERIOD, URL_VILLAGES, URL_TOWNSHIP)
    incoming = {k: st.query_params.get(k) for k in keys if k in st.query_params}
    if incoming and incoming != st.session_state.get(_URL_SEEN) and \
            (URL_TOWNSHIP in incoming or URL_VILLAGES in incoming):
        tws = visible_townships()
        tid, bad = _township_from_url(incoming.get(URL_TOWNSHIP), tws, f["townships"])
        denied = {URL_TOWNSHIP: incoming[URL_TOWNSHIP]} if bad else {}
        sel = dict(sel, township=tid)
        if URL_VILLAGES in incoming:
            mine = visible_villages()
            ids = villages_from_url(incoming[URL_VILLAGES], mine)
            anyone = villages_from_url(incoming[URL_VILLAGES], f["villages"]) or ()
            if set(anyone) - set(ids or ()):
                denied[URL_VILLAGES] = incoming[URL_VILLAGES]
            sel["villages"] = ids
        if denied:
            out_of_scope(denied)
    if incoming.get(URL_PERIOD) and incoming != st.session_state.get(_URL_SEEN):
        p = period_from_url(incoming[URL_PERIOD])
        first, last = f["range"]
        if p is not None and (p.kind == "custom" or (first and last and p.end >= first and p.start <= last)):
            sel = dict(sel, kind=p.kind, which=dict(sel["which"]))
            if p.kind == "custom":
                sel["from"], sel["to"] = p.start, p.end
            else:
                sel["which"][p.kind] = periods.compact(p)
        sel["villages"] = villages_from_url(incoming.get(URL_VILLAGES), visible_villages())
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
    if "township_pick" in ss:
        new = ss["township_pick"] or None
        if new != sel.get("township"):
            sel["township"], sel["villages"] = new, None
            ss.pop("villages", None)
    if "villages" in ss:
        ids = ss.get(_LABELS) or {}
        sel["villages"] = tuple(sorted(ids[n] for n in ss["villages"] if n in ids)) or None


def filters(show_villages: bool = True, key: str = "f", show_period: bool = True) -> Filters:
    """The sidebar period and village filters: one selection per session, shared by every page,
    and written to the URL (?period=2025&villages=<codes>) so that a link opens exactly it.
    ``show_period=False``: a page with a calendar of its own (报送情况) shows the township and
    village choice only; the period chosen elsewhere is kept as it was."""
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
        if show_period:
            period = _period_widgets(sel, kinds, first, last, today)
        else:
            period = _saved_period(sel, kinds, first, last, today)
        tid = township_choice(sel)
        mine = visible_villages(township_id=tid)
        village_ids = None
        if show_villages:
            # names as options (unique within a township; across townships a repeated name
            # carries its township); the URL carries codes
            labels = village_labels(mine)
            names = {i: n for n, i in labels.items()}
            ss[_LABELS] = labels
            ss["villages"] = [names[i] for i in sel.get("villages") or () if i in names]
            chosen = st.multiselect(t("filter.villages"), list(labels),
                                    placeholder=t("filter.all_villages"), key="villages",
                                    on_change=_remember)
            village_ids = tuple(sorted(labels[n] for n in chosen if n in labels)) or None
    whole = village_ids is None
    if whole and not _covers_all(tid):
        village_ids = tuple(sorted(v["id"] for v in mine))
    _to_url(period, None if whole else village_ids, f["villages"], tid)
    return Filters(period, village_ids, tid, whole)


def _period_widgets(sel: dict, kinds: list, first: date, last: date, today: date) -> periods.Period:
    """The sidebar's period widgets, set from the selection; the period they choose."""
    ss = st.session_state
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
        lg = lang()
        choice = st.selectbox(t("filter.which"), labels,
                              format_func=lambda s: periods.parse(kind, s).label(lg),
                              key=f"period_{kind}", on_change=_remember)
        period = periods.parse(kind, choice)
    return period


def _saved_period(sel: dict, kinds: list, first: date, last: date, today: date) -> periods.Period:
    """The period the selection holds, as the widgets would choose it, without drawing them."""
    kind = sel["kind"] if sel["kind"] in kinds else "quarter"
    if kind == "custom":
        a, b = sorted((sel["from"], sel["to"]))
        return periods.Period(a, b, "custom")
    labels = [periods.compact(p) for p in periods.options(kind, first, last)]
    cur, default = sel["which"].get(kind), periods.compact(periods.latest_complete(kind, last, today))
    return periods.parse(kind, cur if cur in labels else default if default in labels or not labels
                         else labels[0])


def _covers_all(township_id: int | None) -> bool:
    """Whether the user's choice is every village of the database (then village_ids stays None):
    a county-scoped user with the whole county, or the only township there is."""
    from dashboard import auth
    if auth.visible_township_ids(current_user()) is not None:
        return False
    return township_id is None or len(facts()["townships"]) <= 1


def village_labels(villages: list[dict]) -> dict[str, int]:
    """{label: id}: the name, with the township's name after it where the name repeats."""
    from dashboard.queries import summary
    return summary.village_labels(villages, facts()["townships"])


def township_choice(sel: dict) -> int | None:
    """The township selector, for those who may see more than one (its value in the URL as the
    township's code); the one township of everyone else."""
    tws = visible_townships()
    if len(tws) <= 1:
        sel["township"] = tws[0]["id"] if tws else None
        return sel["township"]
    from dashboard import auth
    county = auth.visible_township_ids(current_user()) is None
    opts = {0: t("filter.whole_county" if county else "filter.all_townships"),
            **{tw["id"]: tw["name"] for tw in tws}}
    cur = sel.get("township")
    st.session_state["township_pick"] = cur if cur in opts else 0
    tid = st.selectbox(t("filter.township"), list(opts), format_func=opts.get, key="township_pick",
                       on_change=_remember)
    sel["township"] = tid or None
    return tid or None


def _to_url(period: periods.Period, village_ids, villages: list[dict],
            township_id: int | None = None) -> None:
    want = {URL_PERIOD: periods.compact(period)}
    tws = visible_townships()
    if township_id is not None and len(tws) > 1:
        want[URL_TOWNSHIP] = next((str(tw["code"]) for tw in tws if tw["id"] == township_id), "")
    if village_ids:
        want[URL_VILLAGES] = village_tokens(village_ids, villages)
    for k in (URL_PERIOD, URL_TOWNSHIP, URL_VILLAGES):
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
    """{id: name} of the villages the user may see, within the chosen township."""
    return {v["id"]: v["name"] for v in visible_villages(township_id=chosen_township_id())}


def township() -> dict | None:
    """The chosen township (id, code, name, is_demo), or None for the whole county / several."""
    tid = chosen_township_id()
    return next((dict(tw) for tw in facts()["townships"] if tw["id"] == tid), None)


def scope(f: Filters) -> str:
    """全镇 (or the township's name in a county), the one village's name, or 所选村（社区）:
    the words for what the figures cover."""
    if getattr(f, "whole", False) and f.village_ids is not None:
        tw = township()
        return tw["name"] if tw else i18n.t("scope.county", lang())
    if f.village_ids is None and len(facts()["townships"]) > 1:
        return i18n.t("scope.county", lang())
    return i18n.scope(f.village_ids, village_names(), lang())


def url_period(f: Filters) -> str:
    """The period of a selection as the URL writes it (2025, 2025Q4, 2025-10, a..b)."""
    return periods.compact(f.period)


def now() -> datetime:
    return datetime.now()


__all__ = ["lang", "t", "engine", "cached", "filters", "Filters", "page_header", "show_error",
           "current_user", "esc", "fmt", "village_names", "data_as_of"]
