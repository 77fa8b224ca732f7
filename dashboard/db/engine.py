"""Engine creation, migrations and write transactions.

SQLite: WAL so readers never block the writer, busy_timeout so a second writer
waits instead of failing, foreign keys on, and write transactions started with
BEGIN IMMEDIATE (measured: WAL + busy_timeout alone still fails read-then-write
transactions under concurrent sessions). PostgreSQL goes through psycopg 3.
"""
from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from dashboard import settings
from dashboard.errors import UserError
from dashboard.db import schema

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    # psycopg 3 is the driver we ship; a bare postgresql:// would ask for psycopg2.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_sqlite(engine_or_url) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


class DatabaseMissing(UserError):
    """The SQLite file named by the URL does not exist (a mistyped DATABASE_URL): the app
    refuses it rather than let SQLite create a new, empty database there."""

    def __init__(self, path: str):
        super().__init__("app.error_missing")
        self.path = path

    def __str__(self) -> str:
        return f"no SQLite database at {self.path}"


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL; None for in-memory databases and other engines."""
    if not is_sqlite(url) or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return None if path in ("", ":memory:") or path.startswith("file:") else path


def _read_only_fs(path: str) -> bool:
    import os
    try:
        return bool(os.statvfs(Path(path).parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_only_file(path: str) -> bool:
    """An existing SQLite file this process cannot write (a read-only mount or permissions)."""
    import os
    p = Path(path)
    return p.exists() and (_read_only_fs(path) or not os.access(p, os.W_OK))


def _make_engine(url: str) -> Engine:
    if is_sqlite(url):
        path = sqlite_path(url)
        read_only = bool(path) and _read_only_file(path)
        if read_only:
            # a read-only mount cannot take WAL's -shm file: open it immutable (nothing can change
            # it), a file we may not write read-only; reading pages still works, writes say so
            flags = "mode=ro&immutable=1" if _read_only_fs(path) else "mode=ro"
            url = f"sqlite:///file:{Path(path).resolve()}?{flags}&uri=true"
        elif path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # Take transaction control from pysqlite so we can say BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            if not read_only:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            if not read_only:
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            if conn.get_execution_options().get("sqlite_immediate"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def get_engine(url: str | None = None, create: bool = True) -> Engine:
    """The engine for url (default: DATABASE_URL), made once per URL.

    create=False (the app): a SQLite file that does not exist raises DatabaseMissing instead of
    becoming a new empty database; only ``migrate`` and ``demo`` (create=True) make the file.
    """
    url = normalise_url(url or settings.database_url())
    path = sqlite_path(url)
    if not create and path and not Path(path).exists():
        raise DatabaseMissing(path)
    with _LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _make_engine(url)
        return _ENGINES[url]


def dispose_all() -> None:
    with _LOCK:
        for e in _ENGINES.values():
            e.dispose()
        _ENGINES.clear()


def failure_kind(exc: BaseException) -> str:
    """What a database failure means to a visitor: "disk_full", "read_only", "missing",
    "unavailable" (cannot connect: wrong URL, server down, bad credentials) or "other".

    Reads SQLite's and PostgreSQL's own codes (SQLITE_FULL/SQLITE_READONLY messages,
    SQLSTATE 53100 disk_full, 25006 read_only_sql_transaction, class 08/28/3D) and errno."""
    import errno
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DatabaseMissing):
            return "missing"
        text = str(exc).lower()
        state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None) or ""
        code = getattr(exc, "errno", None)
        if "database or disk is full" in text or state == "53100" or code == errno.ENOSPC \
                or "no space left on device" in text:
            return "disk_full"
        if "readonly database" in text or ("read-only" in text and "transaction" in text) \
                or state == "25006" or code == errno.EROFS:
            return "read_only"
        if state[:2] in ("08", "28", "3D") or isinstance(exc, (sa.exc.ArgumentError,
                                                              sa.exc.NoSuchModuleError)):
            return "unavailable"
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) and (
                "connect" in text or "unable to open database file" in text):
            return "unavailable"
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return "other"


def _locked(exc: Exception) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "deadlock detected" in text or \
        "could not serialize" in text


@contextmanager
def write_txn(engine: Engine, retries: int = 8):
    """A write transaction; on SQLite it holds the write lock from its first statement.

    Use as ``with write_txn(engine) as conn:``. Lock errors at BEGIN are retried
    with back-off so a user never sees "database is locked"; callers that need
    retries around the whole body use :func:`run_write`.
    """
    delay = 0.05
    for attempt in range(retries):
        conn = engine.connect()
        try:
            if is_sqlite(engine):
                conn = conn.execution_options(sqlite_immediate=True)
            conn.begin()
            break
        except sa.exc.OperationalError as exc:
            conn.close()
            if not _locked(exc) or attempt == retries - 1:
                raise
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 2.0)
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def run_write(engine: Engine, fn, retries: int = 8):
    """Run ``fn(conn)`` in a write transaction, retrying the whole of it on lock errors."""
    delay = 0.05
    for attempt in range(retries):
        try:
            with write_txn(engine) as conn:
                return fn(conn)
        except sa.exc.OperationalError as exc:
            if not _locked(exc) or attempt == retries - 1:
                raise
            time.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 2.0)


_LOCAL_WRITES = [0]


def local_writes() -> int:
    """How many times this process has marked the data changed: a reader that keeps the version
    for the length of a page run reads it again once this moves (its own upload, then its table)."""
    return _LOCAL_WRITES[0]


def bump_version(conn) -> None:
    """Mark the data as changed; cached query results keyed on the version expire."""
    _LOCAL_WRITES[0] += 1
    t = schema.data_version
    now = datetime.now()
    res = conn.execute(sa.update(t).where(t.c.id == 1)
                       .values(version=t.c.version + 1, changed_at=now))
    if res.rowcount == 0:
        conn.execute(sa.insert(t).values(id=1, version=1, changed_at=now))


def current_version(engine: Engine) -> int:
    with engine.connect() as conn:
        v = conn.execute(sa.select(schema.data_version.c.version)
                         .where(schema.data_version.c.id == 1)).scalar()
    return int(v or 0)


def version_token(engine: Engine) -> str:
    """The data version with the time it was bumped: a cache key that also tells apart two
    databases at one URL (a test database recreated between tests restarts its counter)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(schema.data_version.c.version, schema.data_version.c.changed_at)
                           .where(schema.data_version.c.id == 1)).first()
    return "0" if row is None else f"{row[0]}@{row[1]}"


def alembic_config(url: str):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str | None = None) -> Engine:
    """Create or upgrade the schema to the newest migration, keeping every row (and create the
    SQLite file if it does not exist yet)."""
    from alembic import command
    engine = get_engine(url, create=True)
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine
