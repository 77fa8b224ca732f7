"""Shared fixtures.

Database tests run on SQLite by default. With TEST_DATABASE_URL set to a
PostgreSQL URL (CI does this when 127.0.0.1:5432 answers), the same tests run
there: each test gets a fresh schema in that database, and the demo township is
built once per session in a sibling database named <db>_demo<pid>. Each
pytest process works in databases of its own (suffixed with its pid).
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


@pytest.fixture(scope="session")
def _pg_worker_url() -> str:
    # A database of this pytest process's own, beside TEST_DATABASE_URL's, so two test
    # runs on one server (developers in parallel) never drop each other's schema.
    url = _pg_sibling(PG_URL, f"w{os.getpid()}")
    yield url
    _drop_pg(url)


def _drop_pg(url: str) -> None:
    dispose_all()
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
    admin.dispose()


@pytest.fixture
def db_url(tmp_path, request) -> str:
    """URL of an empty, not yet migrated database."""
    if ON_PG:
        url = request.getfixturevalue("_pg_worker_url")
        dispose_all()
        _reset_pg(url)
        return url
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
        url = _pg_sibling(PG_URL, f"demo{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    from dashboard import demo
    eng = migrate(url)
    demo.seed_if_empty(eng)
    yield url
    if ON_PG:
        _drop_pg(url)


@pytest.fixture
def fresh_cache():
    """Cached reads are keyed on (database URL, data version); on PostgreSQL every test's
    database has the same URL and starts at the same version, so a page test starts afresh
    (modules opt in with pytestmark = pytest.mark.usefixtures("fresh_cache"))."""
    import streamlit as st
    st.cache_data.clear()
    yield


@pytest.fixture
def demo_env(demo_url, monkeypatch):
    """The app pointed at the demo township, authentication off (pages run as the session's user)."""
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    return demo_url


@pytest.fixture
def demo_engine(demo_url):
    return get_engine(demo_url)


@pytest.fixture
def demo_copy_url(demo_url, tmp_path) -> str:
    """A private, writable copy of the demo database (SQLite only; PG rebuilds it)."""
    if ON_PG:
        from dashboard import demo
        url = _pg_sibling(PG_URL, f"democopy{os.getpid()}")
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


def pytest_collection_modifyitems(config, items):
    # Anything that drives Chromium is a browser test, whichever file it lives in.
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer:
    """`streamlit run serve.py` (app.py behind the login gate) on a free localhost port, for browser tests."""

    def __init__(self, db_url: str, extra_env: dict | None = None):
        import subprocess
        import time
        import urllib.request
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(ROOT),
               **(extra_env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"),
             "--server.port", str(self.port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


@pytest.fixture
def streamlit_server():
    """Factory: streamlit_server(db_url, extra_env=None) -> StreamlitServer (stopped after the test)."""
    servers = []

    def start(db_url: str, extra_env: dict | None = None) -> StreamlitServer:
        s = StreamlitServer(db_url, extra_env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


BROWSER_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser_page(chromium):
    """A Playwright page in Debian's Chromium; requests leaving localhost are blocked and recorded.

    ``page.external_requests`` lists every blocked URL, so a test can assert it stays empty.
    """
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.external_requests = []

        def guard(route):
            url = route.request.url
            host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost", "[::1]"):
                route.continue_()
            else:
                page.external_requests.append(url)
                route.abort()

        context.route("**/*", guard)
        yield page
        context.close()
        browser.close()


@pytest.fixture(autouse=True)
def _real_main_module():
    """Undo AppTest's leftover ``sys.modules["__main__"]`` (the last script it ran).

    multiprocessing's spawn start method re-runs the parent's __main__ in each child; after
    an AppTest that is a Streamlit page, and the children die before reaching their target.
    """
    saved = sys.modules.get("__main__")
    yield
    if saved is not None and sys.modules.get("__main__") is not saved:
        sys.modules["__main__"] = saved


@pytest.fixture
def downloads(monkeypatch):
    """Every file given to a download button: [(file_name, bytes)]; deferred ones are made now."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    got: list[tuple[str, bytes]] = []
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def rec_add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download:
            got.append((file_name, data))
        return add(self, data, mimetype, coordinates, file_name, is_for_static_download)

    def rec_deferred(self, fn, mimetype, coordinates, file_name=None, **kw):
        got.append((file_name, fn()))
        return add_deferred(self, fn, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add", rec_add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", rec_deferred)
    return got
