"""Failures reach visitors as a Chinese sentence with a reference number; the details go to the log.

In a real Chromium: a wrong DATABASE_URL (host, port, user and database name must not show), a
mistyped SQLite path (an error, and no new empty file), a database on a read-only mount (the pages
still read). A full disk is a real one (a 2 MB tmpfs) for the classification, then AppTest shows
its sentence. Mounting needs root (CI runs as root); elsewhere those tests skip saying so.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard import settings
from dashboard.db import schema as S
from dashboard.db.engine import DatabaseMissing, dispose_all, failure_kind, get_engine, migrate, write_txn
from dashboard.ui import nav

INTERNALS = ("Traceback", "File \"", ".py", "/work", "/tmp", "sqlalchemy", "psycopg", "OperationalError")


def _page_text(server, page, path="/", wait_for='[data-testid="stAlert"], [data-testid="stMetric"]') -> str:
    page.goto(server.url + path, wait_until="domcontentloaded")
    page.locator(wait_for).first.wait_for(timeout=90_000)
    page.wait_for_timeout(1500)
    return page.inner_text("body")


def _log(server) -> str:
    server.stop()
    return server.proc.stdout.read().decode(errors="replace")


def _assert_no_internals(body: str, *secrets: str) -> None:
    for s in INTERNALS + secrets:
        assert s not in body, (s, body)


def test_wrong_database_url_shows_a_chinese_page_and_logs_the_details(streamlit_server, browser_page):
    url = "postgresql+psycopg://secretuser:secretpw@127.0.0.1:5999/secretdb"
    server = streamlit_server(url, {"DASHBOARD_AUTH": "off"})
    body = _page_text(server, browser_page)
    assert "暂时无法连接数据库" in body and "错误编号" in body, body
    _assert_no_internals(body, "secretuser", "secretpw", "5999", "secretdb", "127.0.0.1")
    log = _log(server)
    assert "Traceback" in log and "5999" in log and "page failed, ref" in log, log[-3000:]
    ref = body.split("错误编号")[1].strip(" ：:，,）)")[:8]
    assert f"ref {ref}" in log, (ref, log[-2000:])


def test_a_mistyped_sqlite_path_is_an_error_not_a_new_database(tmp_path, streamlit_server, browser_page):
    typo = tmp_path / "dashbaord.db"
    server = streamlit_server(f"sqlite:///{typo}", {"DASHBOARD_AUTH": "off"})
    body = _page_text(server, browser_page)
    assert "找不到数据库" in body, body
    _assert_no_internals(body, "dashbaord")
    assert not typo.exists()
    assert "dashbaord.db" in _log(server)


def test_the_app_never_creates_a_sqlite_file_but_migrate_does(tmp_path):
    path = tmp_path / "new" / "x.db"
    with pytest.raises(DatabaseMissing) as exc:
        get_engine(f"sqlite:///{path}", create=False)
    assert failure_kind(exc.value) == "missing" and not path.exists() and not path.parent.exists()
    migrate(f"sqlite:///{path}")
    assert path.exists()
    with get_engine(f"sqlite:///{path}", create=False).connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.village)).scalar() == 0
    dispose_all()


def test_an_empty_database_url_means_the_default(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    assert settings.database_url() == f"sqlite:///{settings.DATA_DIR / 'dashboard.db'}"
    monkeypatch.setenv("DATABASE_URL", "  ")
    assert settings.database_url() == f"sqlite:///{settings.DATA_DIR / 'dashboard.db'}"


def _mount(*args) -> str | None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "mount failed")


@pytest.fixture
def read_only_copy(demo_url, tmp_path):
    if demo_url.startswith("postgres"):
        pytest.skip("a read-only mount is a SQLite matter; PostgreSQL's read-only case is SQLSTATE 25006")
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    with sa.create_engine(demo_url).connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_url.split("///", 1)[1], src / "d.db")
    why = _mount("--bind", str(src), str(ro)) or _mount("-o", "remount,bind,ro", str(ro))
    if why:
        subprocess.run(["umount", str(ro)], capture_output=True)
        pytest.skip(f"needs root to make a read-only bind mount: {why}")
    yield ro / "d.db"
    dispose_all()
    subprocess.run(["umount", str(ro)], capture_output=True)


def test_a_read_only_database_still_serves_read_only_pages(read_only_copy, streamlit_server, browser_page):
    server = streamlit_server(f"sqlite:///{read_only_copy}", {"DASHBOARD_AUTH": "off"})
    body = _page_text(server, browser_page, wait_for='[data-testid="stMetric"]')
    assert "化解率" in body and "受理纠纷" in body, body
    assert "错误编号" not in body and "Traceback" not in body
    body = _page_text(server, browser_page, "/disputes", wait_for='[data-testid="stMetric"]')
    assert "化解率" in body, body
    assert "错误编号" not in body and "Traceback" not in body
    # a write says what happened, and nothing changes
    eng = get_engine(f"sqlite:///{read_only_copy}", create=False)
    with pytest.raises(sa.exc.OperationalError) as exc:
        with write_txn(eng) as c:
            c.execute(sa.update(S.village).values(name="x"))
    assert failure_kind(exc.value) == "read_only"
    assert browser_page.external_requests == []


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    why = _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt))
    if why:
        pytest.skip(f"needs root to mount a 2 MB tmpfs: {why}")
    yield mnt
    dispose_all()
    subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_full_disk_is_recognised_and_nothing_is_written(tiny_disk):
    url = f"sqlite:///{tiny_disk / 'd.db'}"
    eng = migrate(url)
    with write_txn(eng) as c:
        c.execute(sa.insert(S.township).values(code="1", name="镇"))
    filler = tiny_disk / "filler"
    with open(filler, "wb") as f:          # fill the rest of the disk
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    tid = None
    with eng.connect() as c:
        tid = c.execute(sa.select(S.township.c.id)).scalar()
    with pytest.raises(sa.exc.OperationalError) as exc:
        with write_txn(eng) as c:
            for i in range(2000):
                c.execute(sa.insert(S.village).values(township_id=tid, code=f"{i:012d}", name="村" * 90 + str(i),
                                                      kind="village"))
    assert failure_kind(exc.value) == "disk_full", exc.value
    filler.unlink()
    with eng.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(S.village)).scalar() == 0


def _disk_full() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("INSERT INTO village ...", {}, sqlite3.OperationalError("database or disk is full"))


def test_a_full_disk_says_so_in_chinese(demo_url, monkeypatch):
    from dashboard.queries import overview

    def boom(*a, **k):
        raise _disk_full()
    monkeypatch.setattr(overview, "kpis", boom)
    monkeypatch.setenv("DATABASE_URL", demo_url)
    monkeypatch.setenv("DASHBOARD_AUTH", "off")
    at = AppTest.from_file(str(nav.ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("磁盘空间不足，未写入任何数据"), errors
    _assert_no_internals(errors[0])


@pytest.mark.parametrize("exc,kind", [
    (_disk_full(), "disk_full"),
    (OSError(28, "No space left on device"), "disk_full"),
    (sa.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("attempt to write a readonly database")),
     "read_only"),
    (OSError(30, "Read-only file system"), "read_only"),
    (sa.exc.ArgumentError("Could not parse SQLAlchemy URL"), "unavailable"),
    (ValueError("a bug"), "other"),
])
def test_failure_kinds(exc, kind):
    assert failure_kind(exc) == kind


def test_anonymous_cache_clearing_is_refused_an_admin_may(monkeypatch):
    import streamlit as st
    from streamlit.runtime.app_session import AppSession

    from dashboard.ui import server_guard
    monkeypatch.setattr(AppSession, "_handle_clear_cache_request", AppSession._handle_clear_cache_request)
    server_guard.guard_cache_clearing()
    server_guard.guard_cache_clearing()          # idempotent: wrapped once
    calls = []

    @st.cache_data
    def f(x):
        calls.append(x)
        return x

    class Fake:
        def __init__(self, state):
            self._session_state = state

    f(1)
    for state in ({}, {"user": {"role": "leader"}}, {"user": {"role": "clerk"}}, {"user": "admin"}):
        AppSession._handle_clear_cache_request(Fake(dict(state)))
        f(1)
    assert calls == [1]                          # still cached: nobody but an admin cleared it
    admin = {"user": {"role": "admin"}}
    AppSession._handle_clear_cache_request(Fake(admin))
    f(1)
    assert calls == [1, 1] and admin == {}       # cleared (and that session's state, as Streamlit does)
