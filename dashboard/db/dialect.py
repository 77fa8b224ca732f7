"""The SQL that differs between SQLite and PostgreSQL, in one place.

Every piece of dashboard/ and loaders/ that needs a dialect-specific expression (a date's
month number or day, a day difference, a string aggregate, a parameter mark) asks here, so
the two dialects stay in step and a third would be added in one file. Text helpers return
SQL fragments for hand-written statements; ``month_expr`` / ``days_expr`` are SQLAlchemy
expressions. Dates are ISO text in SQLite and ``date`` in PostgreSQL.
"""
from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa


def is_sqlite(conn) -> bool:
    """A connection (or engine) to SQLite."""
    return conn.dialect.name == "sqlite"


def is_postgres(conn) -> bool:
    return conn.dialect.name == "postgresql"


# ---------------------------------------------------------------- text fragments

def ym(conn, col: str) -> str:
    """The month number ``year * 12 + month - 1`` of a date column (2024-01 → 24288)."""
    if is_sqlite(conn):  # ISO text: substr is several times faster than strftime
        return f"(CAST(substr({col}, 1, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER) - 1)"
    return f"(CAST(EXTRACT(YEAR FROM {col}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {col}) AS INTEGER) - 1)"


def day(conn, col: str) -> str:
    """The day of the month of a date column."""
    if is_sqlite(conn):
        return f"CAST(substr({col}, 9, 2) AS INTEGER)"
    return f"CAST(EXTRACT(DAY FROM {col}) AS INTEGER)"


def days(conn, later: str, earlier: str) -> str:
    """Whole days from one date column to another (later − earlier)."""
    if is_sqlite(conn):
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"
    return f"({later} - {earlier})"


def concat(conn, expr: str) -> str:
    """A comma-separated string aggregate. Two of these in one aggregate see the rows in the
    same order (days and counts pair up)."""
    if is_sqlite(conn):
        return f"group_concat({expr}, ',')"
    return f"string_agg({expr}, ',')"


def float_zero(conn) -> str:
    """A floating-point 0 (so a UNION's column is a float on both dialects)."""
    return "CAST(0 AS FLOAT)" if is_sqlite(conn) else "CAST(0 AS DOUBLE PRECISION)"


def mark(conn) -> str:
    """The DB-API parameter mark of the connection's driver (for ``exec_driver_sql``)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def json_text(conn, col: str, key: str) -> str:
    """A JSON text column's top-level ``key`` as text (``before`` of batch_change)."""
    if is_sqlite(conn):
        return f"CAST(json_extract({col}, '$.{key}') AS TEXT)"
    return f"(CAST({col} AS json) ->> '{key}')"


@contextmanager
def big_cache(conn, on: bool = True):
    """For a bulk write or rebuild on SQLite: a 256 MB page cache for the block, so index pages
    stay in memory instead of being re-read for every row (the default 2 MB makes a bulk load
    several times slower). PostgreSQL: 256 MB of work_mem and maintenance_work_mem for the
    block, within the caller's transaction (the default 4 MB makes the aggregate rebuild's
    GROUP BYs spill to disk and index builds sort in passes). Nothing when ``on`` is false."""
    if not on:
        yield
        return
    if is_postgres(conn):
        names = ("work_mem", "maintenance_work_mem")
        q = sa.text("SELECT set_config(:n, :v, true)")
        old = [conn.execute(sa.text("SELECT current_setting(:n)"), {"n": n}).scalar() for n in names]
        for n in names:
            conn.execute(q, {"n": n, "v": "256MB"})
        try:
            yield
        finally:
            for n, v in zip(names, old):
                conn.execute(q, {"n": n, "v": v})
        return
    if not is_sqlite(conn):
        yield
        return
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


def sqlite_indexes(conn, tables) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the non-unique indexes of these SQLite tables, as installed."""
    names = tuple(tables)
    rows = conn.exec_driver_sql(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({', '.join('?' * len(names))}) ORDER BY name", names).all()
    return [(n, q) for n, q in rows if not q.lstrip().upper().startswith("CREATE UNIQUE")]


def _pg_indexes(conn, tables) -> list[tuple[str, str]]:
    """(DROP, CREATE) statements of every index of these PostgreSQL tables, primary keys and
    unique constraints as constraints."""
    rows = conn.execute(sa.text(
        "SELECT t.relname, i.relname, con.conname, pg_get_indexdef(i.oid), pg_get_constraintdef(con.oid) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = i.oid AND con.conrelid = t.oid "
        "WHERE t.relname = ANY(:t) AND t.relnamespace = current_schema()::regnamespace "
        "ORDER BY t.relname, i.relname"), {"t": list(tables)}).all()
    out = []
    for table, index, constraint, indexdef, condef in rows:
        if constraint:
            out.append((f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"',
                        f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {condef}'))
        else:
            out.append((f'DROP INDEX "{index}"', indexdef))
    return out


@contextmanager
def indexes_built_after(conn, tables, on: bool = True):
    """For a bulk fill of these tables in the caller's transaction: their indexes dropped for
    the block and built once at its end, from all the rows (cheaper than adding 700,000 rows
    to each one by one: PostgreSQL's month layer took 7 s with its indexes, 1.6 s without).
    SQLite: the secondary indexes (a primary key is the table's); PostgreSQL: every index,
    primary keys included (re-adding one checks its uniqueness). DDL is transactional on both:
    a failure or a kill restores them. PostgreSQL's DDL locks the tables until commit, so only
    for tables no reader needs meanwhile; SQLite's readers keep their snapshot. Nothing when
    ``on`` is false."""
    if not on or not (is_sqlite(conn) or is_postgres(conn)):
        yield
        return
    if is_sqlite(conn):
        plan = [(f'DROP INDEX "{n}"', q) for n, q in sqlite_indexes(conn, tables)]
    else:
        plan = _pg_indexes(conn, tables)
    for drop, _ in plan:
        conn.exec_driver_sql(drop)
    yield   # on an error the transaction rolls back, indexes and all
    for _, create in plan:
        conn.exec_driver_sql(create)


def literal_list(values) -> str:
    """A list of fixed code values as SQL literals, ``('grid', 'village')`` (never user input)."""
    assert all(str(v).isidentifier() for v in values), values
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def ids(name: str, values) -> tuple[str, dict]:
    """An IN list as named parameters ``(:name_0, …)`` (portable, fine for the sizes we pass);
    ``(NULL)`` for no values: ``x IN (NULL)`` holds for no row (callers write ``col IN {list}``;
    "1 = 0" there made ``IN 1 = 0``, a syntax error, for a township without villages yet).
    Returns (SQL, parameters)."""
    values = sorted(set(int(v) for v in values))
    if not values:
        return "(NULL)", {}
    keys = {f"{name}_{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{k}" for k in keys) + ")", keys


# ---------------------------------------------------------------- SQLAlchemy expressions

def month_expr(conn, col):
    """The 'YYYY-MM' of a date column (for GROUP BY month)."""
    if is_sqlite(conn):
        return sa.func.strftime("%Y-%m", col)
    return sa.func.to_char(col, "YYYY-MM")


def days_expr(conn, later, earlier):
    """Whole days between two date columns (later − earlier)."""
    if is_sqlite(conn):
        return sa.cast(sa.func.julianday(later) - sa.func.julianday(earlier), sa.Integer)
    return later - earlier  # PostgreSQL: date − date is an integer number of days


def in_villages(col, village_ids):
    """WHERE clause: col IN village_ids (bound parameters), or no condition for all villages."""
    return sa.true() if village_ids is None else col.in_(list(village_ids))
