"""Shared fixtures.

Database tests run on SQLite by default. With TEST_DATABASE_URL set to a
PostgreSQL URL (CI does this when 127.0.0.1:5432 answers), the same tests run
there: each test gets a fresh schema in that database, and the demo township is
built once per session in a sibling database named <db>_demo.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.db.engine import dispose_all, get_engine, migrate, normalise_url  # noqa: E402

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
ON_PG = PG_URL.startswith("postgres")
DATA = Path(__file__).resolve().parent / "data"


def _reset_pg(url: str) -> None:
    eng = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        c.exec_driver_sql("CREATE SCHEMA public")
    eng.dispose()


def _pg_sibling(url: str, suffix: str) -> str:
    base, db = normalise_url(url).rsplit("/", 1)
    name = f"{db}_{suffix}"
    admin = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return f"{base}/{name}"


@pytest.fixture
def db_url(tmp_path) -> str:
    """URL of an empty, not yet migrated database."""
    if ON_PG:
        dispose_all()
        _reset_pg(PG_URL)
        return normalise_url(PG_URL)
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db_url):
    """A migrated, empty database."""
    eng = migrate(db_url)
    yield eng
    dispose_all()


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory) -> str:
    """A database holding the demo township, built once per session. Do not write to it."""
    if ON_PG:
        url = _pg_sibling(PG_URL, "demo")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    from dashboard import demo
    eng = migrate(url)
    demo.seed_if_empty(eng)
    return url


@pytest.fixture
def demo_engine(demo_url):
    return get_engine(demo_url)


@pytest.fixture
def demo_copy_url(demo_url, tmp_path) -> str:
    """A private, writable copy of the demo database (SQLite only; PG rebuilds it)."""
    if ON_PG:
        from dashboard import demo
        url = _pg_sibling(PG_URL, "democopy")
        demo.seed_if_empty(migrate(url))
        return url
    src = demo_url.split("///", 1)[1]
    dst = tmp_path / "democopy.db"
    with sa.create_engine(demo_url).connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    shutil.copy(src, dst)
    return f"sqlite:///{dst}"


def chromium_path() -> str | None:
    p = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
    return p if Path(p).exists() else None


@pytest.fixture(scope="session")
def chromium():
    """Path of Debian's Chromium. Skips where absent, except in CI, where it fails."""
    p = chromium_path()
    if p is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium (apt-get install chromium); .ci/run installs it")
        pytest.skip("no Chromium at /usr/bin/chromium: apt-get install chromium fonts-noto-cjk")
    return p
