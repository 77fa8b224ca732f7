"""``python -m dashboard bench``: generate a township and a county, measure, print every figure.

A benchmark is a script that prints figures, not a timed test. One run:

* builds the demo township and a deterministic county (500 villages, 5,000 grids,
  1,000,000 disputes, 300,000 volunteer activities, 100,000 visits over five years)
  into SQLite files under ``--workdir`` or PostgreSQL databases (``--db``; ``--reuse`` keeps
  them between runs);
* **ingest**: writes the county's disputes as one clerk CSV and imports it through the
  real intake (``loaders.import_file``: detect, parse, validate, write) into a database
  holding only the county's villages and grids, then the aggregate rebuild its callers run
  after a bulk load (``ingest_with_refresh_rows_per_s``); compared with the store's own floor,
  the same rows inserted bare into the same schema + index build + commit, in the same run
  (``ingest_vs_store_floor``), and with ``pyarrow.csv`` parsing the same bytes;
* **metrics**: ``metrics.compute`` for all villages over one year at both scales, one
  township's villages in the county over the same township alone in a database of its own
  (``metrics_township_in_county_vs_alone``), and the same base figures from the raw rows by
  DuckDB and by pandas (data already in memory);
* **pages**: every page of ``dashboard/ui/nav.py`` through ``AppTest``, cold (caches
  cleared) and warm (second run), at both scales;
* **map**: the county grid layer's payload and draw time in headless Chromium;
* **server**: ``streamlit run`` on the county, 20 simultaneous sessions on the overview
  (WebSocket clients speaking the frontend's protocol: connect, ask for the script run,
  wait for it to finish; p50/p95), then every page once; the app process's peak RSS
  throughout (and with any child processes, e.g. Chromium for exports).
* **logins**: ``streamlit run serve.py`` with authentication on, 25 users at once log in
  through the form (ticket → HttpOnly cookie → new WebSocket) and see the overview, then
  view it 3 more times once all are in: p50/p95 of login + first page and of the repeat
  views, the server's CPU time per login and per repeat view (less noisy on a shared machine),
  the load average at the start; one argon2 verify timed alone.

``--db postgresql+psycopg://HOST/NAME`` runs the same steps on PostgreSQL: the databases are
NAME_township, NAME_county, NAME_ingest, NAME_store, NAME_alone on that server (created through
its ``postgres`` database, dropped after the run unless ``--reuse``); ``database`` says which.

Figures that cannot be measured here (no Chromium, no intake) are printed as null with
a note saying why. ``--scale township`` measures the township only; ``--scale tiny`` runs
every step on a county of a few villages (the smoke test).
"""
from __future__ import annotations

import os

HELP = "generate township and county data and print every performance figure (--json for one object)"

KEYS = ("database", "ingest_rows_per_s", "ingest_with_refresh_rows_per_s", "ingest_vs_store_floor",
        "ingest_vs_pyarrow", "metrics_township_ms", "metrics_county_ms",
        "metrics_county_vs_township", "metrics_township_in_county_vs_alone", "metrics_duckdb_raw_ms", "metrics_pandas_raw_ms",
        "pages_warm_max_s", "pages_cold_max_s", "map_county_bytes", "map_county_render_s",
        "peak_rss_mb", "sessions_20_p95_s")

FLOORS = {  # key: (comparison, limit) as the scale issues state them, at county scale
    "ingest_rows_per_s": (">=", 150_000),
    "metrics_township_in_county_vs_alone": ("<=", 2),
    "metrics_county_ms": ("<=", 200),
    "metrics_county_vs_township": ("<=", 3),
    "pages_warm_max_s": ("<=", 0.5),
    "pages_cold_max_s": ("<=", 3),
    "map_county_bytes": ("<=", 3_000_000),
    "map_county_render_s": ("<=", 3),
    "peak_rss_mb": ("<=", 1536),
    # issue 15: a township's pages on the county server, the county view, 20 sessions
    "pages_township_in_county_warm_max_s": ("<=", 0.3),
    "pages_township_in_county_cold_max_s": ("<=", 1),
    "county_view_warm_s": ("<=", 0.5),
    "sessions_20_p95_s": ("<=", 2),
    # issue 17: 25 users' repeat views of the overview on one process
    "logins_25_repeat_p95_s": ("<=", 2),
}
# per database (issue 15): the SQLite import against its own store's bare insert (the retired
# "<= 10x pyarrow parse" floor), PostgreSQL's import with the aggregate refresh in rows/s
DB_FLOORS = {
    "sqlite": {"ingest_vs_store_floor": ("<=", 1.5)},
    "postgresql": {"ingest_with_refresh_rows_per_s": (">=", 150_000)},
}


def add_arguments(p):
    p.add_argument("--scale", choices=("county", "township", "tiny"), default="county",
                   help="county (default): township and county; township: the demo only; "
                        "tiny: a county of a few villages (smoke test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--workdir", default=None, help="where the databases and CSV go (default: a temp dir)")
    p.add_argument("--reuse", action="store_true",
                   help="reuse databases already in --workdir (same scale and seed) instead of rebuilding")
    p.add_argument("--db", default=None, metavar="URL",
                   help="run on this PostgreSQL server instead of SQLite files: the bench creates its "
                        "databases beside URL's (NAME_county, NAME_ingest, ...) and drops them after "
                        "the run (kept with --reuse)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--year", type=int, default=2025, help="the year whose metrics are timed")
    p.add_argument("--repeat", type=int, default=7, help="timed repetitions (the median is printed)")
    p.add_argument("--sessions", type=int, default=20, help="simultaneous browser sessions")
    p.add_argument("--processes", type=int, default=2,
                   help="streamlit processes behind nginx (deploy/nginx/dashboard.conf) for the "
                        "sessions (1: one process, no proxy; without nginx: one process)")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium figure (map draw time)")
    p.add_argument("--no-server", action="store_true", help="skip streamlit run (sessions, peak RSS)")
    p.add_argument("--login-sessions", type=int, default=25,
                   help="users logging in at once through the form (step logins)")
    p.add_argument("--repeat-views", type=int, default=3, help="overview views after each login")
    p.add_argument("--only", default="", help="comma list of steps: ingest,metrics,pages,map,server,logins")


# ---------------------------------------------------------------- helpers

def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return None if n == 0 else (xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2)


def _pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _r(x, nd=3):
    return None if x is None else round(float(x), nd)


def _log(msg):
    import sys
    import time
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _fresh_sqlite(path) -> str:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass
    return f"sqlite:///{path}"


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


# ---------------------------------------------------------------- data

class _Store:
    """Where the bench's databases live: SQLite files under the workdir, or (``--db URL``)
    databases beside URL's on its PostgreSQL server, named NAME_county, NAME_ingest, ...;
    ``drop`` removes those this run created."""

    def __init__(self, workdir, db_url=None):
        from dashboard.db.engine import normalise_url
        self.workdir = workdir
        self.pg = normalise_url(db_url) if db_url else None
        if self.pg and not self.pg.startswith("postgresql"):
            raise SystemExit(f"--db: a PostgreSQL URL (postgresql+psycopg://...), not {db_url}")
        self.database = "postgresql" if self.pg else "sqlite"
        self.made: list[str] = []

    def url(self, name: str) -> str:
        if not self.pg:
            return f"sqlite:///{self.workdir / (name + '.db')}"
        base, db = self.pg.rsplit("/", 1)
        return f"{base}/{db}_{name}"

    def tag(self) -> str:
        return self.pg or "sqlite"

    def _admin(self):
        import sqlalchemy as sa
        return sa.create_engine(self.pg.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")

    def exists(self, name: str) -> bool:
        if not self.pg:
            return (self.workdir / (name + ".db")).exists()
        import sqlalchemy as sa
        admin = self._admin()
        try:
            with admin.connect() as c:
                return c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                 {"d": self.url(name).rsplit("/", 1)[1]}).first() is not None
        finally:
            admin.dispose()

    def fresh(self, name: str) -> str:
        """An empty database (an existing one of that name is dropped first)."""
        if not self.pg:
            return _fresh_sqlite(self.workdir / (name + ".db"))
        self._drop(name)
        admin = self._admin()
        try:
            with admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{self.url(name).rsplit("/", 1)[1]}"')
        finally:
            admin.dispose()
        self.made.append(name)
        return self.url(name)

    def _drop(self, name: str) -> None:
        import sqlalchemy as sa
        from dashboard.db.engine import dispose_all
        dispose_all()
        db = self.url(name).rsplit("/", 1)[1]
        admin = self._admin()
        try:
            with admin.connect() as c:
                c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": db})
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}"')
        finally:
            admin.dispose()

    def drop(self, name: str | None = None) -> None:
        """Drop one database this run made (SQLite: remove its file), or all of them."""
        if not self.pg:
            if name:
                _fresh_sqlite(self.workdir / (name + ".db"))
            return
        for n in ([name] if name else list(self.made)):
            self._drop(n)
            if n in self.made:
                self.made.remove(n)


def _settle(eng) -> None:
    """After a bulk write: planner statistics (and PostgreSQL's visibility map), WAL folded in."""
    from dashboard.db.dialect import is_sqlite
    if is_sqlite(eng):
        with eng.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.exec_driver_sql("ANALYZE")
    else:
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _township(store):
    from dashboard import demo
    from dashboard.db.engine import migrate
    url = store.fresh("township")   # seconds to build: never reused
    demo.seed_if_empty(migrate(url))
    return url


def _county(store, sizes, seed, reuse, out):
    import json
    import time
    from dashboard import aggregates, scale
    from dashboard.db.engine import migrate, write_txn
    marker = store.workdir / "county.json"
    tag = json.dumps({"sizes": str(sizes), "seed": seed, "db": store.tag()})
    if reuse and marker.exists() and marker.read_text() == tag and store.exists("county"):
        out["county_reused"] = True
        url = store.url("county")
        eng = migrate(url)  # a database from an older revision: upgrade, rebuild stale aggregates
        with eng.connect() as conn:
            fresh = aggregates.is_fresh(conn)
        if not fresh:
            t0 = time.perf_counter()
            with write_txn(eng) as conn:
                aggregates.refresh(conn)
            out["county_refresh_s"] = _r(time.perf_counter() - t0)
        return url
    url = store.fresh("county")
    eng = migrate(url)
    t0 = time.perf_counter()
    c = scale.build(sizes, seed)
    out["county_build_s"] = _r(time.perf_counter() - t0)
    t0 = time.perf_counter()
    with write_txn(eng) as conn:
        scale.write(conn, c, refresh=False)
    out["county_write_s"] = _r(time.perf_counter() - t0)
    out["county_rows"] = c.counts()
    t0 = time.perf_counter()
    with write_txn(eng) as conn:
        aggregates.refresh(conn)
    out["county_refresh_s"] = _r(time.perf_counter() - t0)
    _settle(eng)
    marker.write_text(tag)
    return url


def _alone(store, sizes, seed):
    """The county's first township alone in a database of its own (the same rows): its URL and
    the codes of its villages."""
    from dashboard import scale
    from dashboard.db.engine import migrate, write_txn
    one = scale.township_only(scale.build(sizes, seed), 0)
    eng = migrate(store.fresh("alone"))
    with write_txn(eng) as conn:
        scale.write(conn, one)   # the aggregates refreshed in the same transaction
    _settle(eng)
    return store.url("alone"), [v["code"] for v in one.villages]


# ---------------------------------------------------------------- ingest

def _ingest(store, sizes, seed, out, notes):
    """The county's disputes as one clerk CSV through the real intake (``loaders.import_file``,
    then the aggregate rebuild its callers run after a bulk load), against the same rows
    inserted bare into the same schema (``_store_floor``) and against pyarrow's parse."""
    import io
    import time
    from dashboard import aggregates, scale
    from dashboard.db.engine import migrate, write_txn
    try:
        import loaders
        getattr(loaders, "import_file")
    except (ImportError, AttributeError):
        notes.append("ingest: loaders.import_file (issue 3) not available")
        return
    import pyarrow.csv as pacsv
    c = scale.build(sizes, seed)
    csv_path = store.workdir / "disputes.csv"
    n = scale.write_disputes_csv(csv_path, c)
    data = csv_path.read_bytes()
    eng = migrate(store.fresh("ingest"))
    with write_txn(eng) as conn:
        scale.write(conn, c, ledgers=())
    t0 = time.perf_counter()
    pacsv.read_csv(io.BytesIO(data))
    t_pa = time.perf_counter() - t0
    _log(f"ingest: importing {n:,} rows ({len(data) / 1e6:.0f} MB) through loaders.import_file")
    t0 = time.perf_counter()
    res = loaders.import_file(eng, data, csv_path.name, kind="disputes", username="bench")
    t_in = time.perf_counter() - t0
    if res.errors or res.inserted != n:
        notes.append(f"ingest: import refused or partial: inserted {res.inserted} of {n}, "
                     f"{res.total_errors} errors, first: {res.errors[:1]}")
        out["ingest_errors"] = res.total_errors
        return
    out["ingest_rows"] = n
    out["ingest_bytes"] = len(data)
    out["ingest_s"] = _r(t_in)
    out["pyarrow_parse_s"] = _r(t_pa)
    out["ingest_rows_per_s"] = int(n / t_in)
    out["ingest_vs_pyarrow"] = _r(t_in / t_pa, 2)
    with eng.connect() as conn:
        fresh = aggregates.is_fresh(conn)
    out["ingest_refreshes_aggregates"] = fresh
    # a bulk load commits with them stale; its callers (upload page, CLI) rebuild after
    t_re = aggregates.rebuild_if_stale(eng) or 0.0
    out["ingest_refresh_s"] = _r(t_re)
    out["ingest_with_refresh_s"] = _r(t_in + t_re)
    out["ingest_with_refresh_rows_per_s"] = int(n / (t_in + t_re))
    store.drop("ingest")
    _log(f"ingest: the same {n:,} rows inserted bare into the same schema (the store's floor)")
    t_store = _store_floor(store, c)
    out["ingest_store_floor_s"] = _r(t_store)
    out["ingest_vs_store_floor"] = _r((t_in + t_re) / t_store, 2)
    store.drop("store")


def _store_floor(store, c) -> float:
    """Seconds to insert the county's disputes, already as database values, into a fresh
    database of the same schema the fastest plain way the driver has (sqlite3 executemany,
    psycopg COPY), secondary indexes dropped before and built after, and commit: what the
    store itself costs, with no parsing, validation, bookkeeping or aggregates. SQLite's
    per-row "aggregates dirty" trigger is dropped for the load as the import's bulk path does
    (PostgreSQL's fires once per statement and stays)."""
    import time
    import sqlalchemy as sa
    from dashboard import scale
    from dashboard.db import schema as S
    from dashboard.db.engine import migrate, write_txn
    from dashboard.db.dialect import is_sqlite
    from loaders.ingest import _agg_triggers
    eng = migrate(store.fresh("store"))
    with write_txn(eng) as conn:
        scale.write(conn, c, ledgers=())
        vid, gid = scale.place_ids(conn, c)
        bid = conn.execute(sa.select(sa.func.max(S.import_batch.c.id))).scalar_one()
    table, cols, rows = scale.ledger_rows(c, "disputes", vid, gid, bid)
    indexes = [ix for ix in table.indexes if not ix.unique]
    t0 = time.perf_counter()
    with write_txn(eng) as conn:
        triggers = _agg_triggers(conn, table.name) if is_sqlite(conn) else []
        for name, _ in triggers:
            conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        for ix in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{ix.name}"')
        scale._bulk(conn, table, cols, rows)
        for ix in indexes:
            ix.create(conn)
        for _, q in triggers:
            conn.exec_driver_sql(q)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- metrics

def _time_compute(url, period, repeat, village_ids=None):
    import time
    from dashboard import aggregates, metrics
    from dashboard.db.engine import get_engine
    eng = get_engine(url)
    with eng.connect() as conn:
        metrics.compute(conn, period, village_ids)  # warm: connection, statement cache, page cache
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = metrics.compute(conn, period, village_ids)
            times.append(time.perf_counter() - t0)
        fetch = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            aggregates.sums(conn, period, village_ids, "village")
            fetch.append(time.perf_counter() - t0)
    return _median(times) * 1000, _median(fetch) * 1000, r


def _time_interleaved(url_a, ids_a, url_b, period, repeat):
    """Median ms of ``metrics.compute`` on two databases (a: of villages ``ids_a``; b: all),
    timed in turn so that a shared machine's load falls on both alike."""
    import time
    from dashboard import metrics
    from dashboard.db.engine import get_engine
    ta, tb = [], []
    with get_engine(url_a).connect() as a, get_engine(url_b).connect() as b:
        metrics.compute(a, period, ids_a)
        metrics.compute(b, period)
        for _ in range(repeat):
            t0 = time.perf_counter()
            metrics.compute(a, period, ids_a)
            ta.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            metrics.compute(b, period)
            tb.append(time.perf_counter() - t0)
    return _median(ta) * 1000, _median(tb) * 1000


def _raw_frames(url):
    import pandas as pd
    if url.startswith("sqlite"):
        import sqlite3
        con = sqlite3.connect(url.split("///", 1)[1])
    else:
        from dashboard.db.engine import get_engine
        con = get_engine(url).connect()
    try:
        d = pd.read_sql_query("SELECT village_id, reported_on, resolved_on, level FROM dispute", con)
        v = pd.read_sql_query("SELECT village_id, held_on, participants, hours, points FROM volunteer_activity", con)
        r = pd.read_sql_query("SELECT village_id, visited_on, voters, suggestions, resolved, referred "
                              "FROM rep_visit", con)
    finally:
        con.close()
    for df, cols in ((d, ("reported_on", "resolved_on")), (v, ("held_on",)), (r, ("visited_on",))):
        for c in cols:
            df[c] = pd.to_datetime(df[c])
    return d, v, r


# The references compute the registry's base sums under their registry names, from the rules'
# definitions (dashboard.rules: the period's bounds, resolved by its end, the overdue boundary,
# the levels within the grid / village): another engine, the same definitions, so a difference is
# a bug in one of the two paths, never a second reading of a rule.
REFERENCE_KEYS = ("disputes_total", "disputes_resolved", "resolved_at_grid", "resolved_in_village",
                  "overdue_open", "disputes_resolved_in_period", "backlog_open", "backlog_overdue",
                  "volunteer_activities", "volunteer_participants", "volunteer_hours", "volunteer_points",
                  "rep_visits", "voters_contacted", "suggestions_collected", "issues_resolved",
                  "issues_referred", "median_days_to_resolve")


def _pandas_base(d, v, r, start, end):
    """The reference figures per village (columns REFERENCE_KEYS) and the township median, in pandas."""
    import pandas as pd
    from dashboard import rules
    s, e, ob = pd.Timestamp(start), pd.Timestamp(end), pd.Timestamp(rules.overdue_before(end))
    x = d[(d.reported_on >= s) & (d.reported_on <= e)]
    res = x.resolved_on.notna() & (x.resolved_on <= e)
    days = (x.resolved_on - x.reported_on).dt.days.where(res)
    f = pd.DataFrame({"village_id": x.village_id, "disputes_total": 1, "disputes_resolved": res,
                      "resolved_at_grid": res & x.level.isin(rules.WITHIN_GRID),
                      "resolved_in_village": res & x.level.isin(rules.WITHIN_VILLAGE),
                      "overdue_open": ~res & (x.reported_on < ob), "median_days_to_resolve": days})
    g = f.groupby("village_id").agg({**{k: "sum" for k in f.columns[1:-1]}, "median_days_to_resolve": "median"})
    y = d[d.reported_on <= e]
    still = y.resolved_on.isna() | (y.resolved_on > e)
    stock = pd.DataFrame({"village_id": y.village_id,
                          "disputes_resolved_in_period": (y.resolved_on >= s) & (y.resolved_on <= e),
                          "backlog_open": still, "backlog_overdue": still & (y.reported_on < ob)})
    a = v[(v.held_on >= s) & (v.held_on <= e)]
    vol = a.assign(h=a.participants * a.hours).groupby("village_id").agg(
        volunteer_activities=("h", "size"), volunteer_participants=("participants", "sum"),
        volunteer_hours=("h", "sum"), volunteer_points=("points", "sum"))
    z = r[(r.visited_on >= s) & (r.visited_on <= e)]
    vis = z.groupby("village_id").agg(
        rep_visits=("voters", "size"), voters_contacted=("voters", "sum"),
        suggestions_collected=("suggestions", "sum"), issues_resolved=("resolved", "sum"),
        issues_referred=("referred", "sum"))
    out = pd.concat([g, stock.groupby("village_id").sum(), vol, vis], axis=1)
    return out, f.median_days_to_resolve.median()


def _duck_sql():
    """The DuckDB references: (per-village SQL with the columns REFERENCE_KEYS, township median SQL)."""
    from dashboard import rules
    from dashboard.db.dialect import literal_list as levels
    per_village = f"""
WITH x AS (
  SELECT village_id, level, reported_on,
         resolved_on IS NOT NULL AND resolved_on <= $e AS res,
         date_diff('day', reported_on, resolved_on) AS days
  FROM dispute WHERE reported_on BETWEEN $s AND $e),
c AS (
  SELECT village_id, count(*) AS disputes_total, count(*) FILTER (WHERE res) AS disputes_resolved,
         count(*) FILTER (WHERE res AND level IN {levels(rules.WITHIN_GRID)}) AS resolved_at_grid,
         count(*) FILTER (WHERE res AND level IN {levels(rules.WITHIN_VILLAGE)}) AS resolved_in_village,
         count(*) FILTER (WHERE NOT res AND reported_on < $ob) AS overdue_open,
         median(days) FILTER (WHERE res) AS median_days_to_resolve
  FROM x GROUP BY village_id),
k AS (
  SELECT village_id,
         count(*) FILTER (WHERE resolved_on BETWEEN $s AND $e) AS disputes_resolved_in_period,
         count(*) FILTER (WHERE resolved_on IS NULL OR resolved_on > $e) AS backlog_open,
         count(*) FILTER (WHERE (resolved_on IS NULL OR resolved_on > $e) AND reported_on < $ob)
           AS backlog_overdue
  FROM dispute WHERE reported_on <= $e GROUP BY village_id),
v AS (
  SELECT village_id, count(*) AS volunteer_activities, sum(participants) AS volunteer_participants,
         sum(participants * hours) AS volunteer_hours, sum(points) AS volunteer_points
  FROM volunteer_activity WHERE held_on BETWEEN $s AND $e GROUP BY village_id),
r AS (
  SELECT village_id, count(*) AS rep_visits, sum(voters) AS voters_contacted,
         sum(suggestions) AS suggestions_collected, sum(resolved) AS issues_resolved,
         sum(referred) AS issues_referred
  FROM rep_visit WHERE visited_on BETWEEN $s AND $e GROUP BY village_id),
ids AS (SELECT village_id FROM c UNION SELECT village_id FROM k UNION SELECT village_id FROM v
        UNION SELECT village_id FROM r)
SELECT ids.village_id, {", ".join(REFERENCE_KEYS)}
FROM ids LEFT JOIN c USING (village_id) LEFT JOIN k USING (village_id) LEFT JOIN v USING (village_id)
     LEFT JOIN r USING (village_id)"""
    town = ("SELECT median(date_diff('day', reported_on, resolved_on)) FROM dispute "
            "WHERE reported_on BETWEEN $s AND $e AND resolved_on <= $e")
    return per_village, town


def _reference_mismatches(ours, ref: dict, town_median) -> list[str]:
    """The figures (REFERENCE_KEYS, per village and for the township) where a reference
    (``{village id: {key: value}}``) differs from ``metrics.compute``'s."""
    import math
    bad = set()

    def same(a, b, tol):
        none_a = a is None or (isinstance(a, float) and math.isnan(a))
        none_b = b is None or (isinstance(b, float) and math.isnan(b))
        if none_a or none_b:
            return none_a and none_b
        return abs(float(a) - float(b)) <= tol

    tw = ours["township"]
    for k in REFERENCE_KEYS:
        med = k == "median_days_to_resolve"
        tol = 0.005 if k == "volunteer_hours" else 1e-9   # ours: hours to 2 decimals
        for vid, figs in ours["villages"].items():
            got = ref.get(vid, {}).get(k)
            if not same(figs[k], got if med else (got or 0), tol):
                bad.add(k)
        total = town_median if med else sum(float(x.get(k) or 0) for x in ref.values())
        if not same(tw[k], total, tol * max(1, len(ref))):
            bad.add(k)
    return sorted(bad)


def _metrics(township_url, county_url, year, repeat, out, notes, alone=None):
    import time
    from dashboard import periods
    p = periods.year(year)
    if alone and county_url:
        import sqlalchemy as sa
        from dashboard.db import schema as S
        from dashboard.db.engine import get_engine
        alone_url, codes = alone
        with get_engine(county_url).connect() as conn:
            vids = sorted(conn.execute(sa.select(S.village.c.id).where(S.village.c.code.in_(codes))).scalars())
        in_county_ms, alone_ms = _time_interleaved(county_url, vids, alone_url, p, max(repeat, 21))
        out["metrics_township_alone_ms"] = _r(alone_ms, 2)
        out["metrics_township_in_county_ms"] = _r(in_county_ms, 2)
        out["metrics_township_in_county_villages"] = len(vids)
        out["metrics_township_in_county_vs_alone"] = _r(in_county_ms / alone_ms, 2)
    if township_url:
        ms, fetch, _ = _time_compute(township_url, p, repeat)
        out["metrics_township_ms"] = _r(ms, 2)
        out["metrics_township_fetch_ms"] = _r(fetch, 2)
    if not county_url:
        return
    ms, fetch, ours = _time_compute(county_url, p, repeat)
    out["metrics_county_ms"] = _r(ms, 2)
    out["metrics_county_fetch_ms"] = _r(fetch, 2)
    if out.get("metrics_township_ms"):
        out["metrics_county_vs_township"] = _r(ms / out["metrics_township_ms"], 2)
    _log("metrics: loading the raw rows into pandas and DuckDB (not timed)")
    d, v, r = _raw_frames(county_url)
    times = []
    for _ in range(max(3, repeat // 2)):
        t0 = time.perf_counter()
        frame, town_median = _pandas_base(d, v, r, p.start, p.end)
        times.append(time.perf_counter() - t0)
    out["metrics_pandas_raw_ms"] = _r(_median(times) * 1000, 2)
    wrong = _reference_mismatches(ours, frame.to_dict("index"), town_median)
    try:
        import duckdb
    except ImportError:
        notes.append("metrics: duckdb not installed (requirements-dev.txt)")
        out["metrics_reference_match"] = not wrong
        return
    from dashboard import rules
    con = duckdb.connect()
    for name, df in (("dispute", d), ("volunteer_activity", v), ("rep_visit", r)):
        con.register("df_view", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM df_view")
        con.unregister("df_view")
    sql, town_sql = _duck_sql()
    params = {"s": p.start, "e": p.end, "ob": rules.overdue_before(p.end)}
    times = []
    for _ in range(max(3, repeat // 2) + 1):
        t0 = time.perf_counter()
        rows = con.execute(sql, params).fetchall()
        town = con.execute(town_sql, {"s": p.start, "e": p.end}).fetchone()[0]
        times.append(time.perf_counter() - t0)
    out["metrics_duckdb_raw_ms"] = _r(_median(times[1:]) * 1000, 2)
    duck = {int(x[0]): dict(zip(REFERENCE_KEYS, x[1:])) for x in rows}
    wrong += [f"duckdb:{k}" for k in _reference_mismatches(ours, duck, town)]
    # the references compute the same figures, per village and for the township: check them all
    out["metrics_reference_match"] = not wrong
    out["metrics_reference_figures"] = len(REFERENCE_KEYS)
    if wrong:
        notes.append(f"metrics: references differ from metrics.compute on {', '.join(wrong)}")
    out["metrics_county_faster_than_duckdb"] = ms < out["metrics_duckdb_raw_ms"]
    con.close()


# ---------------------------------------------------------------- pages

# ---------------------------------------------------------------- map

def _map(url, year, chromium, out, notes):
    from dashboard import periods
    from dashboard.db.engine import get_engine
    try:
        from dashboard import maps
        from dashboard.queries import map as qmap
        getattr(maps, "bench_payload")
    except (ImportError, AttributeError):
        notes.append("map: dashboard.maps.bench_payload (issue 5) not available")
        return
    with get_engine(url).connect() as conn:
        layers = qmap.layers(conn, periods.year(year), "resolution_rate", points=False)
    # no Chromium (or --no-browser): a path that does not exist, so nothing is launched
    r = maps.bench_payload(layers_data=layers, level="grid", metric_key="resolution_rate",
                           chromium_path=chromium or os.devnull + ".no-chromium")
    out["map_county_features"] = r.get("features")
    out["map_county_bytes"] = r.get("bytes")
    out["map_county_html_bytes"] = r.get("html_bytes")
    out["map_county_build_s"] = r.get("build_seconds")
    out["map_county_render_s"] = r.get("render_seconds")
    if r.get("render_seconds") is None:
        notes.append("map: no Chromium, render time not measured")


# ---------------------------------------------------------------- server, sessions, memory


def _start_streamlit(url: str, script: str, auth: str):
    """`streamlit run SCRIPT` on a free loopback port against ``url``: (process, port)."""
    import subprocess
    import sys
    from dashboard.settings import ROOT
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "DASHBOARD_AUTH": auth, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), port

def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(url, n_sessions, out, notes, processes=1, workdir=None):
    """The county's server: ``processes`` ``streamlit run serve.py`` behind nginx as the
    deployment recipe configures it (one process without a proxy when 1, or without nginx);
    each process's first session, then ``n_sessions`` simultaneous sessions on the overview
    through the proxy (each with the route cookie a browser gets), then every page once; the
    processes' resident memory sampled every 50 ms throughout (the largest one's peak)."""
    import asyncio
    import threading
    import time
    from pathlib import Path
    import psutil
    from dashboard import cluster as cl
    from dashboard.ui import nav
    from dashboard.ui.bench import ws_session
    if processes > 1 and cl.nginx_binary() is None:
        notes.append("server: nginx not installed: sessions measured on one process")
        processes = 1
    try:
        if processes > 1:
            c = cl.start(url, processes, Path(workdir or ".") / "nginx", _start_streamlit, _healthy,
                         _free_port)
        else:
            proc, port = _start_streamlit(url, "serve.py", auth="off")
            c = cl.Cluster(port=port, app_ports=[port], processes=[proc])
    except RuntimeError as exc:
        notes.append(f"server: {exc}")
        return
    out["sessions_processes"] = processes
    out["sessions_proxy"] = "nginx" if c.nginx else None
    peak = {"rss": 0, "tree": 0}
    stop = threading.Event()

    def sample():
        ps = [psutil.Process(p.pid) for p in c.processes]
        while not stop.is_set():
            try:
                for p in ps:
                    rss = p.memory_info().rss
                    tree = rss + sum(ch.memory_info().rss for ch in p.children(recursive=True))
                    peak["rss"], peak["tree"] = max(peak["rss"], rss), max(peak["tree"], tree)
            except psutil.Error:
                break
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        if not all(_healthy(p) for p in c.app_ports):
            notes.append("server: streamlit did not answer /_stcore/health")
            return
        time.sleep(0.2)       # a sample or more of the idle processes
        out["server_idle_rss_mb"] = _r(peak["rss"] / 2**20, 1)

        async def through_proxy(page=""):
            cookie = await asyncio.to_thread(cl.route_cookie, c.port) if c.nginx else None
            return await ws_session(c.port, page, cookie=cookie)

        async def drive():
            firsts = [await ws_session(p) for p in c.app_ports]   # each process's first session
            wave = await asyncio.gather(*[through_proxy() for _ in range(n_sessions)])
            pages = {}
            for slug, *_ in nav.available():
                pages[slug] = await through_proxy(slug)
            return firsts, wave, pages

        firsts, wave, pages = asyncio.run(drive())
        times = [t for t, _ in wave]
        out["sessions_first_s"] = _r(max(t for t, _ in firsts))
        out["sessions_n"] = n_sessions
        out["sessions_20_p50_s"] = _r(_pct(times, 0.5))
        out["sessions_20_p95_s"] = _r(_pct(times, 0.95))
        out["sessions_20_max_s"] = _r(max(times))
        out["server_pages_s"] = {k: _r(t) for k, (t, _) in pages.items()}
        errs = sum(e for _, e in wave) + sum(e for _, e in firsts) + sum(e for _, e in pages.values())
        out["server_exceptions"] = errs
        if errs:
            notes.append(f"server: {errs} exceptions shown in sessions")
        if c.nginx:
            c.stop()          # nginx writes a WebSocket's log line when it closes
            out["sessions_served_by"] = cl.served_by(Path(workdir or ".") / "nginx")
    finally:
        stop.set()
        th.join(timeout=2)
        out["peak_rss_mb"] = _r(peak["rss"] / 2**20, 1)
        out["peak_rss_with_children_mb"] = _r(peak["tree"] / 2**20, 1)
        c.stop()


def _healthy(port) -> bool:
    """Wait up to about a minute for a started ``streamlit run`` to answer its health check."""
    import time
    import urllib.request
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _logins(url, n_sessions, repeats, out, notes):
    """``streamlit run serve.py`` with authentication on: ``n_sessions`` users at once each log
    in through the form (ticket → cookie → a new WebSocket, as the browser's reload does) and
    see the overview, then ``repeats`` more views of it. p50/p95 of both; where the time of
    one login goes (argon2 verify) is timed on its own."""
    import asyncio
    import subprocess
    import time
    from dashboard import auth
    from dashboard.db.engine import get_engine, write_txn
    from dashboard.ui.bench import ws_login_session
    password = "bench-password-1"
    names = [f"bench{i:02d}" for i in range(n_sessions)]
    engine = get_engine(url)
    with write_txn(engine) as c:
        for name in names:
            if auth.get_user(c, name) is None:
                auth.create_user(c, name, password, "leader", actor="bench")
        c.execute(sa_delete_throttle())
        pw_hash = auth._row(c, names[0])["password_hash"]
    t0 = time.perf_counter()
    for _ in range(5):
        auth.verify_password(pw_hash, password)
    out["login_argon2_verify_ms"] = _r((time.perf_counter() - t0) / 5 * 1000, 1)
    out["login_argon2_params"] = pw_hash.split("$")[3]
    proc, port = _start_streamlit(url, "serve.py", auth="on")
    try:
        if not _healthy(port):
            notes.append("logins: streamlit did not answer /_stcore/health")
            return
        import psutil
        server = psutil.Process(proc.pid)

        def cpu():
            t = server.cpu_times()
            return t.user + t.system

        out["logins_load"] = _load()
        marks = {"start": cpu()}

        async def drive():
            # phase 1: everyone logs in and sees the overview; phase 2 (once all are in, or
            # failed): everyone views it again; the server's CPU time is read between them
            arrived, all_in = [0], asyncio.Event()

            def arrive():
                arrived[0] += 1
                if arrived[0] == len(names):
                    marks["logged_in"] = cpu()
                    all_in.set()

            async def user(name):
                counted = False

                async def wait_for_all():
                    nonlocal counted
                    counted = True
                    arrive()
                    await all_in.wait()
                try:
                    return await ws_login_session(port, name, password, repeats, before_repeats=wait_for_all)
                finally:
                    if not counted:
                        arrive()
            return await asyncio.gather(*[user(n) for n in names], return_exceptions=True)
        results = asyncio.run(drive())
        marks["end"] = cpu()
        failed = [str(r)[:200] for r in results if isinstance(r, BaseException)]
        ok = [r for r in results if not isinstance(r, BaseException)]
        if failed:
            notes.append(f"logins: {len(failed)} sessions failed: {failed[:3]}")
        first = [f for f, _, _ in ok]
        again = [t for _, ts, _ in ok for t in ts]
        n = n_sessions
        out[f"logins_{n}_first_p50_s"] = _r(_pct(first, 0.5)) if first else None
        out[f"logins_{n}_first_p95_s"] = _r(_pct(first, 0.95)) if first else None
        out[f"logins_{n}_repeat_p50_s"] = _r(_pct(again, 0.5)) if again else None
        out[f"logins_{n}_repeat_p95_s"] = _r(_pct(again, 0.95)) if again else None
        # CPU seconds of the server process (all threads) per login and per repeat view: far
        # less sensitive to other load on the machine than the wall-clock percentiles
        if ok and "logged_in" in marks:
            out["logins_server_cpu_per_login_ms"] = _r((marks["logged_in"] - marks["start"]) / len(ok) * 1000, 1)
            if again:
                out["logins_server_cpu_per_repeat_ms"] = _r((marks["end"] - marks["logged_in"]) / len(again) * 1000, 1)
        out["logins_exceptions"] = sum(e for _, _, e in ok)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def sa_delete_throttle():
    """Forget earlier runs' failed logins (a bench user must never wait)."""
    import sqlalchemy as sa
    from dashboard.db import schema as S
    return sa.delete(S.auth_throttle)


# ---------------------------------------------------------------- run

def run(args) -> int:
    import json
    import tempfile
    import time
    from pathlib import Path
    from dashboard import scale
    t_start = time.perf_counter()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    steps = {s.strip() for s in args.only.split(",") if s.strip()} or {"ingest", "metrics", "pages", "map", "server", "logins"}
    sizes = {"county": scale.COUNTY, "tiny": scale.tiny(), "township": None}[args.scale]
    from dashboard.settings import get
    chromium = None if args.no_browser else get("DASHBOARD_CHROMIUM")
    if chromium and not Path(chromium).exists():
        chromium = None
    out: dict = {k: None for k in KEYS}
    notes: list[str] = []
    store = _Store(workdir, args.db)
    out.update(database=store.database, scale=args.scale, workdir=str(workdir), load_before=_load(),
               cpus=os.cpu_count())
    if sizes is not None:
        out["county_sizes"] = dict(townships=sizes.townships, villages=sizes.villages, grids=sizes.grids,
                                   disputes=sizes.disputes, volunteers=sizes.volunteers, visits=sizes.visits)

    try:
        _steps(args, store, steps, sizes, chromium, out, notes)
    finally:
        if not args.reuse:
            store.drop()
    floors = {**FLOORS, **DB_FLOORS[store.database]}
    out["floors"] = {k: (None if out.get(k) is None else
                         (out[k] >= lim if op == ">=" else out[k] <= lim)) for k, (op, lim) in floors.items()}
    if out.get("metrics_county_faster_than_duckdb") is not None:
        out["floors"]["metrics_county_faster_than_duckdb"] = out["metrics_county_faster_than_duckdb"]
    out["load_after"] = _load()
    out["bench_s"] = _r(time.perf_counter() - t_start, 1)
    out["notes"] = notes
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            print(f"{k:<{width}}  {json.dumps(v, ensure_ascii=False)}")
    return 0


def _steps(args, store, steps, sizes, chromium, out, notes) -> None:
    from dashboard.db.engine import dispose_all
    where = store.pg.rsplit("/", 1)[0] if store.pg else store.workdir
    _log(f"township (demo) and county ({args.scale}) databases ({store.database}) in {where}")
    township_url = _township(store)
    county_url = _county(store, sizes, args.seed, args.reuse, out) if sizes is not None else None
    if county_url is None:
        notes.append("scale township: county figures not measured (run --scale county)")

    if "ingest" in steps and sizes is not None:
        _log("ingest")
        _ingest(store, sizes, args.seed, out, notes)
        out["load_after_ingest"] = _load()
    if "metrics" in steps:
        _log("metrics")
        alone = _alone(store, sizes, args.seed) if county_url else None
        _metrics(township_url, county_url, args.year, args.repeat, out, notes, alone)
        out["load_after_metrics"] = _load()
    if "pages" in steps:
        _log("pages (AppTest)")
        from dashboard.ui.bench import pages as _pages, township_admin
        cold, warm = _pages(township_url, "township", out, notes)
        out["pages_township_cold_max_s"], out["pages_township_warm_max_s"] = cold, warm
        if county_url:
            cold, warm = _pages(county_url, "county", out, notes)
            out["county_view_warm_s"] = out["pages_county_warm_s"].get("county")
            # one township's staff on the county server: every page scoped to their township
            tw = township_admin(county_url)
            out["pages_township_in_county_cold_max_s"], out["pages_township_in_county_warm_max_s"] = \
                _pages(county_url, "township_in_county", out, notes, user=tw)
        out["pages_cold_max_s"], out["pages_warm_max_s"] = cold, warm
        dispose_all()
    if "map" in steps and county_url:
        _log("map")
        _map(county_url, args.year, chromium, out, notes)
    if "server" in steps and not args.no_server:
        _log("server: streamlit run, sessions, memory")
        _server(county_url or township_url, args.sessions, out, notes, args.processes, store.workdir)
    if "logins" in steps and not args.no_server:
        _log(f"logins: streamlit run serve.py, {args.login_sessions} users log in and view the overview")
        _logins(county_url or township_url, args.login_sessions, args.repeat_views, out, notes)
