"""Concurrent uploads and killed imports (SQLite, and PostgreSQL with TEST_DATABASE_URL).

* 8 clerks upload at once from 8 processes: every row is stored exactly once, every
  batch is recorded, nobody sees "database is locked" (write_txn/run_write wait and retry),
  and the pre-aggregates refreshed by each import still equal the raw rows.
* An import killed with SIGKILL inside its transaction, after its rows were written but
  before the commit, leaves the database exactly as before; re-running it succeeds.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import pytest
import sqlalchemy as sa

from dashboard import aggregates, metrics, periods, scale
from dashboard.db import schema as S
from dashboard.db.engine import dispose_all, get_engine, write_txn

loaders = pytest.importorskip("loaders")
if not hasattr(loaders, "import_file"):  # pragma: no cover
    pytest.skip("the intake (issue 3) has not landed yet", allow_module_level=True)

N_PROCS = 8


@pytest.fixture
def county(engine, tmp_path, db_url):
    """The tiny county's villages and grids, and its disputes as one clerk CSV (not imported)."""
    c = scale.build(scale.tiny(), seed=11)
    with write_txn(engine) as conn:
        scale.write(conn, c, ledgers=())
    path = tmp_path / "all.csv"
    n = scale.write_disputes_csv(path, c)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    dispose_all()  # no pooled connection crosses into the child processes
    return db_url, lines[0], lines[1:], n


def _wire_refresh():
    """Refresh the aggregates in the import's transaction, as the intake does (or will)."""
    from dashboard import aggregates
    from loaders import ingest
    if hasattr(ingest, "_refresh_aggregates"):  # the intake refreshes by itself
        return
    real_bump = ingest.bump_version

    def refresh_then_bump(conn):
        bid = conn.execute(sa.select(sa.func.max(S.import_batch.c.id))).scalar()
        aggregates.refresh_batch(conn, bid)
        real_bump(conn)

    ingest.bump_version = refresh_then_bump


def _upload(url, name, data, barrier, queue):
    try:
        from dashboard.db.engine import get_engine as ge
        import loaders as L
        _wire_refresh()
        barrier.wait(timeout=300)
        t0 = time.perf_counter()
        res = L.import_file(ge(url), data, name, kind="disputes", username=name)
        queue.put(dict(name=name, batch_id=res.batch_id, inserted=res.inserted, refused=res.refused,
                       errors=[str(e) for e in res.errors[:3]], seconds=time.perf_counter() - t0))
    except BaseException:
        # tell the parent at once, with the traceback, instead of leaving it waiting on the queue
        import traceback
        queue.put(dict(name=name, crashed=traceback.format_exc()))
        raise


def test_eight_simultaneous_uploads(county):
    url, header, rows, n = county
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(N_PROCS), ctx.Queue()
    files = [("\ufeff" + "\n".join([header] + rows[i::N_PROCS]) + "\n").encode("utf-8") for i in range(N_PROCS)]
    procs = [ctx.Process(target=_upload, args=(url, f"clerk{i}.csv", files[i], barrier, queue))
             for i in range(N_PROCS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    for r in results:
        assert "crashed" not in r, r["crashed"]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for r in results:
        assert not r["refused"] and not r["errors"], r
        assert "locked" not in repr(r).lower()
        assert r["batch_id"] is not None
    assert sum(r["inserted"] for r in results) == n
    eng = get_engine(url)
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.dispute)).scalar() == n
        dup = conn.execute(sa.select(S.dispute.c.village_id, S.dispute.c.case_no)
                           .group_by(S.dispute.c.village_id, S.dispute.c.case_no)
                           .having(sa.func.count() > 1)).all()
        assert dup == []
        batches = conn.execute(sa.select(S.import_batch.c.file_name, S.import_batch.c.inserted,
                                         S.import_batch.c.state)
                               .where(S.import_batch.c.kind == "disputes")).all()
        assert sorted(b.file_name for b in batches) == sorted(f"clerk{i}.csv" for i in range(N_PROCS))
        assert all(b.state == "applied" for b in batches)
        assert {b.file_name: b.inserted for b in batches} == {r["name"]: r["inserted"] for r in results}
        # the figures are right whichever way they are read
        assert metrics.compute(conn, periods.year(2025))["township"]["disputes_total"] == \
            conn.execute(sa.select(sa.func.count()).select_from(S.dispute)
                         .where(S.dispute.c.reported_on.between(periods.year(2025).start,
                                                                periods.year(2025).end))).scalar()
        # eight overlapping refreshes, one after another: fresh and equal to the raw rows
        assert aggregates.is_fresh(conn)
        assert aggregates.snapshot(conn) == aggregates.recomputed(conn)


def _import_and_hang(url, data, started):
    """Import, but stop dead after the rows are written inside the transaction."""
    from dashboard.db.engine import get_engine as ge
    import loaders as L
    from loaders import ingest
    real = ingest._executemany

    def written_then_hang(*a, **kw):
        real(*a, **kw)
        started.set()
        time.sleep(600)

    ingest._executemany = written_then_hang
    L.import_file(ge(url), data, "killed.csv", kind="disputes", username="killed")


def _state(conn) -> dict:
    return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (S.dispute, S.import_batch, S.batch_change, S.data_version)} | \
        {"version": conn.execute(sa.select(S.data_version.c.version)).scalar()}


def _kill_once_writing(target, url, data) -> None:
    """Run ``target(url, data, started)`` in a fresh process; SIGKILL it once it says it is writing."""
    dispose_all()
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    p = ctx.Process(target=target, args=(url, data, started))
    p.start()
    assert started.wait(timeout=300), "the import never reached its writes"
    os.kill(p.pid, signal.SIGKILL)
    p.join(timeout=30)
    assert p.exitcode == -signal.SIGKILL


def test_import_killed_half_way_leaves_database_as_before(county):
    url, header, rows, n = county
    data = ("\ufeff" + "\n".join([header] + rows) + "\n").encode("utf-8")
    with get_engine(url).connect() as conn:
        before = _state(conn)
    _kill_once_writing(_import_and_hang, url, data)
    eng = get_engine(url)
    with eng.connect() as conn:
        assert _state(conn) == before
    # the lock died with the process: the same file imports cleanly now
    res = loaders.import_file(eng, data, "killed.csv", kind="disputes", username="again")
    assert not res.errors and res.inserted == n, res.errors[:3]
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.dispute)).scalar() == n


def _bulk_import_and_hang(url, data, started):
    """A bulk-path import (thresholds lowered) stopped dead after its rows are in: on SQLite
    the secondary indexes and the aggregates' trigger are dropped at that moment."""
    from dashboard.db.engine import get_engine as ge
    import loaders as L
    from loaders import ingest
    ingest.BULK_ROWS, ingest.REFRESH_MAX_ROWS = 100, 200

    def then_hang(real):
        def run(*a, **kw):
            real(*a, **kw)
            started.set()
            time.sleep(600)
        return run

    ingest._verify_checks = then_hang(ingest._verify_checks)   # SQLite
    ingest._copy_insert = then_hang(ingest._copy_insert)       # PostgreSQL, row by row
    ingest._copy_insert_csv = then_hang(ingest._copy_insert_csv)   # PostgreSQL, one CSV COPY
    L.import_file(ge(url), data, "killed.csv", kind="disputes", username="killed")


def _schema(conn) -> dict:
    insp = sa.inspect(conn)
    out = {"indexes": sorted(i["name"] for i in insp.get_indexes("dispute"))}
    if conn.dialect.name == "sqlite":
        out["triggers"] = sorted(r[0] for r in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    return out


def test_bulk_import_killed_half_way_leaves_database_as_before(county, monkeypatch):
    url, header, rows, n = county
    data = ("\ufeff" + "\n".join([header] + rows) + "\n").encode("utf-8")
    with get_engine(url).connect() as conn:
        before, schema = _state(conn), _schema(conn)
    assert "ix_dispute_reported" in schema["indexes"]
    _kill_once_writing(_bulk_import_and_hang, url, data)
    eng = get_engine(url)
    with eng.connect() as conn:
        assert _state(conn) == before
        assert _schema(conn) == schema          # indexes and triggers back, with the rollback
    from loaders import ingest
    monkeypatch.setattr(ingest, "BULK_ROWS", 100)
    monkeypatch.setattr(ingest, "REFRESH_MAX_ROWS", 200)
    res = loaders.import_file(eng, data, "killed.csv", kind="disputes", username="again")
    assert not res.errors and res.inserted == n, res.errors[:3]
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(S.dispute)).scalar() == n
        assert _schema(conn) == schema
