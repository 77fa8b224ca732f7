"""County-scale data for the benchmark (县级规模): deterministic, vectorised, bulk-written.

``build()`` makes a county of ~20 townships, 500 villages and 5,000 grids that tile it
(the same Voronoi split as the demo township), plus 1,000,000 disputes, 300,000
volunteer activities and 100,000 representative visits over five calendar years.
Ledger rows are generated as numpy columns, never as per-row Python objects, and
written with the DBAPI's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL).
``write_disputes_csv`` writes the same disputes as a clerk's CSV ledger (Chinese
headers, Chinese enumerations) for the intake benchmark.

The same arguments always give the same rows. Sizes are parameters so tests can
run the whole path at a tiny scale.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from shapely import geometry as sg

from dashboard import demo
from dashboard.db import schema as S
from dashboard.db.dialect import big_cache, is_sqlite

COUNTY_CODE = "360122"          # six-digit county prefix of every code below
CENTER = (116.05, 28.60)
START = date(2021, 1, 1)
END = date(2025, 12, 31)
LEVEL_ZH = {"grid": "网格", "village": "村级", "township": "乡镇级", "county": "县级"}
STATUS_ZH = {"received": "未化解", "in_progress": "化解中", "resolved": "已化解"}
CSV_HEADER = ["村（社区）", "区划代码", "所属网格", "案件编号", "纠纷类型", "登记日期", "当事人数",
              "化解状态", "化解日期", "化解层级", "调解人", "来源", "备注"]
TOWN_SYLLABLES = list("东南西北新安永丰长石青白金龙凤桃柳梅竹松兴和平文华")


@dataclass
class Sizes:
    townships: int = 20
    villages: int = 500
    grids: int = 5000
    disputes: int = 1_000_000
    volunteers: int = 300_000
    visits: int = 100_000
    start: date = START
    end: date = END


COUNTY = Sizes()


def tiny() -> Sizes:
    """A few villages and a few thousand rows: the whole path in seconds (tests)."""
    return Sizes(townships=2, villages=6, grids=24, disputes=3000, volunteers=900, visits=300,
                 start=date(2024, 1, 1), end=date(2025, 12, 31))


@dataclass
class County:
    sizes: Sizes
    townships: list[dict] = field(default_factory=list)
    villages: list[dict] = field(default_factory=list)   # name, code, kind, households, ..., township
    grids: list[dict] = field(default_factory=list)      # village (index), code, name, ..., geometry
    disputes: dict = field(default_factory=dict)         # column -> numpy array / list
    volunteers: dict = field(default_factory=dict)
    visits: dict = field(default_factory=dict)

    def counts(self) -> dict:
        return dict(townships=len(self.townships), villages=len(self.villages), grids=len(self.grids),
                    disputes=len(self.disputes["case_no"]), volunteer_activities=len(self.volunteers["activity_no"]),
                    representative_visits=len(self.visits["record_no"]))


def _county_outline(rng, sizes: Sizes) -> sg.Polygon:
    """An irregular county outline; ~60 km across for 500 villages, smaller for fewer."""
    scale = math.sqrt(sizes.villages / 500)
    n = 72
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    base = 1 + 0.15 * np.sin(3 * angles + rng.uniform(0, 6)) + 0.08 * np.sin(7 * angles + rng.uniform(0, 6))
    r = base * (1 + rng.uniform(-0.04, 0.04, n))
    kx = 0.32 * scale / math.cos(math.radians(CENTER[1]))
    ky = 0.25 * scale
    pts = [(CENTER[0] + kx * r[i] * math.cos(a), CENTER[1] + ky * r[i] * math.sin(a))
           for i, a in enumerate(angles)]
    return sg.Polygon(pts).buffer(0)


def _split_even(total: int, parts: int) -> list[int]:
    base = [total // parts] * parts
    for i in range(total - sum(base)):
        base[i] += 1
    return base


def _weighted_dates(rng, n: int, start: date, end: date, season: list[float], weekend: float = 1.0):
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1)
    months = days.astype("datetime64[M]").astype(int) % 12
    w = np.asarray(season)[months]
    if weekend != 1.0:
        dow = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; 5,6 = Sat, Sun
        w = w * np.where(dow >= 5, weekend, 1.0)
    return days[rng.choice(len(days), size=n, p=w / w.sum())]


def _names(rng, n: int) -> np.ndarray:
    pool = np.array([s + g for s in demo.SURNAMES for g in demo.GIVEN])
    return pool[rng.integers(len(pool), size=n)]


def _choice(rng, weighted, n: int) -> np.ndarray:
    names = np.array([k for k, _ in weighted])
    p = np.array([w for _, w in weighted], dtype=float)
    return names[rng.choice(len(names), size=n, p=p / p.sum())]


def build(sizes: Sizes = COUNTY, seed: int = 20260101) -> County:
    """The county: places with polygons and ledger columns (no database needed)."""
    rng = np.random.default_rng(seed)
    c = County(sizes)
    county = _county_outline(rng, sizes)
    tpts = demo._points_in(county, sizes.townships, rng, 0.7)
    tpolys = demo.split(county, tpts)
    v_per_t = _split_even(sizes.villages, sizes.townships)
    g_per_v = _split_even(sizes.grids, sizes.villages)
    vi = 0
    for ti, tpoly in enumerate(tpolys):
        tname = TOWN_SYLLABLES[ti % len(TOWN_SYLLABLES)] + TOWN_SYLLABLES[(ti * 7 + 3) % len(TOWN_SYLLABLES)] + "镇"
        if ti >= len(TOWN_SYLLABLES):
            tname = f"{tname}{ti}"
        tcode = f"{COUNTY_CODE}{100 + ti:03d}000"
        c.townships.append(dict(code=tcode, name=tname, geometry=tpoly))
        vpts = demo._points_in(tpoly, v_per_t[ti], rng, 0.6)
        for j, vpoly in enumerate(demo.split(tpoly, vpts)):
            kind = "community" if j < 2 else "village"
            stem = demo.COMMUNITIES[j % len(demo.COMMUNITIES)] if kind == "community" else \
                demo.VILLAGES[(j - 2) % len(demo.VILLAGES)]
            name = f"{tname[:2]}{stem}" if (j - 2) < len(demo.VILLAGES) else f"{tname[:2]}{j}{stem}"
            hh = int(rng.integers(1500, 3200)) if kind == "community" else int(rng.integers(350, 1400))
            pop = int(hh * rng.uniform(2.6, 3.3))
            c.villages.append(dict(name=name, code=f"{tcode[:9]}{j + 1:03d}", kind=kind, households=hh,
                                   population=pop, party_members=int(pop * rng.uniform(0.035, 0.055)),
                                   township=ti, geometry=vpoly))
            gpts = demo._points_in(vpoly, g_per_v[vi], rng, 0.6)
            hh_g = demo._allocate([rng.uniform(0.7, 1.3) for _ in gpts], hh)
            for k, gp in enumerate(demo.split(vpoly, gpts)):
                c.grids.append(dict(village=vi, code=f"{tcode[:9]}{j + 1:03d}{k + 1:02d}",
                                    name=f"第{k + 1}网格", leader=demo._name(rng),
                                    workers=int(1 + (rng.random() < 0.15)), households=hh_g[k],
                                    geometry=gp))
            vi += 1

    nv = len(c.villages)
    quality = rng.uniform(0.62, 0.98, nv)
    hh = np.array([v["households"] for v in c.villages], dtype=float)
    gfirst = np.zeros(nv, dtype=np.int64)
    gcount = np.zeros(nv, dtype=np.int64)
    for gi, g in enumerate(c.grids):
        if gcount[g["village"]] == 0:
            gfirst[g["village"]] = gi
        gcount[g["village"]] += 1
    reps = np.array([g["geometry"].representative_point().coords[0] for g in c.grids])

    # disputes
    n = sizes.disputes
    w = hh * np.where(quality < 0.8, 1.35, 1.0)
    v = rng.choice(nv, size=n, p=w / w.sum())
    g = gfirst[v] + (rng.random(n) * gcount[v]).astype(np.int64)
    rep = np.sort(_weighted_dates(rng, n, sizes.start, sizes.end, demo.DISPUTE_SEASON))
    v, g = v, g  # rows in date order, villages random
    age = (np.datetime64(sizes.end) - rep).astype(int)
    q = quality[v]
    resolved = rng.random(n) < q * np.minimum(1.0, 0.25 + age / 40)
    dt = np.minimum(np.floor(rng.exponential(4 + (1 - q) * 60)), age).astype(np.int64)
    lv = rng.random(n)
    p_grid = 0.35 + 0.35 * q
    p_vill = p_grid + 0.6 * (1 - p_grid)
    level = np.where(lv < p_grid, "grid", np.where(lv < p_vill, "village",
                     np.where(lv < p_vill + 0.75 * (1 - p_vill), "township", "county")))
    status = np.where(resolved, "resolved", np.where(rng.random(n) < 0.6, "in_progress", "received"))
    has_pt = rng.random(n) < 0.7
    jitter = rng.normal(0, 0.0004, (n, 2))
    years = rep.astype("datetime64[Y]").astype(int) + 1970
    c.disputes = dict(
        case_no=[f"AJ{y}-{i + 1:07d}" for i, y in enumerate(years.tolist())],
        village=v, grid=g,
        category=_choice(rng, demo.DISPUTE_CATEGORIES, n),
        reported_on=rep,
        parties=2 + rng.poisson(0.8, n),
        status=status,
        resolved_on=np.where(resolved, rep + dt, np.datetime64("NaT")),
        level=np.where(resolved, level, None),
        mediator=_names(rng, n),
        source=_choice(rng, demo.SOURCES, n),
        lon=np.where(has_pt, np.round(reps[g, 0] + jitter[:, 0], 6), np.nan),
        lat=np.where(has_pt, np.round(reps[g, 1] + jitter[:, 1], 6), np.nan),
    )

    # volunteer activities
    n = sizes.volunteers
    w = 14 + hh / 100 * 1.2 * quality ** 3
    v = rng.choice(nv, size=n, p=w / w.sum())
    g = gfirst[v] + (rng.random(n) * gcount[v]).astype(np.int64)
    held = np.sort(_weighted_dates(rng, n, sizes.start, sizes.end, demo.VOLUNTEER_SEASON, 1.9))
    part = rng.integers(6, 36, n)
    hours = rng.choice(np.array([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]), n)
    vnames = np.array([x["name"] for x in c.villages])
    teams = np.array(demo.TEAMS)[rng.integers(len(demo.TEAMS), size=n)]
    years = held.astype("datetime64[Y]").astype(int) + 1970
    c.volunteers = dict(
        activity_no=[f"ZY{y}-{i + 1:07d}" for i, y in enumerate(years.tolist())],
        village=v, grid=g, held_on=held,
        team=np.char.add(vnames[v].astype(str), teams.astype(str)),
        category=_choice(rng, demo.ACTIVITY_TYPES, n), participants=part, hours=hours,
        points=np.round(part * hours).astype(np.int64),
        beneficiaries=np.where(rng.random(n) < 0.8, rng.integers(10, 120, n), -1),
    )

    # representative visits
    n = sizes.visits
    v = rng.choice(nv, size=n, p=hh / hh.sum())
    day = np.sort(_weighted_dates(rng, n, sizes.start, sizes.end, [1.0] * 12))
    rtype = _choice(rng, [("party", 14), ("npc", 18), ("cppcc", 7)], n)
    form = _choice(rng, [("home", 0.5), ("station", 0.35), ("forum", 0.15)], n)
    voters = np.where(form == "home", rng.integers(3, 15, n), rng.integers(8, 45, n))
    sugg = rng.binomial(np.maximum(voters // 3, 1), 0.6)
    res = rng.binomial(sugg, 0.55 + 0.35 * quality[v])
    ref = rng.binomial(sugg - res, 0.6)
    years = day.astype("datetime64[Y]").astype(int) + 1970
    c.visits = dict(
        record_no=[f"ZF{y}-{i + 1:07d}" for i, y in enumerate(years.tolist())],
        village=v, rep_name=_names(rng, n), rep_type=rtype, visited_on=day, form=form,
        voters=voters, suggestions=sugg, resolved=res, referred=ref)
    return c


# ---------------------------------------------------------------- writing

def _iso(days: np.ndarray) -> list:
    """datetime64[D] → ISO strings, NaT → None (what SQLAlchemy's SQLite Date stores)."""
    s = np.datetime_as_string(days, unit="D")
    out = s.tolist()
    if np.isnat(days).any():
        for i in np.flatnonzero(np.isnat(days)).tolist():
            out[i] = None
    return out


def _none_nan(a: np.ndarray) -> list:
    out = a.tolist()
    for i in np.flatnonzero(np.isnan(a)).tolist():
        out[i] = None
    return out


def _none_neg(a: np.ndarray) -> list:
    out = a.tolist()
    for i in np.flatnonzero(a < 0).tolist():
        out[i] = None
    return out


def _geo(g) -> str:
    return json.dumps(demo._round_geom(g), separators=(",", ":"))


def _bulk(conn, table: sa.Table, columns: list[str], rows: list[tuple], chunk: int = 200_000) -> None:
    """Insert tuples as fast as the driver allows: sqlite3 executemany, psycopg COPY."""
    raw = conn.connection.driver_connection
    if is_sqlite(conn):
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        with big_cache(conn):
            cur = raw.cursor()
            try:
                for i in range(0, len(rows), chunk):
                    cur.executemany(sql, rows[i:i + chunk])
            finally:
                cur.close()
    else:
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)


def place_ids(conn, c: County) -> tuple[np.ndarray, np.ndarray]:
    """Database ids of the county's villages and grids (by their codes), in ``c``'s order."""
    vcode_id = dict(conn.execute(sa.select(S.village.c.code, S.village.c.id)).all())
    gcode_id = dict(conn.execute(sa.select(S.grid.c.code, S.grid.c.id)).all())
    return (np.array([vcode_id[v["code"]] for v in c.villages], dtype=np.int64),
            np.array([gcode_id[g["code"]] for g in c.grids], dtype=np.int64))


def ledger_rows(c: County, kind: str, vid: np.ndarray, gid: np.ndarray, bid: int) -> tuple[sa.Table, list[str], list[tuple]]:
    """One ledger of the county as database tuples: (table, columns, rows); ``vid``/``gid``
    map the county's village/grid indexes to database ids (``place_ids``)."""
    if kind == "disputes":
        d = c.disputes
        cols = ["case_no", "village_id", "grid_id", "category", "reported_on", "parties", "status",
                "resolved_on", "level", "mediator", "source", "lon", "lat", "batch_id"]
        n = len(d["case_no"])
        return S.dispute, cols, list(zip(
            d["case_no"], vid[d["village"]].tolist(), gid[d["grid"]].tolist(),
            d["category"].tolist(), _iso(d["reported_on"]), d["parties"].tolist(),
            d["status"].tolist(), _iso(d["resolved_on"]), d["level"].tolist(),
            d["mediator"].tolist(), d["source"].tolist(), _none_nan(d["lon"]),
            _none_nan(d["lat"]), [bid] * n))
    if kind == "volunteers":
        a = c.volunteers
        cols = ["activity_no", "village_id", "grid_id", "held_on", "team", "category", "participants",
                "hours", "points", "beneficiaries", "batch_id"]
        n = len(a["activity_no"])
        return S.volunteer_activity, cols, list(zip(
            a["activity_no"], vid[a["village"]].tolist(), gid[a["grid"]].tolist(),
            _iso(a["held_on"]), a["team"].tolist(), a["category"].tolist(),
            a["participants"].tolist(), a["hours"].tolist(), a["points"].tolist(),
            _none_neg(a["beneficiaries"]), [bid] * n))
    if kind == "visits":
        r = c.visits
        cols = ["record_no", "village_id", "rep_name", "rep_type", "visited_on", "form", "voters",
                "suggestions", "resolved", "referred", "batch_id"]
        n = len(r["record_no"])
        return S.rep_visit, cols, list(zip(
            r["record_no"], vid[r["village"]].tolist(), r["rep_name"].tolist(),
            r["rep_type"].tolist(), _iso(r["visited_on"]), r["form"].tolist(),
            r["voters"].tolist(), r["suggestions"].tolist(), r["resolved"].tolist(),
            r["referred"].tolist(), [bid] * n))
    raise ValueError(kind)


def township_only(c: County, township: int = 0) -> County:
    """The county's township number ``township`` as a county of its own: its villages, their
    grids and ledger rows, the same values (a township alone in its own database)."""
    keep_v = np.array([v["township"] == township for v in c.villages])
    v_new = np.cumsum(keep_v) - 1
    keep_g = np.array([bool(keep_v[g["village"]]) for g in c.grids])
    g_new = np.cumsum(keep_g) - 1
    out = County(c.sizes, [dict(t) for t in c.townships[township:township + 1]])
    out.villages = [dict(v, township=0) for v, k in zip(c.villages, keep_v) if k]
    out.grids = [dict(g, village=int(v_new[g["village"]])) for g, k in zip(c.grids, keep_g) if k]
    for name in ("disputes", "volunteers", "visits"):
        cols = getattr(c, name)
        rows = keep_v[np.asarray(cols["village"])]
        sub = {}
        idx = np.flatnonzero(rows)
        for k, a in cols.items():
            sub[k] = a[idx] if isinstance(a, np.ndarray) else [a[i] for i in idx.tolist()]
        sub["village"] = v_new[sub["village"]]
        if "grid" in sub:
            sub["grid"] = g_new[sub["grid"]]
        setattr(out, name, sub)
    return out


def write(conn, c: County, username: str = "bench", ledgers: tuple[str, ...] = ("disputes", "volunteers", "visits"),
          refresh: bool = True) -> int:
    """Write the county in the caller's transaction; returns the batch id.

    ``ledgers`` picks which ledgers to write (none: just the place registry and
    grids, e.g. to import the disputes CSV into afterwards).
    """
    from dashboard.db.engine import bump_version
    digest = hashlib.sha256(json.dumps(c.counts(), sort_keys=True).encode()).hexdigest()
    bid = conn.execute(sa.insert(S.import_batch).values(
        kind="demo", file_name="scale", sha256=digest, username=username, created_at=datetime.now(),
        rows_read=0, inserted=0).returning(S.import_batch.c.id)).scalar_one()
    tids = []
    for t in c.townships:
        tids.append(conn.execute(sa.insert(S.township).values(
            code=t["code"], name=t["name"], is_demo=False, geometry=_geo(t["geometry"]))
            .returning(S.township.c.id)).scalar_one())
    conn.execute(sa.insert(S.village), [
        dict(township_id=tids[v["township"]], name=v["name"], code=v["code"], kind=v["kind"],
             households=v["households"], population=v["population"], party_members=v["party_members"],
             geometry=_geo(v["geometry"]), batch_id=bid, **demo._bbox(v["geometry"])) for v in c.villages])
    vcode_id = dict(conn.execute(sa.select(S.village.c.code, S.village.c.id)).all())
    vid = np.array([vcode_id[v["code"]] for v in c.villages], dtype=np.int64)
    conn.execute(sa.insert(S.grid), [
        dict(village_id=int(vid[g["village"]]), code=g["code"], name=g["name"], leader=g["leader"],
             workers=g["workers"], households=g["households"], geometry=_geo(g["geometry"]),
             batch_id=bid, **demo._bbox(g["geometry"])) for g in c.grids])
    vid, gid = place_ids(conn, c)
    n_rows = len(c.villages) + len(c.grids)

    for kind in ("disputes", "volunteers", "visits"):
        if kind in ledgers:
            table, cols, rows = ledger_rows(c, kind, vid, gid, bid)
            _bulk(conn, table, cols, rows)
            n_rows += len(rows)
            del rows
    conn.execute(sa.update(S.import_batch).where(S.import_batch.c.id == bid)
                 .values(rows_read=n_rows, inserted=n_rows))
    if refresh:
        from dashboard import aggregates
        aggregates.refresh(conn)
    bump_version(conn)
    return bid


def seed(engine, sizes: Sizes = COUNTY, seed: int = 20260101, **kw) -> County:
    """Build and write a county into an empty, migrated database (one transaction)."""
    from dashboard.db.engine import write_txn
    c = build(sizes, seed)
    with write_txn(engine) as conn:
        write(conn, c, **kw)
    return c


def write_disputes_csv(path, c: County, limit: int | None = None) -> int:
    """The county's disputes as one clerk CSV ledger (UTF-8 with BOM, Chinese headers and values).

    Columns as a county's consolidated 矛盾纠纷排查化解台账 has them: village name and
    statistical code, grid code, case number, category, dates as 2024-03-05,
    Chinese status and level. Returns the number of data rows written.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    d = c.disputes
    n = len(d["case_no"]) if limit is None else min(limit, len(d["case_no"]))
    vnames = np.array([v["name"] for v in c.villages])
    vcodes = np.array([v["code"] for v in c.villages])
    gcodes = np.array([g["code"] for g in c.grids])
    sl = slice(0, n)
    status_zh = np.vectorize(STATUS_ZH.get, otypes=[object])(d["status"][sl])
    lv = d["level"][sl]
    level_zh = np.array([LEVEL_ZH.get(x, "") if x is not None else "" for x in lv.tolist()], dtype=object)
    res = d["resolved_on"][sl]
    table = pa.table({
        CSV_HEADER[0]: vnames[d["village"][sl]],
        CSV_HEADER[1]: vcodes[d["village"][sl]],
        CSV_HEADER[2]: gcodes[d["grid"][sl]],
        CSV_HEADER[3]: pa.array(d["case_no"][:n]),
        CSV_HEADER[4]: d["category"][sl],
        CSV_HEADER[5]: np.datetime_as_string(d["reported_on"][sl], unit="D"),
        CSV_HEADER[6]: d["parties"][sl],
        CSV_HEADER[7]: pa.array(status_zh.tolist()),
        CSV_HEADER[8]: pa.array(np.where(np.isnat(res), "", np.datetime_as_string(res, unit="D")).tolist()),
        CSV_HEADER[9]: pa.array(level_zh.tolist()),
        CSV_HEADER[10]: d["mediator"][sl],
        CSV_HEADER[11]: d["source"][sl],
        CSV_HEADER[12]: pa.array([""] * n),
    })
    with open(path, "wb") as fh:
        fh.write("\ufeff".encode("utf-8"))
        pacsv.write_csv(table, fh, pacsv.WriteOptions(quoting_style="needed"))
    return n
